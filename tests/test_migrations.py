"""Migrations: from empty, concurrently (advisory lock), down and up again."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

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


def test_migrations_run_from_an_installed_wheel(
    fresh_database: str, installed_wheel: Path, tmp_path
) -> None:
    """Build the wheel, install it (without the checkout on the path) and migrate with it."""
    target = installed_wheel
    script = (
        "import sys, collection_cases.migrate as m;"
        "assert m.__file__.startswith(sys.argv[2]), m.__file__;"
        "m.upgrade(sys.argv[1]); print(m.script_location(), m.current_revision(sys.argv[1]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, fresh_database, str(target)],
        env={**os.environ, "PYTHONPATH": str(target)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    location, revision = result.stdout.split()
    assert location == str(target / "collection_cases" / "migrations")
    assert revision == migrate.head_revision()


def test_models_and_migrations_agree(database_url: str) -> None:
    """No drift: what the models declare is exactly what the migrations built."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    from collection_cases.db import normalize_url
    from collection_cases.models import metadata

    engine = create_engine(normalize_url(database_url))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []
