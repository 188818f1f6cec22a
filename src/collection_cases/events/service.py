"""Writing events: always inside the transaction that made the change (outbox)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from collection_cases.accounts.service import Principal
from collection_cases.events.models import Event
from collection_cases.ids import encode, new_uuid7


async def record(
    conn: AsyncConnection,
    principal: Principal,
    type_: str,
    obj: dict[str, Any],
    *,
    previous_attributes: dict[str, Any] | None = None,
    request_id: str | None = None,
    idempotency_key: str | None = None,
) -> str:
    event_id = encode("evt", new_uuid7())
    await conn.execute(
        insert(Event).values(
            id=event_id,
            account_id=principal.account_id,
            is_test=principal.is_test,
            type=type_,
            data={"object": obj, "previous_attributes": previous_attributes},
            request_id=request_id,
            idempotency_key=idempotency_key,
        )
    )
    return event_id
