"""Keyset pagination: the list parameters, one `paginate()` for every list, the envelope.

Every list is ordered by a key that ends in the object's id (newest first by
`(created_at, id)`, or a natural key such as a country code) and paged by comparing with the
key of the cursor object, never with OFFSET: a page deep in millions of rows costs what the
first page costs. A cursor (`starting_after` / `ending_before`) must name an object of the
list the caller reads (its scope and, for nested lists, its parent: the case whose files, the
endpoint whose deliveries), or the answer is 400 `resource_not_found` naming the parameter. It
need not match the filters any more: a case that closed while a client paged through
`status=active` still marks where the next page starts, as on Stripe.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from collection_cases import db, ids
from collection_cases.errors import InvalidRequestError, printable
from collection_cases.query import QueryModel

MAX_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z
T = TypeVar("T")


@dataclass(slots=True)
class ListParams:
    limit: int = 10
    starting_after: str | None = None
    ending_before: str | None = None
    created_gt: int | None = None
    created_gte: int | None = None
    created_lt: int | None = None
    created_lte: int | None = None


_LIMIT = "How many objects to return, 1 to 100 (default 10)."
_AFTER = "An object id from the previous page: return the objects after it."
_BEFORE = "An object id from the next page: return the objects before it."


class _PageQuery(BaseModel):
    """limit, starting_after, ending_before: the parameters every list takes."""

    model_config = ConfigDict(extra="ignore")

    limit: Annotated[int, Field(ge=1, le=100, description=_LIMIT)] = 10
    starting_after: Annotated[str | None, Field(max_length=100, description=_AFTER)] = None
    ending_before: Annotated[str | None, Field(max_length=100, description=_BEFORE)] = None


def _created(op: str, description: str) -> Any:
    return Field(alias=f"created[{op}]", ge=0, le=MAX_TIMESTAMP, description=description)


class _ListQuery(_PageQuery):
    """The page parameters plus the created[...] range, for lists of objects with `created`."""

    created_gt: Annotated[int | None, _created("gt", "Created after this Unix time.")] = None
    created_gte: Annotated[int | None, _created("gte", "Created at or after this Unix time.")] = (
        None
    )
    created_lt: Annotated[int | None, _created("lt", "Created before this Unix time.")] = None
    created_lte: Annotated[int | None, _created("lte", "Created at or before this Unix time.")] = (
        None
    )


def _one_cursor(starting_after: str | None, ending_before: str | None) -> None:
    if starting_after is not None and ending_before is not None:
        raise InvalidRequestError(
            "starting_after and ending_before cannot both be given.", param="ending_before"
        )


def _params(q: _PageQuery) -> ListParams:
    """The page (and, for a `_ListQuery`, the created[...] range) the query asks for."""
    _one_cursor(q.starting_after, q.ending_before)
    return ListParams(**q.model_dump())


# The dependencies of the lists: `page: Annotated[ListParams, Depends(list_params)]`.
page_params: QueryModel[ListParams] = QueryModel(_PageQuery, _params)
list_params: QueryModel[ListParams] = QueryModel(_ListQuery, _params)


def created_conditions(params: ListParams, where: list[str], args: dict[str, Any]) -> None:
    """Add the created[...] filters.

    `created` is shown in whole seconds but stored with microseconds: compare whole seconds,
    so filtering on a value a client just read includes (or excludes) that very object.
    """
    if (
        params.created_gt is None
        and params.created_gte is None
        and params.created_lt is None
        and params.created_lte is None
    ):
        return  # most lists: nothing to add, nothing to build

    def at(ts: int) -> datetime:
        return datetime.fromtimestamp(ts, UTC)

    def after(ts: int) -> datetime:
        # The last second Python can represent has no "next second": past it, nothing was made.
        return at(ts) + second if ts < MAX_TIMESTAMP else datetime.max.replace(tzinfo=UTC)

    second = timedelta(seconds=1)
    if params.created_gt is not None:
        where.append("created_at >= %(created_gt)s")
        args["created_gt"] = after(params.created_gt)
    if params.created_gte is not None:
        where.append("created_at >= %(created_gte)s")
        args["created_gte"] = at(params.created_gte)
    if params.created_lt is not None:
        where.append("created_at < %(created_lt)s")
        args["created_lt"] = at(params.created_lt)
    if params.created_lte is not None:
        where.append("created_at < %(created_lte)s")
        args["created_lte"] = after(params.created_lte)


def id_parser(prefix: str) -> Callable[[str], str | None]:
    """A cursor parser for random ids (`we_...`): the id itself, or None if it cannot be one."""
    return lambda value: value if ids.looks_like(prefix, value) else None


@dataclass(frozen=True, slots=True)
class Listing:
    """How one kind of list is read.

    `source` is a table, or `(SELECT ...) AS name`; `order` is the sort key, whose last column
    identifies an object (the cursor is looked up by it, after `parse` turned the public id
    into the stored value, or None when it cannot be one).
    """

    source: str
    columns: str
    kind: str
    parse: Callable[[str], Any]
    order: tuple[str, ...] = ("created_at", "id")
    descending: bool = True


@dataclass(slots=True)
class Page:
    rows: list[db.Row]
    has_more: bool

    def envelope(self, render: Callable[[db.Row], Any], url: str) -> dict[str, Any]:
        return list_object([render(r) for r in self.rows], has_more=self.has_more, url=url)


def list_object(data: list[Any], *, has_more: bool, url: str) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


async def paginate(
    conn: db.Connection,
    listing: Listing,
    params: ListParams,
    *,
    scope: db.Scope | None,
    parent: Sequence[str] = (),
    where: Sequence[str] = (),
    args: Mapping[str, Any] | None = None,
) -> Page:
    """One page of `listing` under `scope`, the nested list's `parent` conditions and the
    filters (`where`); the cursor is looked up under the scope and parent only."""
    membership = ["{scope}"] if scope is not None else []
    membership += parent
    conditions = [*membership, *where]
    bound = dict(args or {})
    created_conditions(params, conditions, bound)
    key = ", ".join(listing.order)
    cursor_attr = "ending_before" if params.ending_before is not None else "starting_after"
    cursor_value = getattr(params, cursor_attr)
    backwards = params.ending_before is not None
    select = f"SELECT {listing.columns} FROM {listing.source}"
    if cursor_value is not None:
        stored = listing.parse(cursor_value)
        found = None
        if stored is not None:
            found = await db.fetch_one(
                conn,
                f"SELECT {key} FROM {listing.source} WHERE {listing.order[-1]} = %(cursor_key)s"
                f" AND {' AND '.join(membership) or 'true'}",
                {**bound, "cursor_key": stored},
                scope=scope,
            )
        if found is None:
            raise InvalidRequestError(
                f"No such {listing.kind}: '{printable(cursor_value)}'",
                code="resource_not_found",
                param=cursor_attr,
            )
        # Past the cursor in the direction of travel.
        forward_is_less = listing.descending != backwards
        marks = ", ".join(f"%(cursor_{i})s" for i in range(len(listing.order)))
        conditions.append(f"({key}) {'<' if forward_is_less else '>'} ({marks})")
        bound.update({f"cursor_{i}": found[column] for i, column in enumerate(listing.order)})
    ascending = listing.descending == backwards
    direction = "ASC" if ascending else "DESC"
    order = ", ".join(f"{column} {direction}" for column in listing.order)
    # limit is a validated int (1..100): inlined so each page size gets its own plan.
    sql = (
        f"{select} WHERE {' AND '.join(conditions) or 'true'} ORDER BY {order} "
        f"LIMIT {int(params.limit) + 1}"
    )
    rows = await db.fetch_all(conn, sql, bound, scope=scope)
    has_more = len(rows) > params.limit
    del rows[params.limit :]
    if backwards:
        rows.reverse()
    return Page(rows, has_more)


class ListObject(BaseModel, Generic[T]):
    """A page of objects, newest first (keyset-paginated)."""

    object: Literal["list"] = Field(description='Always "list".')
    data: list[T] = Field(description="The objects of this page.")
    has_more: bool = Field(
        description="Whether more objects lie beyond this page in the direction of travel."
    )
    url: str = Field(description="The path this list was read from.", examples=["/v1/..."])
