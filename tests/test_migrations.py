"""Migrations: from empty, concurrently (advisory lock), down and up again."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator

import psycopg
import pytest
from alembic import command
from psycopg import sql
from sqlalchemy.engine import make_url

from collection_cases import migrate


@pytest.fixture
def empty_database(database_url: str) -> Iterator[str]:
    name = f"cc_mig_{secrets.token_hex(4)}"
    admin = make_url(database_url).set(database="postgres", drivername="postgresql")
    admin_dsn = admin.render_as_string(hide_password=False)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_concurrent_upgrades_from_empty_both_succeed(empty_database: str) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate.upgrade(empty_database)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert migrate.current_revision(empty_database) == migrate.head_revision()


def test_downgrade_to_base_and_up_again(empty_database: str) -> None:
    migrate.upgrade(empty_database)
    dsn = make_url(empty_database).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(dsn) as conn:
        partners = conn.execute("SELECT count(*) FROM collection_partners").fetchone()
    assert partners is not None
    assert partners[0] >= 9

    from sqlalchemy import create_engine, pool

    from collection_cases.db import normalize_url

    engine = create_engine(normalize_url(empty_database), poolclass=pool.NullPool)
    with engine.begin() as conn:
        cfg = migrate.alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    engine.dispose()
    with psycopg.connect(dsn) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema='public' "
            "AND table_name <> 'alembic_version'"
        ).fetchone()
    assert tables == (0,)
    migrate.upgrade(empty_database)
    assert migrate.current_revision(empty_database) == migrate.head_revision()


def test_migrations_packaged_in_wheel_config() -> None:
    # The wheel maps migrations/ into collection_cases/migrations (pyproject force-include);
    # script_location() finds either layout.
    location = migrate.script_location()
    assert (location / "env.py").is_file()
    assert list((location / "versions").glob("*.py"))
