"""Keyset pagination over (created_at, id), newest first, and the list parameters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Query
from psycopg import AsyncConnection as PgConnection
from psycopg.rows import dict_row

from collection_cases.errors import InvalidRequestError, printable

MAX_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z


@dataclass(slots=True)
class ListParams:
    limit: int
    starting_after: str | None
    ending_before: str | None
    created_gt: int | None
    created_gte: int | None
    created_lt: int | None
    created_lte: int | None


def list_params(
    limit: Annotated[int, Query(ge=1, le=100, description="1 to 100, default 10")] = 10,
    starting_after: Annotated[
        str | None, Query(max_length=100, description="Object id: the page after it")
    ] = None,
    ending_before: Annotated[
        str | None, Query(max_length=100, description="Object id: the page before it")
    ] = None,
    created_gt: Annotated[int | None, Query(alias="created[gt]", ge=0, le=MAX_TIMESTAMP)] = None,
    created_gte: Annotated[int | None, Query(alias="created[gte]", ge=0, le=MAX_TIMESTAMP)] = None,
    created_lt: Annotated[int | None, Query(alias="created[lt]", ge=0, le=MAX_TIMESTAMP)] = None,
    created_lte: Annotated[int | None, Query(alias="created[lte]", ge=0, le=MAX_TIMESTAMP)] = None,
) -> ListParams:
    if starting_after is not None and ending_before is not None:
        raise InvalidRequestError(
            "starting_after and ending_before cannot both be given.", param="ending_before"
        )
    return ListParams(
        limit, starting_after, ending_before, created_gt, created_gte, created_lt, created_lte
    )


def created_conditions(params: ListParams, where: list[str], args: dict[str, Any]) -> None:
    """Add the created[...] filters.

    `created` is shown in whole seconds but stored with microseconds: compare whole seconds,
    so filtering on a value a client just read includes (or excludes) that very object.
    """

    def at(ts: int) -> datetime:
        return datetime.fromtimestamp(ts, UTC)

    second = timedelta(seconds=1)
    if params.created_gt is not None:
        where.append("created_at >= %(created_gt)s")
        args["created_gt"] = at(params.created_gt) + second
    if params.created_gte is not None:
        where.append("created_at >= %(created_gte)s")
        args["created_gte"] = at(params.created_gte)
    if params.created_lt is not None:
        where.append("created_at < %(created_lt)s")
        args["created_lt"] = at(params.created_lt)
    if params.created_lte is not None:
        where.append("created_at < %(created_lte)s")
        args["created_lte"] = at(params.created_lte) + second


def page_query(
    *,
    select: str,
    where: list[str],
    args: dict[str, Any],
    limit: int,
    after: tuple[Any, Any] | None = None,
    before: tuple[Any, Any] | None = None,
) -> tuple[str, dict[str, Any]]:
    """The SQL of one keyset page (limit + 1 rows, to tell whether there are more).

    `select` is "SELECT ... FROM table"; `where` must already hold the account/mode scope.
    Ordered by (created_at, id) in the direction of travel: the list indexes serve both.
    """
    where = list(where)
    if before is not None:
        where.append("(created_at, id) > (%(cursor_created)s, %(cursor_id)s)")
        args = {**args, "cursor_created": before[0], "cursor_id": before[1]}
        order = "created_at ASC, id ASC"
    else:
        if after is not None:
            where.append("(created_at, id) < (%(cursor_created)s, %(cursor_id)s)")
            args = {**args, "cursor_created": after[0], "cursor_id": after[1]}
        order = "created_at DESC, id DESC"
    # limit is a validated int (1..100): inlined so each page size gets its own plan.
    sql = f"{select} WHERE {' AND '.join(where)} ORDER BY {order} LIMIT {int(limit) + 1}"
    return sql, args


async def fetch_page(
    conn: PgConnection,
    *,
    select: str,
    where: list[str],
    args: dict[str, Any],
    limit: int,
    after: tuple[Any, Any] | None = None,
    before: tuple[Any, Any] | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """One page, newest first, and whether more lie in the direction of travel."""
    sql, args = page_query(
        select=select, where=where, args=args, limit=limit, after=after, before=before
    )
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(sql, args)
    rows = await cur.fetchall()
    has_more = len(rows) > limit
    del rows[limit:]
    if before is not None:
        rows.reverse()
    return rows, has_more


async def cursor_bounds(
    conn: PgConnection,
    params: ListParams,
    *,
    table: str,
    kind: str,
    parse: Callable[[str], Any],
    where: list[str],
    args: dict[str, Any],
) -> tuple[tuple[Any, Any] | None, tuple[Any, Any] | None]:
    """(created_at, id) of starting_after / ending_before, looked up under the list's own
    conditions (`where`: its scope and parent), so a cursor from elsewhere is refused.

    `parse` turns a public id into its stored key, or None when it cannot be one.
    """
    bounds: dict[str, tuple[Any, Any]] = {}
    for attr in ("starting_after", "ending_before"):
        value = getattr(params, attr)
        if value is None:
            continue
        key = parse(value)
        row = None
        if key is not None:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                f"SELECT created_at, id FROM {table} WHERE id = %(cursor_key)s AND "
                + " AND ".join(where),
                {**args, "cursor_key": key},
            )
            row = await cur.fetchone()
        if row is None:
            raise InvalidRequestError(
                f"No such {kind}: '{printable(value)}'", code="resource_not_found", param=attr
            )
        bounds[attr] = (row["created_at"], row["id"])
    return bounds.get("starting_after"), bounds.get("ending_before")


def id_parser(prefix: str) -> Callable[[str], str | None]:
    from collection_cases import ids

    return lambda value: value if ids.looks_like(prefix, value) else None
