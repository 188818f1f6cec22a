"""Events and deliveries written straight into the tables, at any time: what months of
traffic would have left behind (the API writes only at the present time)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


def event_id_at(at: datetime) -> str:
    """An `evt_` id as the service makes it: a UUIDv7 carrying `at` (to the millisecond)."""
    ms = int(at.timestamp() * 1000)
    value = (ms << 80) | (0x7 << 76) | (secrets.randbits(12) << 64) | (0b10 << 62)
    return f"evt_{value | secrets.randbits(62):032x}"


def month(year: int, month: int, day: int = 1, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


async def insert_events(
    conn: AsyncConnection,
    *,
    account_id: int,
    first: datetime,
    count: int,
    step_seconds: float,
    is_test: bool = True,
    types: tuple[str, ...] = ("collection_case.created", "collection_case.updated"),
    endpoint_id: str | None = None,
) -> list[str]:
    """`count` events from `first` on, `step_seconds` apart (types in turn), and, given an
    endpoint, one delivery each (every tenth one failed, the rest delivered). The months they
    fall in must have their partitions."""
    ids = []
    rows = []
    for i in range(count):
        at = datetime.fromtimestamp(first.timestamp() + i * step_seconds, UTC)
        at = at.replace(microsecond=at.microsecond // 1000 * 1000)
        event_id = event_id_at(at)
        ids.append(event_id)
        rows.append({"id": event_id, "at": at, "type": types[i % len(types)], "i": i})
    await conn.execute(
        text(
            "INSERT INTO events (id, account_id, is_test, type, data, created_at) "
            "VALUES (:id, :a, :t, :type, '{\"object\": {}}'::jsonb, :at)"
        ),
        [{**r, "a": account_id, "t": is_test} for r in rows],
    )
    if endpoint_id is not None:
        await conn.execute(
            text(
                "INSERT INTO webhook_deliveries (id, account_id, is_test, event_id, "
                "event_created_at, endpoint_id, status, created_at) "
                "VALUES (:did, :a, :t, :id, :at, :e, :status, :at)"
            ),
            [
                {
                    "did": f"whd_{secrets.token_hex(16)}",
                    "a": account_id,
                    "t": is_test,
                    "id": r["id"],
                    "at": r["at"],
                    "e": endpoint_id,
                    # Never due: nothing here is for a worker to send.
                    "status": "failed" if r["i"] % 10 == 0 else "delivered",
                }
                for r in rows
            ],
        )
    return ids
