"""The psycopg pool, the row helpers, the tenant scope; `Base` (the schema, nothing else).

Every connection the API, the webhook worker and the CLI use comes from one
`psycopg_pool.AsyncConnectionPool` per process (min = max: no connection is opened or closed
under steady load; a bounded wait for one answers 503). SQLAlchemy is kept for what it does
well here, the schema: the ORM classes are the source of truth for Alembic autogenerate and for
the models-vs-migrations drift test. No SQLAlchemy engine runs on a request path (measured:
its execution layer and asyncio pool cost more CPU than the database did; bench/README.md).

Rows are read and written one way: `fetch_one`, `fetch_all`, `fetch_value`, `execute`, each
taking the SQL, its arguments and, for tenant tables, a `Scope`. A statement on a tenant table
(one with `account_id` and `is_test`) writes `{scope}` (or `{scope:alias}`) where the account
and mode condition goes, and the helper renders it from the caller's `Scope`; a tenant statement
run without a scope is refused before it reaches the database (`UnscopedQuery`), so the
condition cannot be forgotten. Cross-tenant housekeeping (the delivery worker's claim, purges,
key lookup by hash) says so with `Unscoped("why")`.
"""

from __future__ import annotations

import asyncio
import functools
import re
import types
from collections.abc import Coroutine, Generator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeAlias

import orjson
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import set_json_dumps, set_json_loads
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import MetaData, make_url
from sqlalchemy.engine import URL
from sqlalchemy.orm import DeclarativeBase

if TYPE_CHECKING:
    from collection_cases.config import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Connection: TypeAlias = AsyncConnection[Any]
Pool: TypeAlias = AsyncConnectionPool[Any]
Row: TypeAlias = dict[str, Any]
Args: TypeAlias = Mapping[str, Any] | Sequence[Any] | None


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Connections ---------------------------------------------------------------------------------


def sqlalchemy_url(url: str, *, driver: str = "psycopg") -> URL:
    """postgres://, postgresql:// and postgresql+<driver>:// alike, as SQLAlchemy wants it
    (Alembic's migrations are the one user)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    return make_url(url).set(drivername=f"postgresql+{driver}")


def conninfo(url: str) -> str:
    """The same URL as libpq (and so psycopg) accepts it: no +driver suffix."""
    return sqlalchemy_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def connection_kwargs(*, connect_timeout: int, statement_timeout_ms: int) -> dict[str, Any]:
    """What every connection of ours is opened with: autocommit (reads are one round trip,
    writes open an explicit transaction), bounded connect and statement times."""
    return {
        "autocommit": True,
        "connect_timeout": connect_timeout,
        "options": f"-c statement_timeout={statement_timeout_ms}",
        "application_name": "collection-cases",
    }


async def open_pool(
    url: str,
    *,
    size: int,
    timeout: float,
    connect_timeout: int = 5,
    statement_timeout_ms: int = 15_000,
    name: str = "collection-cases",
    wait: bool = False,
    reconnect_timeout: float = 10.0,
) -> Pool:
    """An open pool of `size` connections, kept open (min = max).

    A request waits at most `timeout` seconds for a connection (then PoolTimeout, a 503).
    With `wait`, return once every connection is up (the CLI); otherwise connect in the
    background, so a process starts while the database is still coming up.

    A lost connection is replaced in the background with exponential backoff (1, 2, 4, ... s)
    for `reconnect_timeout` seconds; then the pool gives the slot up, and the next request that
    finds no connection starts a new attempt (with the same backoff, within the same bound;
    once one succeeds psycopg_pool grows back to `size`, the slots of a quiet pool as requests
    come). With the library's default of five minutes the backoff outgrew any outage: the
    database back after 20 s, the service answered 503 for 8 s more (after a minute's outage,
    up to a minute more); bounded at 10 s, it serves again within a few seconds. With `wait`
    the attempts go on for at least as long as the open waits.
    """
    configure_json()
    open_timeout = max(timeout, float(connect_timeout))
    pool: Pool = AsyncConnectionPool(
        conninfo(url),
        min_size=size,
        max_size=size,
        timeout=timeout,
        reconnect_timeout=max(reconnect_timeout, open_timeout) if wait else reconnect_timeout,
        name=name,
        kwargs=connection_kwargs(
            connect_timeout=connect_timeout, statement_timeout_ms=statement_timeout_ms
        ),
        open=False,
    )
    await pool.open(wait=wait, timeout=open_timeout)
    return pool


async def open_configured_pool(url: str, settings: Settings, *, size: int, name: str) -> Pool:
    """`open_pool` as the settings configure it (waits, timeouts, reconnection): the API's
    pools and the standalone worker's."""
    return await open_pool(
        url,
        size=size,
        timeout=settings.db_pool_timeout,
        connect_timeout=settings.db_connect_timeout,
        statement_timeout_ms=settings.db_statement_timeout_ms,
        name=name,
        reconnect_timeout=settings.db_reconnect_seconds,
    )


