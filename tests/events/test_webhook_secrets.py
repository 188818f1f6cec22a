"""Webhook signing secrets at rest: sealed in the database, shown once, rotated by the CLI,
existing rows migrated."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy import pool as sa_pool
from sqlalchemy.engine import make_url

from collection_cases import migrate, secret_key
from collection_cases.db import sqlalchemy_url
from collection_cases.idempotency.service import context as response_context
from collection_cases.secret_key import Keyring, webhook_secret_context
from tests.events.test_webhooks import deliveries, drain, endpoint, forget, worker
from tests.factories import make_case

CLI = str(Path(sys.executable).with_name("collection-cases"))
OLD = "old-key-" + "o" * 40
NEW = "new-key-" + "n" * 40


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def stored(engine, endpoint_id: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT * FROM webhook_endpoints WHERE id = :id"), {"id": endpoint_id}
            )
        ).one()
    return dict(row._mapping)


class TestAtRest:
    async def test_secret_is_sealed_and_shown_only_at_create(self, client, account, engine):
        we = await endpoint(client, account, "https://hooks.example.com/a")
        row = await stored(engine, we["id"])
        assert "secret" not in row  # no clear column left
        assert we["secret"] not in repr(row)
        assert we["secret"].removeprefix("whsec_") not in repr(row)
        assert row["secret_encrypted"].startswith("cc1.")
        assert (
            secret_key.keyring().unseal(
                row["secret_encrypted"], context=webhook_secret_context(we["id"])
            )
            == we["secret"]
        )
        got = await client.get(f"/v1/webhook_endpoints/{we['id']}", headers=account.headers)
        assert "secret" not in got.json()

    async def test_deliveries_are_signed_with_the_secret_shown_at_create(
        self, client, account, engine, pool, receiver, verify_signature
    ):
        we = await endpoint(client, account, receiver.url, ["collection_case.created"])
        await make_case(client, account)
        await drain(worker(pool), rounds=3)
        [received] = receiver.received
        assert verify_signature(received.body, received.signature, we["secret"])

    async def test_a_sealed_secret_copied_to_another_row_does_not_sign(
        self, client, account, engine, pool, receiver
    ):
        """Someone who can write the database cannot make endpoint B sign with A's secret."""
        a = await endpoint(client, account, "https://hooks.example.com/a")
        b = await endpoint(client, account, receiver.url, ["collection_case.created"])
        await client.post(
            f"/v1/webhook_endpoints/{a['id']}", json={"status": "disabled"}, headers=account.headers
        )
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE webhook_endpoints SET secret_encrypted = "
                    "(SELECT secret_encrypted FROM webhook_endpoints WHERE id = :a) WHERE id = :b"
                ),
                {"a": a["id"], "b": b["id"]},
            )
        await make_case(client, account)
        await worker(pool).run_once()
        assert receiver.hits == 0
        [d] = await deliveries(client, account, b)
        assert d["status"] == "pending"  # retried: restoring the right key resumes delivery
        assert [x["outcome"] for x in d["attempt_log"]] == ["internal_error"]
        await forget(client, account, a, b)

    async def test_a_worker_without_the_key_cannot_sign(
        self, client, account, engine, pool, receiver
    ):
        we = await endpoint(client, account, receiver.url, ["collection_case.created"])
        await make_case(client, account)
        await worker(pool, keys=Keyring(NEW)).run_once()
        assert receiver.hits == 0
        [d] = await deliveries(client, account, we)
        assert [x["outcome"] for x in d["attempt_log"]] == ["internal_error"]
        await forget(client, account, we)


def _insert_endpoint(dsn: str, endpoint_id: str, sealed_or_secret: str, column: str) -> None:
    with psycopg.connect(dsn) as conn:
        account_id = conn.execute(
            "INSERT INTO accounts (name) VALUES (%s) RETURNING id", (f"acct-{endpoint_id}",)
        ).fetchone()[0]  # type: ignore[index]
        conn.execute(
            f"INSERT INTO webhook_endpoints (id, account_id, is_test, url, enabled_events, "
            f"{column}, api_version) VALUES (%s, %s, true, 'https://hooks.example.com', "
            "'[\"*\"]', %s, '2024-11-01')",
            (endpoint_id, account_id, sealed_or_secret),
        )


def _column(dsn: str, endpoint_id: str, column: str) -> str:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            f"SELECT {column} FROM webhook_endpoints WHERE id = %s", (endpoint_id,)
        ).fetchone()
    assert row is not None
    return str(row[0])


