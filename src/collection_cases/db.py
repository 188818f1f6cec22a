"""Engine, connection dependencies and the declarative Base.

SQLAlchemy defines the schema (ORM classes, Alembic) and owns the connection pool; the CLI and
other cold paths use its Core. Request handlers run hand-written SQL on the psycopg connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import Request
from psycopg import AsyncConnection as PgConnection
from psycopg.rows import dict_row
from psycopg.types.json import set_json_dumps, set_json_loads
from sqlalchemy import MetaData, make_url
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from collection_cases.config import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def normalize_url(url: str, *, driver: str = "psycopg") -> URL:
    """Accept postgres://, postgresql:// and postgresql+<driver>:// alike."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    parsed = make_url(url)
    return parsed.set(drivername=f"postgresql+{driver}")


def create_engine(settings: Settings, url: str | None = None) -> AsyncEngine:
    target = url or settings.database_url
    if not target:
        raise RuntimeError("DATABASE_URL is not set")
    return create_async_engine(
        normalize_url(target),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_recycle=1800,
        connect_args={
            "connect_timeout": settings.db_connect_timeout,
            "options": f"-c statement_timeout={settings.db_statement_timeout_ms}",
            "application_name": "collection-cases",
        },
    )


@asynccontextmanager
async def connection(request: Request) -> AsyncIterator[PgConnection]:
    """A pooled psycopg connection in autocommit mode, for one request.

    Requests run hand-written SQL on the psycopg connection itself: SQLAlchemy's execution
    layer cost more CPU than the database did (see bench/README.md). The pool is still
    SQLAlchemy's; reads are single statements, so autocommit makes each one round trip, and
    writes open an explicit transaction (`conn.transaction()`).
    """
    engine: AsyncEngine = request.app.state.read_engine
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        yield raw.driver_connection


async def fetch_one(conn: PgConnection, sql: str, args: Any) -> dict[str, Any] | None:
    """One row as a dict (or None)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(sql, args)
    return await cur.fetchone()


def configure_json() -> None:
    """jsonb in and out through orjson, for every psycopg connection of the process."""
    set_json_dumps(orjson.dumps)
    set_json_loads(orjson.loads)


# Every tenant query ends its WHERE clause with this, bound from the caller's Principal
# (`principal.scope`), so that no statement can forget the account or the mode.
SCOPE = "account_id = %(account_id)s AND is_test = %(is_test)s"
