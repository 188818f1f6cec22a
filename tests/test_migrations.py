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

    from collection_cases.db import sqlalchemy_url

    engine = create_engine(sqlalchemy_url(fresh_database), poolclass=pool.NullPool)
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

    from collection_cases.db import sqlalchemy_url
    from collection_cases.models import metadata

    engine = create_engine(sqlalchemy_url(database_url))
    with engine.connect() as conn:
        # Monthly partitions are runtime objects, left out as Alembic's env leaves them out.
        context = MigrationContext.configure(conn, opts={"include_object": migrate.include_object})
        diff = compare_metadata(context, metadata)
    engine.dispose()
    assert diff == []


TOKENS_REVISION = "3f7d2c9a1b64"


async def test_keys_made_before_tokens_keep_working(fresh_database: str, settings) -> None:  # type: ignore[no-untyped-def]
    """Keys stored by the schema before tokens authenticate after the upgrade, as what they
    were: their ids become tok_, read-only keys get every :read permission."""
    import httpx
    from alembic.script import ScriptDirectory

    from collection_cases import db
    from collection_cases.accounts.permissions import ALL_READ
    from collection_cases.accounts.service import hash_key
    from collection_cases.app import create_app
    from tests.factories import auth, case_body

    before = ScriptDirectory.from_config(migrate.alembic_config()).get_revision(TOKENS_REVISION)
    assert before is not None
    migrate.upgrade(fresh_database, str(before.down_revision))
    old = {
        "secret": ("key_" + "1" * 24, "sk_test_" + "S" * 32, True),
        "restricted": ("key_" + "2" * 24, "rk_live_" + "R" * 32, False),
        "publishable": ("key_" + "3" * 24, "pk_test_" + "P" * 32, True),
    }
    dsn = make_url(fresh_database).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(dsn) as conn:
        row = conn.execute("INSERT INTO accounts (name) VALUES ('old') RETURNING id").fetchone()
        assert row is not None
        for kind, (key_id, raw, is_test) in old.items():
            conn.execute(
                "INSERT INTO api_keys (id, account_id, key_hash, key_prefix, kind, is_test) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (key_id, row[0], hash_key(raw), raw[:12], kind, is_test),
            )
    migrate.upgrade(fresh_database)

    pool = await db.open_pool(fresh_database, size=2, timeout=5, wait=True, name="migrated")
    app = create_app(settings.model_copy(update={"database_url": fresh_database}), pool=pool)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            secret = auth(old["secret"][1])
            made = await client.post("/v1/collection_cases", json=case_body(), headers=secret)
            assert made.status_code == 201, made.text
            tokens = (await client.get("/v1/tokens", headers=secret)).json()["data"]
            assert {t["id"]: (t["type"], t["name"], t["permissions"]) for t in tokens} == {
                "tok_" + "1" * 24: ("secret", "Secret key", []),
                "tok_" + "3" * 24: ("publishable", "Publishable key", []),
            }
            read_only = auth(old["restricted"][1])
            assert (await client.get("/v1/collection_cases", headers=read_only)).status_code == 200
            refused = await client.post("/v1/collection_cases", json=case_body(), headers=read_only)
            assert refused.status_code == 403
            live = (await client.get("/v1/tokens", headers=read_only)).json()["data"]
            assert [(t["id"], t["permissions"]) for t in live] == [
                ("tok_" + "2" * 24, list(ALL_READ))
            ]
            publishable = auth(old["publishable"][1])
            partners = await client.get("/v1/collection_partners", headers=publishable)
            assert partners.status_code == 200
            cases = await client.get("/v1/collection_cases", headers=publishable)
            assert cases.status_code == 403
            narrow = await client.post(
                "/v1/tokens", json={"name": "n", "permissions": ["events:read"]}, headers=secret
            )
            assert narrow.status_code == 201
    finally:
        await pool.close()

    # Down again: ids go back, and a key the old schema cannot describe is revoked rather
    # than widened to every read.
    from sqlalchemy import create_engine
    from sqlalchemy import pool as sa_pool

    from collection_cases.db import sqlalchemy_url

    engine = create_engine(sqlalchemy_url(fresh_database), poolclass=sa_pool.NullPool)
    with engine.begin() as sa_conn:
        cfg = migrate.alembic_config()
        cfg.attributes["connection"] = sa_conn
        command.downgrade(cfg, str(before.down_revision))
    engine.dispose()
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT id, kind, revoked_at IS NOT NULL FROM api_keys ORDER BY id"
        ).fetchall()
    narrow_id = "key_" + narrow.json()["id"].removeprefix("tok_")
    assert sorted(rows) == sorted(
        [
            ("key_" + "1" * 24, "secret", False),
            ("key_" + "2" * 24, "restricted", False),
            ("key_" + "3" * 24, "publishable", False),
            (narrow_id, "restricted", True),
        ]
    )
