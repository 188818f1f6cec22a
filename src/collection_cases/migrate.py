"""Applying migrations: under an advisory lock, from a checkout or an installed wheel."""

from __future__ import annotations

import logging
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, pool, text
from sqlalchemy.exc import OperationalError

from collection_cases.db import sqlalchemy_url
from collection_cases.events.partitions import (
    LOCK_TIMEOUT,
    MAINTENANCE_LOCK_ID,
    PARTITIONED,
    create_statement,
    is_partition,
    kept_ready,
    month_start,
    months,
    partition_name,
)

log = logging.getLogger("collection_cases.partitions")

# Any fixed 64-bit number: every process that migrates takes this lock first.
MIGRATION_LOCK_ID = 0x636F6C6C63617365  # "collcase"


def script_location() -> Path:
    shipped = resources.files("collection_cases") / "migrations"
    if shipped.is_dir():  # installed wheel: migrations/ is packaged inside collection_cases
        return Path(str(shipped))
    checkout = Path(__file__).resolve().parents[2] / "migrations"
    if checkout.is_dir():
        return checkout
    raise RuntimeError("migrations directory not found")


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """What Alembic compares (autogenerate, the drift test): not the monthly partitions of
    events and deliveries, which the housekeeping makes at run time (nor the copies of their
    parent's foreign keys that PostgreSQL keeps per referenced partition)."""
    if type_ == "table":
        return not (name and is_partition(name))
    if type_ == "foreign_key_constraint":
        return not is_partition(obj.referred_table.name)
    if type_ == "index":
        return not is_partition(obj.table.name)
    return True


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location()))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema to `revision`; concurrent callers wait for each other, then no-op."""
    engine = create_engine(sqlalchemy_url(database_url), poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            ensure_partitions(conn)
    finally:
        engine.dispose()


def ensure_partitions(conn: Connection, now: datetime | None = None) -> None:
    """This month's event partitions and the next ones, as the workers' housekeeping makes
    them (`kept_ready`): a process that starts can write events even where no worker ran for
    months. `now` is the database's clock unless given (tests).

    Only missing months are created (an existing one asks for no lock). This month waits for
    its locks as long as it takes: without it no event can be written at all. A month ahead
    waits at most LOCK_TIMEOUT (a `CREATE ... PARTITION OF` queued behind a long reader holds
    every event insert behind it), in a savepoint: if its locks do not come, it and the
    months after it are left to the workers' rounds, and the start goes on."""
    partitioned = conn.execute(
        text("SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass('events')")
    ).scalar()
    if not partitioned:  # a revision before partitioning
        return
    conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MAINTENANCE_LOCK_ID})
    if now is None:
        now = conn.execute(text("SELECT now()")).scalar_one()
    this = month_start(now)
    for month in months(*kept_ready(now)):
        missing = [
            table
            for table in PARTITIONED
            if conn.execute(
                text("SELECT to_regclass(:name)"), {"name": partition_name(table, month)}
            ).scalar()
            is None
        ]
        if not missing:
            continue
        if month <= this:  # this month (or, in its first minute, the one before)
            for table in missing:
                conn.exec_driver_sql(create_statement(table, month))
            continue
        try:
            with conn.begin_nested():
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                for table in missing:
                    conn.exec_driver_sql(create_statement(table, month))
                conn.exec_driver_sql("SET LOCAL lock_timeout TO DEFAULT")
        except OperationalError as exc:
            if not isinstance(exc.orig, psycopg.errors.LockNotAvailable):
                raise
            log.warning(
                "event partitions busy: left to the workers' housekeeping",
                extra={"fields": {"month": f"{month:%Y_%m}"}},
            )
            return


def current_revision(database_url: str) -> str | None:
    engine = create_engine(sqlalchemy_url(database_url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