_HELD = "db_connection"


async def hold(pool: Pool, state: MutableMapping[str, Any]) -> Connection:
    """A connection for the rest of one request, given back by `release(state)`
    (RequestContextMiddleware calls it once the response is sent, whatever happened)."""
    conn: Connection = await pool.getconn()
    state[_HELD] = (pool, conn)
    return conn


async def release(state: MutableMapping[str, Any]) -> None:
    """Give back the connection `hold` took for this request, if any (at once: a download
    does so before it streams). A cancelled request still returns its connection.

    `putconn` is started by hand: a connection that comes back idle is returned without it
    ever suspending (the usual case), so nothing can interrupt it and no task is needed. One
    that suspends (a transaction to roll back, the pool's lock taken) goes on in a task of
    its own, shielded, as the whole call used to (a task per request cost more than the
    return itself)."""
    held = state.pop(_HELD, None)
    if held is None:
        return
    returning = held[0].putconn(held[1])
    try:
        waiting = returning.send(None)
    except StopIteration:
        return
    await asyncio.shield(asyncio.ensure_future(_go_on(returning, waiting)))


@types.coroutine
def _go_on(coro: Coroutine[Any, Any, None], waiting: Any) -> Generator[Any, None, None]:
    """Drive on a coroutine started by hand, from where it suspended on `waiting` (what its
    step yielded): the task running this waits for that, then steps the coroutine on (or
    throws into it what the wait raised), as it does with a coroutine of its own."""
    while True:
        try:
            yield waiting
        except BaseException as exc:  # the coroutine's to handle, as in a task
            step = functools.partial(coro.throw, exc)
        else:
            step = functools.partial(coro.send, None)
        try:
            waiting = step()
        except StopIteration:
            return


def configure_json() -> None:
    """jsonb in and out through orjson, for every psycopg connection of the process."""
    set_json_dumps(orjson.dumps)
    set_json_loads(orjson.loads)


# Tenant scope --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scope:
    """One account in one mode: what every tenant query is limited to.

    Bound as `%(account_id)s` and `%(is_test)s`; `{scope}` in a statement renders the
    condition on both (`{scope:d}` on the table aliased `d`).
    """

    account_id: int
    is_test: bool


@dataclass(frozen=True, slots=True)
class Unscoped:
    """A statement that deliberately spans every tenant; `reason` says why."""

    reason: str


class UnscopedQuery(RuntimeError):
    """A tenant table was queried without a Scope: a bug, refused before it runs."""


_SCOPE_MARK = re.compile(r"\{scope(?::(\w+))?\}")
# What is not code: comments and literals (standard, E'' escapes, dollar-quoted). Judged on
# what is left, so a quote in a comment cannot hide a table, nor a commented {scope} count.
_NOT_CODE = re.compile(
    r"--[^\n]*|/\*.*?\*/|\$(\w*)\$.*?\$\1\$|[Ee]'(?:[^'\\]|\\.|'')*'|'(?:[^']|'')*'", re.S
)
_PARAM_OR_MARK = re.compile(r"%\(\w+\)s|\{scope(?::\w+)?\}")
_NAME = re.compile(r'"([^"]+)"|([A-Za-z_][A-Za-z0-9_$]*)')
_INSERT_INTO = re.compile(r'\bINSERT\s+INTO\s+(?:"([^"]+)"|([A-Za-z_][A-Za-z0-9_$.]*))', re.I)


def _code(sql: str) -> str:
    return _NOT_CODE.sub(" ", sql)


def _names(sql: str) -> set[str]:
    """Every name the statement's code mentions (comma joins, subqueries, quoted names...)."""
    code = _PARAM_OR_MARK.sub(" ", _code(sql))
    return {quoted or bare.lower() for quoted, bare in _NAME.findall(code)}


@lru_cache(maxsize=1)
def tenant_tables() -> frozenset[str]:
    """Every table that carries account_id and is_test (read from the schema itself)."""
    from collection_cases import models

    return frozenset(
        name
        for name, table in models.metadata.tables.items()
        if {"account_id", "is_test"} <= set(table.columns.keys())
    )


def _condition(match: re.Match[str]) -> str:
    alias = f"{match.group(1)}." if match.group(1) else ""
    return f"({alias}account_id = %(account_id)s AND {alias}is_test = %(is_test)s)"


