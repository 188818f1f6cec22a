"""Events: written inside the transaction that made the change, with their webhook deliveries
(the outbox); read back through the events API.

Both tables are partitioned by month (events/partitions.py): an event's `created_at` is the
time its UUIDv7 id carries, its deliveries carry that time too (`event_created_at`), and every
statement that goes from one to the other, or looks an event up by id, names it, so the
planner reads the one partition that can hold the row.
"""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from collection_cases import db, ids, versions
from collection_cases.accounts.service import Principal
from collection_cases.errors import not_found
from collection_cases.events import partitions
from collection_cases.events.models import CASE_OF_EVENT
from collection_cases.idempotency.service import current_key
from collection_cases.ids import encode, new_uuid7
from collection_cases.pagination import Listing, ListParams, Page, id_parser, paginate

_INSERT_SQL = (
    "INSERT INTO events (id, account_id, is_test, type, data, request_id, idempotency_key, "
    "created_at) VALUES (%(id)s, %(account_id)s, %(is_test)s, %(type)s, %(data)s, "
    "%(request_id)s, %(idempotency_key)s, %(created_at)s)"
)
# One delivery per enabled endpoint of the same account and mode that wants this type.
# clock_timestamp(), not now(): events of one transaction keep their order per endpoint.
_DELIVERIES_SQL = """
    INSERT INTO webhook_deliveries (id, account_id, is_test, event_id, event_created_at,
                                    endpoint_id, created_at)
    SELECT 'whd_' || replace(gen_random_uuid()::text, '-', ''), account_id, is_test,
           %(id)s, %(created_at)s, id, clock_timestamp()
    FROM webhook_endpoints
    WHERE {scope} AND status = 'enabled'
      AND (enabled_events ? '*' OR enabled_events ? %(type)s OR enabled_events ? %(family)s)
"""
# Enabled endpoints that have not yet acknowledged the event (failed deliveries gave up).
PENDING_WEBHOOKS = """(
    SELECT count(*) FROM webhook_deliveries d
    JOIN webhook_endpoints w ON w.id = d.endpoint_id AND w.account_id = d.account_id
    WHERE d.event_id = events.id AND d.event_created_at = events.created_at
      AND d.account_id = events.account_id AND d.status = 'pending' AND w.status = 'enabled'
) AS pending_webhooks"""
COLUMNS = f"id, type, is_test, data, request_id, idempotency_key, created_at, {PENDING_WEBHOOKS}"
LISTING = Listing(source="events", columns=COLUMNS, kind="event", parse=id_parser("evt"))
# delivery_success: whether every delivery of the event has been acknowledged. Asked of each
# event the list's index yields, in turn (one probe of one partition's index): OFFSET 0 keeps
# the planner from turning it into a join, which costs the probe as if it read every month's
# partition and so sorts all of the account's undelivered rows instead.
_UNDELIVERED = (
    "EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = events.id "
    "AND d.event_created_at = events.created_at AND d.account_id = events.account_id "
    "AND d.status <> 'delivered' OFFSET 0)"
)


async def record(
    conn: db.Connection,
    principal: Principal,
    type_: str,
    obj: dict[str, Any],
    *,
    previous_attributes: dict[str, Any] | None = None,
    request_id: str | None = None,
) -> str:
    """Write an event and its webhook deliveries (the outbox), in the caller's transaction.

    `request_id` is the API request that made the change; None when the partner's side made
    it (test helpers, operator commands), and then the event names no request at all.
    """
    event_id = encode("evt", new_uuid7())
    args = {
        "id": event_id,
        # The id's own time: a lookup by id then knows the event's partition (its month).
        "created_at": partitions.event_time(event_id),
        "type": type_,
        "data": Jsonb({"object": obj, "previous_attributes": previous_attributes}),
        "request_id": request_id,
        "idempotency_key": current_key.get() if request_id is not None else None,
    }
    await db.execute(conn, _INSERT_SQL, args, scope=principal.scope)
    await db.execute(
        conn,
        _DELIVERIES_SQL,
        {**args, "family": type_.split(".", 1)[0] + ".*"},
        scope=principal.scope,
    )
    return event_id


def stored(m: dict[str, Any]) -> dict[str, Any]:
    """An event row in the current shape, before any version renders it."""
    return {
        "id": m["id"],
        "type": m["type"],
        "created": int(m["created_at"].timestamp()),
        "is_test": m["is_test"],
        "data": m["data"],
        "request": {"id": m["request_id"], "idempotency_key": m["idempotency_key"]},
    }


def render(m: dict[str, Any], version: str) -> dict[str, Any]:
    return versions.render_event(stored(m), version, pending_webhooks=m["pending_webhooks"])


async def get_event(
    conn: db.Connection, *, principal: Principal, event_id: str, version: str
) -> dict[str, Any]:
    row = None
    if ids.looks_like("evt", event_id):
        # The month the id names first (one partition); then every month, for a row whose
        # created_at is not its id's time (written before partitioning).
        window = partitions.id_window(event_id)
        if window is not None:
            row = await db.fetch_one(
                conn,
                f"SELECT {COLUMNS} FROM events WHERE id = %(id)s AND {{scope}} "
                "AND created_at >= %(from)s AND created_at < %(to)s",
                {"id": event_id, "from": window[0], "to": window[1]},
                scope=principal.scope,
            )
        if row is None:
            row = await db.fetch_one(
                conn,
                f"SELECT {COLUMNS} FROM events WHERE id = %(id)s AND {{scope}}",
                {"id": event_id},
                scope=principal.scope,
            )
    if row is None:
        raise not_found("event", event_id)
    return render(row, version)


async def list_events(
    conn: db.Connection,
    *,
    principal: Principal,
    params: ListParams,
    types: list[str] | None,
    delivery_success: bool | None = None,
) -> Page:
    where = []
    if types is not None:
        types = list(dict.fromkeys(types))
        # One type: an equality, so that its index yields the page in order; several: each
        # type's own range of that index, the page sorted from what they hold.
        where.append("type = %(type)s" if len(types) == 1 else "type = ANY(%(types)s)")
    if delivery_success is not None:
        where.append(f"NOT {_UNDELIVERED}" if delivery_success else _UNDELIVERED)
    args = {"types": types, "type": types[0] if types else None}
    return await paginate(conn, LISTING, params, scope=principal.scope, where=where, args=args)


_OF_CASE = (
    "SELECT id, type, data, request_id, created_at FROM events "
    f"WHERE {{scope}} AND {CASE_OF_EVENT} = %(case)s "
    "ORDER BY created_at DESC, id DESC LIMIT %(limit)s"
)


async def case_events(
    conn: db.Connection, *, principal: Principal, case_id: str, limit: int = 100
) -> list[db.Row]:
    """The newest events about one case (the case itself, its files, payments and messages),
    newest first: its timeline (ix_events_case)."""
    return await db.fetch_all(
        conn, _OF_CASE, {"case": case_id, "limit": limit}, scope=principal.scope
    )
