"""Events: written inside the transaction that made the change, with their webhook deliveries
(the outbox); read back through the events API."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from collection_cases import db, ids
from collection_cases.accounts.service import Principal
from collection_cases.errors import not_found
from collection_cases.idempotency.service import current_key
from collection_cases.ids import encode, new_uuid7
from collection_cases.pagination import Listing, ListParams, Page, id_parser, paginate

_INSERT_SQL = (
    "INSERT INTO events (id, account_id, is_test, type, data, request_id, idempotency_key) "
    "VALUES (%(id)s, %(account_id)s, %(is_test)s, %(type)s, %(data)s, %(request_id)s, "
    "%(idempotency_key)s)"
)
# One delivery per enabled endpoint of the same account and mode that wants this type.
# clock_timestamp(), not now(): events of one transaction keep their order per endpoint.
_DELIVERIES_SQL = """
    INSERT INTO webhook_deliveries (id, account_id, is_test, event_id, endpoint_id, created_at)
    SELECT 'whd_' || replace(gen_random_uuid()::text, '-', ''), account_id, is_test,
           %(id)s, id, clock_timestamp()
    FROM webhook_endpoints
    WHERE {scope} AND status = 'enabled'
      AND (enabled_events ? '*' OR enabled_events ? %(type)s OR enabled_events ? %(family)s)
"""
COLUMNS = "id, type, is_test, data, request_id, idempotency_key, created_at"
LISTING = Listing(source="events", columns=COLUMNS, kind="event", parse=id_parser("evt"))


async def record(
    conn: db.Connection,
    principal: Principal,
    type_: str,
    obj: dict[str, Any],
    *,
    previous_attributes: dict[str, Any] | None = None,
    request_id: str | None = None,
    idempotency_key: str | None = None,
) -> str:
    event_id = encode("evt", new_uuid7())
    if idempotency_key is None:
        idempotency_key = current_key.get()
    args = {
        "id": event_id,
        "type": type_,
        "data": Jsonb({"object": obj, "previous_attributes": previous_attributes}),
        "request_id": request_id,
        "idempotency_key": idempotency_key,
    }
    await db.execute(conn, _INSERT_SQL, args, scope=principal.scope)
    await db.execute(
        conn,
        _DELIVERIES_SQL,
        {**args, "family": type_.split(".", 1)[0] + ".*"},
        scope=principal.scope,
    )
    return event_id


def render(m: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": m["id"],
        "object": "event",
        "type": m["type"],
        "created": int(m["created_at"].timestamp()),
        "is_test": m["is_test"],
        "data": m["data"],
        "request": {"id": m["request_id"], "idempotency_key": m["idempotency_key"]},
    }


async def get_event(conn: db.Connection, *, principal: Principal, event_id: str) -> dict[str, Any]:
    row = None
    if ids.looks_like("evt", event_id):
        row = await db.fetch_one(
            conn,
            f"SELECT {COLUMNS} FROM events WHERE id = %(id)s AND {{scope}}",
            {"id": event_id},
            scope=principal.scope,
        )
    if row is None:
        raise not_found("event", event_id)
    return render(row)


async def list_events(
    conn: db.Connection, *, principal: Principal, params: ListParams, types: list[str] | None
) -> Page:
    where = [] if types is None else ["type = ANY(%(types)s)"]
    return await paginate(
        conn, LISTING, params, scope=principal.scope, where=where, args={"types": types}
    )