class TestMigration:
    def test_existing_clear_secrets_are_sealed_and_come_back_on_downgrade(self, fresh_database):
        dsn = _dsn(fresh_database)
        migrate.upgrade(fresh_database, "946c6961941b")  # before secrets were sealed
        ids = [f"we_{i:024x}" for i in range(1, 4)]
        for i, endpoint_id in enumerate(ids):
            _insert_endpoint(dsn, endpoint_id, f"whsec_clear_{i}", "secret")
        migrate.upgrade(fresh_database)
        keys = secret_key.keyring()
        for i, endpoint_id in enumerate(ids):
            sealed = _column(dsn, endpoint_id, "secret_encrypted")
            assert f"whsec_clear_{i}" not in sealed
            context = webhook_secret_context(endpoint_id)
            assert keys.unseal(sealed, context=context) == f"whsec_clear_{i}"
        with psycopg.connect(dsn) as conn:
            dumped = repr(conn.execute("SELECT * FROM webhook_endpoints").fetchall())
        assert "whsec_clear" not in dumped

        engine = create_engine(sqlalchemy_url(fresh_database), poolclass=sa_pool.NullPool)
        with engine.begin() as conn:
            cfg = migrate.alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "946c6961941b")
        engine.dispose()
        assert [_column(dsn, e, "secret") for e in ids] == [f"whsec_clear_{i}" for i in range(3)]

    def test_rows_to_seal_but_no_key_stops_with_a_clear_message(self, fresh_database):
        dsn = _dsn(fresh_database)
        migrate.upgrade(fresh_database, "946c6961941b")
        _insert_endpoint(dsn, "we_" + "1" * 24, "whsec_clear", "secret")
        env = {k: v for k, v in os.environ.items() if not k.startswith("COLLECTION_CASES_SECRET")}
        result = subprocess.run(
            [CLI, "db", "upgrade"],
            env={**env, "DATABASE_URL": fresh_database},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode != 0
        assert "COLLECTION_CASES_SECRET_KEY is not set" in result.stderr
        assert _column(dsn, "we_" + "1" * 24, "secret") == "whsec_clear"  # nothing half-done


class TestRotateCommand:
    def run(self, database: str, *, key: str, old: str = "") -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COLLECTION_CASES_SECRET")}
        env.update(
            DATABASE_URL=database,
            COLLECTION_CASES_SECRET_KEY=key,
            COLLECTION_CASES_SECRET_KEYS_OLD=old,
        )
        return subprocess.run(
            [CLI, "secrets", "rotate"], env=env, capture_output=True, text=True, timeout=120
        )

    def test_rotate_reseals_every_row_with_the_current_key(self, fresh_database):
        migrate.upgrade(fresh_database)
        dsn = _dsn(fresh_database)
        old, new = Keyring(OLD), Keyring(NEW)
        ids = [f"we_{i:024x}" for i in range(1, 6)]
        for i, endpoint_id in enumerate(ids):
            sealer = new if i == 0 else old  # one row already under the new key
            sealed = sealer.seal(f"whsec_{i}", context=webhook_secret_context(endpoint_id))
            _insert_endpoint(dsn, endpoint_id, sealed, "secret_encrypted")
        already = _column(dsn, ids[0], "secret_encrypted")

        result = self.run(fresh_database, key=NEW, old=OLD)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == (
            "re-encrypted 4 of 5 webhook secrets and 0 of 0 stored idempotent responses "
            "with the current key"
        )
        for i, endpoint_id in enumerate(ids):
            sealed = _column(dsn, endpoint_id, "secret_encrypted")
            context = webhook_secret_context(endpoint_id)
            assert Keyring(NEW).unseal(sealed, context=context) == f"whsec_{i}"  # new key alone
        assert _column(dsn, ids[0], "secret_encrypted") == already  # untouched

        again = self.run(fresh_database, key=NEW)  # the old key can go now
        assert again.stdout.strip().startswith("re-encrypted 0 of 5 webhook secrets and 0 of 0")

    def test_rows_no_key_opens_stop_the_rotation_and_change_nothing(self, fresh_database):
        migrate.upgrade(fresh_database)
        dsn = _dsn(fresh_database)
        good, lost = "we_" + "a" * 24, "we_" + "b" * 24
        _insert_endpoint(
            dsn,
            good,
            Keyring(OLD).seal("whsec_1", context=webhook_secret_context(good)),
            "secret_encrypted",
        )
        _insert_endpoint(
            dsn,
            lost,
            Keyring("gone-" + "g" * 40).seal("whsec_2", context=webhook_secret_context(lost)),
            "secret_encrypted",
        )
        before = _column(dsn, good, "secret_encrypted")
        result = self.run(fresh_database, key=NEW, old=OLD)
        assert result.returncode == 1
        assert lost in result.stderr
        assert "Nothing was changed" in result.stderr
        assert _column(dsn, good, "secret_encrypted") == before

    def test_rotate_reseals_stored_idempotent_responses(self, fresh_database):
        migrate.upgrade(fresh_database)
        dsn = _dsn(fresh_database)
        with psycopg.connect(dsn) as conn:
            account_id = conn.execute(
                "INSERT INTO accounts (name) VALUES ('rotating') RETURNING id"
            ).fetchone()[0]  # type: ignore[index]
            bodies = {f"k{i}": f'{{"key": "sk_test_{i}"}}'.encode() for i in range(3)}
            for i, (key, body) in enumerate(bodies.items()):
                where = response_context(account_id, True, key, "f", 201)
                stored = body if i == 0 else Keyring(OLD).seal_bytes(body, context=where)
                conn.execute(
                    "INSERT INTO idempotency_keys (account_id, is_test, key, fingerprint, "
                    "response_status, response_body) VALUES (%s, true, %s, 'f', 201, %s)",
                    (account_id, key, stored),
                )

        result = self.run(fresh_database, key=NEW, old=OLD)
        assert result.returncode == 0, result.stderr
        assert "3 of 3 stored idempotent responses" in result.stdout
        with psycopg.connect(dsn) as conn:
            rows = dict(conn.execute("SELECT key, response_body FROM idempotency_keys").fetchall())
        for key, body in bodies.items():
            sealed = bytes(rows[key])
            assert body not in sealed  # the one stored in clear is sealed too
            where = response_context(account_id, True, key, "f", 201)
            assert Keyring(NEW).unseal_bytes(sealed, context=where) == body

    def test_generate_key(self):
        result = subprocess.run(
            [CLI, "secrets", "generate-key"], capture_output=True, text=True, timeout=60
        )
        key = result.stdout.strip()
        assert len(key) >= 32
        Keyring(key)
