"""Events: written inside the transaction that made the change, with their webhook deliveries
(the outbox); read back through the events API."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection as PgConnection
from psycopg.types.json import Jsonb

from collection_cases import ids
from collection_cases.accounts.service import Principal
from collection_cases.db import SCOPE, fetch_one
from collection_cases.errors import not_found
from collection_cases.idempotency.service import current_key
from collection_cases.ids import encode, new_uuid7
from collection_cases.pagination import (
    ListParams,
    created_conditions,
    cursor_bounds,
    fetch_page,
    id_parser,
)

_INSERT_SQL = (
    "INSERT INTO events (id, account_id, is_test, type, data, request_id, idempotency_key) "
    "VALUES (%(id)s, %(account_id)s, %(is_test)s, %(type)s, %(data)s, %(request_id)s, "
    "%(idempotency_key)s)"
)
# One delivery per enabled endpoint of the same account and mode that wants this type.
# clock_timestamp(), not now(): events of one transaction keep their order per endpoint.
_DELIVERIES_SQL = f"""
    INSERT INTO webhook_deliveries (id, account_id, is_test, event_id, endpoint_id, created_at)
    SELECT 'whd_' || replace(gen_random_uuid()::text, '-', ''), account_id, is_test,
           %(id)s, id, clock_timestamp()
    FROM webhook_endpoints
    WHERE {SCOPE} AND status = 'enabled'
      AND (enabled_events ? '*' OR enabled_events ? %(type)s OR enabled_events ? %(family)s)
"""
COLUMNS = "id, type, is_test, data, request_id, idempotency_key, created_at"


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
    if idempotency_key is None:
        idempotency_key = current_key.get()
    args = {
        "id": event_id,
        **principal.scope,
        "type": type_,
        "data": Jsonb({"object": obj, "previous_attributes": previous_attributes}),
        "request_id": request_id,
        "idempotency_key": idempotency_key,
    }
    await conn.execute(_INSERT_SQL, args)
    await conn.execute(_DELIVERIES_SQL, {**args, "family": type_.split(".", 1)[0] + ".*"})
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


async def get_event(conn: PgConnection, *, principal: Principal, event_id: str) -> dict[str, Any]:
    row = None
    if ids.looks_like("evt", event_id):
        row = await fetch_one(
            conn,
            f"SELECT {COLUMNS} FROM events WHERE id = %(id)s AND {SCOPE}",
            {"id": event_id, **principal.scope},
        )
    if row is None:
        raise not_found("event", event_id)
    return render(row)


async def list_events(
    conn: PgConnection, *, principal: Principal, params: ListParams, types: list[str] | None
) -> tuple[list[dict[str, Any]], bool]:
    where, args = [SCOPE], dict(principal.scope)
    if types is not None:
        where.append("type = ANY(%(types)s)")
        args["types"] = types
    after, before = await cursor_bounds(
        conn,
        params,
        table="events",
        kind="event",
        parse=id_parser("evt"),
        where=[SCOPE],
        args=dict(principal.scope),
    )
    created_conditions(params, where, args)
    rows, has_more = await fetch_page(
        conn,
        select=f"SELECT {COLUMNS} FROM events",
        where=where,
        args=args,
        limit=params.limit,
        after=after,
        before=before,
    )
    return [render(r) for r in rows], has_more
