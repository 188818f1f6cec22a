"""Engine, connection dependencies and the declarative Base.

Hot paths use SQLAlchemy Core on an AsyncConnection: the ORM's unit of work buys nothing for
single-statement requests and costs most of their CPU. ORM classes still define the schema.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import MetaData, make_url
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
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


async def _write_conn(request: Request) -> AsyncIterator[AsyncConnection]:
    # One transaction per request; committed when the endpoint returns, before the response
    # is sent (scope="function"), so a 201 always means the row is durable.
    engine: AsyncEngine = request.app.state.engine
    async with engine.begin() as conn:
        yield conn


async def _read_conn(request: Request) -> AsyncIterator[AsyncConnection]:
    # Reads are single statements: autocommit saves the BEGIN/COMMIT round trips.
    engine: AsyncEngine = request.app.state.read_engine
    async with engine.connect() as conn:
        yield conn


WriteConn = Annotated[AsyncConnection, Depends(_write_conn, scope="function")]
ReadConn = Annotated[AsyncConnection, Depends(_read_conn, scope="function")]


def scoped(stmt, model, principal):  # type: ignore[no-untyped-def]
    """Restrict a statement to the caller's account and mode: every tenant query goes here."""
    return stmt.where(model.account_id == principal.account_id, model.is_test == principal.is_test)
