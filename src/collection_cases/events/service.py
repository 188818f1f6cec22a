"""Writing events: always inside the transaction that made the change (outbox)."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection as PgConnection
from psycopg.types.json import Jsonb

from collection_cases.accounts.service import Principal
from collection_cases.ids import encode, new_uuid7

_INSERT_SQL = (
    "INSERT INTO events (id, account_id, is_test, type, data, request_id, idempotency_key) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s)"
)


async def record(
    conn: PgConnection,
    principal: Principal,
    type_: str,
    obj: dict[str, Any],
    *,
    previous_attributes: dict[str, Any] | None = None,
    request_id: str | None = None,
    idempotency_key: str | None = None,
) -> str:
    event_id = encode("evt", new_uuid7())
    data = Jsonb({"object": obj, "previous_attributes": previous_attributes})
    await conn.execute(
        _INSERT_SQL,
        (
            event_id,
            principal.account_id,
            principal.is_test,
            type_,
            data,
            request_id,
            idempotency_key,
        ),
    )
    return event_id
