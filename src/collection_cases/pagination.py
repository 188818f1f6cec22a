"""Keyset pagination over (created_at, id), newest first, and the list parameters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Query
from sqlalchemy import Row, Select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from collection_cases.errors import InvalidRequestError

MAX_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z


@dataclass(slots=True)
class ListParams:
    limit: int
    starting_after: str | None
    ending_before: str | None
    created_gt: datetime | None
    created_gte: datetime | None
    created_lt: datetime | None
    created_lte: datetime | None


def _ts(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


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
        limit=limit,
        starting_after=starting_after,
        ending_before=ending_before,
        created_gt=_ts(created_gt),
        created_gte=_ts(created_gte),
        created_lt=_ts(created_lt),
        created_lte=_ts(created_lte),
    )


def apply_created(stmt: Select[Any], column: Any, params: ListParams) -> Select[Any]:
    # `created` is shown in whole seconds but stored with microseconds: compare whole seconds,
    # so that filtering on a value a client just read includes (or excludes) that object.
    second = timedelta(seconds=1)
    if params.created_gt is not None:
        stmt = stmt.where(column >= params.created_gt + second)
    if params.created_gte is not None:
        stmt = stmt.where(column >= params.created_gte)
    if params.created_lt is not None:
        stmt = stmt.where(column < params.created_lt)
    if params.created_lte is not None:
        stmt = stmt.where(column < params.created_lte + second)
    return stmt


async def fetch_page(
    conn: AsyncConnection,
    stmt: Select[Any],
    *,
    created: Any,
    id_: Any,
    limit: int,
    after: tuple[Any, Any] | None = None,
    before: tuple[Any, Any] | None = None,
) -> tuple[Sequence[Row[Any]], bool]:
    """One page, newest first, and whether more lie in the direction of travel."""
    key = tuple_(created, id_)
    if before is not None:
        stmt = stmt.where(key > tuple_(*before)).order_by(created.asc(), id_.asc())
    else:
        if after is not None:
            stmt = stmt.where(key < tuple_(*after))
        stmt = stmt.order_by(created.desc(), id_.desc())
    rows = list((await conn.execute(stmt.limit(limit + 1))).all())
    has_more = len(rows) > limit
    del rows[limit:]
    if before is not None:
        rows.reverse()
    return rows, has_more
