"""Migrations: from empty, concurrently (advisory lock), down and up again."""

from __future__ import annotations

import threading

import psycopg
from alembic import command
from sqlalchemy.engine import make_url

from collection_cases import migrate


def test_concurrent_upgrades_from_empty_both_succeed(fresh_database: str) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate.upgrade(fresh_database)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert migrate.current_revision(fresh_database) == migrate.head_revision()


def test_downgrade_to_base_and_up_again(fresh_database: str) -> None:
    migrate.upgrade(fresh_database)
    dsn = make_url(fresh_database).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(dsn) as conn:
        partners = conn.execute("SELECT count(*) FROM collection_partners").fetchone()
    assert partners is not None
    assert partners[0] >= 9

    from sqlalchemy import create_engine, pool

    from collection_cases.db import normalize_url

    engine = create_engine(normalize_url(fresh_database), poolclass=pool.NullPool)
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
    migrate.upgrade(fresh_database)
    assert migrate.current_revision(fresh_database) == migrate.head_revision()


def test_migrations_packaged_in_wheel_config() -> None:
    # The wheel maps migrations/ into collection_cases/migrations (pyproject force-include);
    # script_location() finds either layout.
    location = migrate.script_location()
    assert (location / "env.py").is_file()
    assert list((location / "versions").glob("*.py"))