@lru_cache(maxsize=4096)
def _render(sql: str, scoped: bool) -> str:
    """The statement as sent, after checking it against the tenant rule (cached per text).

    A statement naming a tenant table needs a Scope, and then must say where it applies:
    `{scope}` (the account and mode condition, in parentheses), or, for an INSERT whose target
    is the only tenant table it names, binding both `%(account_id)s` and `%(is_test)s` (the new
    row's owner). Binding `account_id` alone would leave the mode open, so it does not count.
    One `{scope}` scopes a statement: another tenant table it joins must be tied to the scoped
    rows by keys that carry `account_id` (as every tenant key does: tests/test_tenant_keys.py).
    """
    code = _code(sql)
    touched = _names(sql) & tenant_tables()
    if touched and not scoped:
        raise UnscopedQuery(f"tenant tables {sorted(touched)} queried without a Scope: {sql!r}")
    if scoped and touched and "{scope" not in code:
        target = _INSERT_INTO.search(code)
        into = (target[1] or target[2].rsplit(".", 1)[-1].lower()) if target else None
        binds_owner = "%(account_id)s" in code and "%(is_test)s" in code
        if not (into is not None and touched == {into} and binds_owner):
            raise UnscopedQuery(
                "a scoped statement must use {scope} (an INSERT into the only tenant table it "
                f"names may bind account_id and is_test instead): {sql!r}"
            )
    return _SCOPE_MARK.sub(_condition, sql) if "{scope" in code else sql


def _statement(sql: str, args: Args, scope: Scope | Unscoped | None) -> tuple[str, Args]:
    if isinstance(scope, Scope):
        # A dict, nearly always: its type is checked before the (slower) Mapping ABC.
        if args is not None and type(args) is not dict and not isinstance(args, Mapping):
            raise TypeError("a scoped statement takes named arguments")
        bound = {**(args or {}), "account_id": scope.account_id, "is_test": scope.is_test}
        return _render(sql, True), bound
    if isinstance(scope, Unscoped):
        if "{scope" in sql and "{scope" in _code(sql):  # the cheap test first: a hot path
            raise UnscopedQuery(f"{{scope}} in a statement run Unscoped: {sql!r}")
        return sql, args
    return _render(sql, False), args


# Tracing: a span per statement when the app traces (settings.tracing), else nothing at all.
_tracer: Any = None


def trace_with(tracer: Any) -> None:
    """Give every statement from now on a span (`db SELECT`, ...) from this OpenTelemetry
    tracer (None: no spans again)."""
    global _tracer
    _tracer = tracer


def tracer() -> Any:
    """The tracer in use, or None when the process does not trace."""
    return _tracer


def _span(query: str) -> Any:
    verb = query.lstrip().split(None, 1)[0].upper() if query.strip() else "SQL"
    return _tracer.start_as_current_span(
        f"db {verb}",
        kind=_SPAN_CLIENT,
        attributes={"db.system": "postgresql", "db.statement": query[:2000]},
    )


_SPAN_CLIENT: Any = None
try:
    from opentelemetry.trace import SpanKind

    _SPAN_CLIENT = SpanKind.CLIENT
except ImportError:  # pragma: no cover - opentelemetry-api comes with FastAPI
    pass


# Row helpers: the one way rows are read and written ------------------------------------------


async def fetch_one(
    conn: Connection, sql: str, args: Args = None, *, scope: Scope | Unscoped | None = None
) -> Row | None:
    """The first row as a dict, or None."""
    query, bound = _statement(sql, args, scope)
    cur = conn.cursor(row_factory=dict_row)
    if _tracer is None:
        await cur.execute(query, bound)
    else:
        with _span(query):
            await cur.execute(query, bound)
    return await cur.fetchone()


async def fetch_all(
    conn: Connection, sql: str, args: Args = None, *, scope: Scope | Unscoped | None = None
) -> list[Row]:
    """Every row, as dicts."""
    query, bound = _statement(sql, args, scope)
    cur = conn.cursor(row_factory=dict_row)
    if _tracer is None:
        await cur.execute(query, bound)
    else:
        with _span(query):
            await cur.execute(query, bound)
    return await cur.fetchall()


async def fetch_value(
    conn: Connection, sql: str, args: Args = None, *, scope: Scope | Unscoped | None = None
) -> Any:
    """The first column of the first row (None when there is no row)."""
    query, bound = _statement(sql, args, scope)
    if _tracer is None:
        cur = await conn.execute(query, bound)
    else:
        with _span(query):
            cur = await conn.execute(query, bound)
    row = await cur.fetchone()
    return None if row is None else row[0]


async def execute(
    conn: Connection, sql: str, args: Args = None, *, scope: Scope | Unscoped | None = None
) -> int:
    """Run a statement; the number of rows it touched."""
    query, bound = _statement(sql, args, scope)
    if _tracer is None:
        cur = await conn.execute(query, bound)
    else:
        with _span(query):
            cur = await conn.execute(query, bound)
    return cur.rowcount
