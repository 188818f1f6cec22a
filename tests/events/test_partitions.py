"""Events and deliveries by month: partitions made ahead, whole months dropped past retention,
rows from before partitioning kept."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from alembic import command
from psycopg.types.json import Jsonb
from pydantic import ValidationError
from sqlalchemy import create_engine, text
from sqlalchemy import pool as sa_pool
from sqlalchemy.engine import make_url

from collection_cases import db, migrate
from collection_cases.config import MIN_EVENT_RETENTION_DAYS, Settings
from collection_cases.events import partitions
from collection_cases.events.delivery import GIVE_UP_AFTER, DeliveryWorker
from tests.events.seed import event_id_at, insert_events, month
from tests.factories import auth, case_body, make_case

EP = "/v1/webhook_endpoints"


async def partition_names(pool: db.Pool) -> set[str]:
    async with pool.connection() as conn:
        rows = await db.fetch_all(
            conn,
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent "
            "WHERE p.relname IN ('events', 'webhook_deliveries')",
        )
    return {r["relname"] for r in rows}


async def drop_partitions(pool: db.Pool, year: int) -> None:
    """Drop every partition of `year` (the months a test made): deliveries first, events
    detached first."""
    names = sorted(n for n in await partition_names(pool) if f"_{year}_" in n)
    async with pool.connection() as conn:
        for name in names:
            if name.startswith("webhook_deliveries_"):
                await db.execute(conn, f"DROP TABLE {name}")
        for name in names:
            if name.startswith("events_"):
                await db.execute(
                    conn,
                    f"ALTER TABLE events DETACH PARTITION {name}",
                    scope=partitions.HOUSEKEEPING,
                )
                await db.execute(conn, f"DROP TABLE {name}")


def names_of(year: int, *months: int) -> list[str]:
    """Both tables' partitions of these months, in the order a round creates them."""
    return [
        partitions.partition_name(table, month(year, m))
        for m in months
        for table in partitions.PARTITIONED
    ]


@contextlib.asynccontextmanager
async def long_reader(url: str) -> AsyncIterator[None]:
    """A reader of `events` whose transaction stays open (ACCESS SHARE on the table and every
    partition) until the block ends: a report, a backup, a stuck client."""
    reader = await psycopg.AsyncConnection.connect(url)
    try:
        await reader.execute("SELECT count(*) FROM events")
        yield
    finally:
        await reader.rollback()
        await reader.close()


class TransactionPooled:
    """A connection as a transaction pooler (PgBouncer, pool_mode = transaction) presents one:
    each transaction, and each statement outside one, runs on the next of several server
    sessions."""

    def __init__(self, sessions: list[db.Connection]) -> None:
        self.sessions = sessions
        self.turn = 0
        self.pinned: db.Connection | None = None

    def _session(self) -> db.Connection:
        if self.pinned is not None:
            return self.pinned
        session = self.sessions[self.turn % len(self.sessions)]
        self.turn += 1
        return session

    def cursor(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return self._session().cursor(*args, **kwargs)

    async def execute(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return await self._session().execute(*args, **kwargs)

    @contextlib.asynccontextmanager
    async def transaction(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        outer = self.pinned
        self.pinned = session = self._session()
        try:
            async with session.transaction(*args, **kwargs) as tx:
                yield tx
        finally:
            self.pinned = outer


async def round_lock_is_free(pool: db.Pool) -> bool:
    """Whether a session of its own could take the maintenance lock now (taken and let go at
    once: the statement is its own transaction)."""
    async with pool.connection() as conn:
        return bool(
            await db.fetch_value(
                conn,
                "SELECT pg_try_advisory_xact_lock(%(id)s)",
                {"id": partitions.MAINTENANCE_LOCK_ID},
            )
        )


class TestPartitionHelpers:
    def test_an_event_id_names_its_month(self) -> None:
        at = datetime(2026, 2, 28, 23, 59, 59, 999000, tzinfo=UTC)
        event_id = event_id_at(at)
        assert partitions.event_time(event_id) == at
        low, high = partitions.id_window(event_id) or (None, None)
        assert low == at - partitions.ID_TIME_SLACK
        assert high == at + partitions.ID_TIME_SLACK
        assert partitions.event_time("evt_" + "0" * 32) is None  # not a UUIDv7
        assert partitions.event_time("evt_" + "ab" * 12) is None  # a random id

    def test_month_arithmetic_and_names(self) -> None:
        assert partitions.add_months(month(2026, 11), 2) == month(2027, 1)
        assert partitions.add_months(month(2026, 1), -1) == month(2025, 12)
        assert partitions.partition_name("events", month(2027, 1)) == "events_2027_01"
        assert partitions.create_statement("events", datetime(2026, 12, 31, 23, tzinfo=UTC)) == (
            "CREATE TABLE IF NOT EXISTS events_2026_12 PARTITION OF events FOR VALUES FROM "
            "('2026-12-01T00:00:00+00:00') TO ('2027-01-01T00:00:00+00:00')"
        )
        assert partitions.is_partition("webhook_deliveries_2026_12")
        assert not partitions.is_partition("webhook_deliveries")
        assert not partitions.is_partition("events_unpartitioned")


class TestHousekeeping:
    async def test_the_worker_makes_this_month_and_the_next_two(self, pool) -> None:  # type: ignore[no-untyped-def]
        # Read before the round: should a month turn in between, the round (in the new
        # month's first minute) still makes this one too (partitions.CLOCK_SLACK).
        this = partitions.month_start(datetime.now(UTC))
        worker = DeliveryWorker(pool)
        try:
            await worker.purge()
        finally:
            await worker.close()
        names = await partition_names(pool)
        for n in range(partitions.AHEAD + 1):
            for table in partitions.PARTITIONED:
                assert partitions.partition_name(table, partitions.add_months(this, n)) in names

    async def test_retention_drops_whole_months_past_it(  # type: ignore[no-untyped-def]
        self, pool, engine, client, account
    ) -> None:
        """Rows in January, February and March 2001; on 20 March with 30 days of retention
        January goes (every row in it is past 30 days) and February stays, though its first
        rows are 47 days old: at least 30 days, at most 30 days and a month."""
        made = await client.post(
            EP,
            json={"url": "https://hooks.example.com/x", "enabled_events": ["*"]},
            headers=account.headers,
        )
        endpoint = made.json()["id"]
        async with pool.connection() as conn:
            await partitions.ensure(conn, month(2001, 1), month(2001, 3))
        seeded = {}
        async with engine.begin() as conn:
            for m in (1, 2, 3):
                seeded[m] = await insert_events(
                    conn,
                    account_id=account.id,
                    first=month(2001, m, 1, 1),
                    count=5,
                    step_seconds=86400 * 3,
                    endpoint_id=endpoint,
                )

        async with pool.connection() as conn:
            done = await partitions.maintain(
                conn, retention_days=30, now=datetime(2001, 3, 20, 12, tzinfo=UTC)
            )
        assert done.dropped == ["webhook_deliveries_2001_01", "events_2001_01"]
        assert {"events_2001_04", "events_2001_05", "webhook_deliveries_2001_05"} <= set(
            done.created
        )
        names = await partition_names(pool)
        assert not {"events_2001_01", "webhook_deliveries_2001_01"} & names
        assert {"events_2001_02", "events_2001_03", "webhook_deliveries_2001_02"} <= names

        async with engine.connect() as conn:
            counts = (
                await conn.execute(
                    text(
                        "SELECT (SELECT count(*) FROM events WHERE account_id = :a), "
                        "(SELECT count(*) FROM webhook_deliveries WHERE account_id = :a)"
                    ),
                    {"a": account.id},
                )
            ).one()
        assert tuple(counts) == (10, 10)
        listed = (
            await client.get("/v1/events", params={"limit": 100}, headers=account.headers)
        ).json()
        assert [e["id"] for e in listed["data"]] == [*reversed(seeded[3]), *reversed(seeded[2])]
        for kept in (seeded[2][0], seeded[3][-1]):
            one = await client.get(f"/v1/events/{kept}", headers=account.headers)
            assert one.status_code == 200, one.text
        for gone in seeded[1]:
            missing = await client.get(f"/v1/events/{gone}", headers=account.headers)
            assert missing.status_code == 404
        deliveries = (
            await client.get(
                f"{EP}/{endpoint}/deliveries", params={"limit": 100}, headers=account.headers
            )
        ).json()
        assert {d["event"] for d in deliveries["data"]} == {*seeded[2], *seeded[3]}

        # On 1 April, February's last rows are 32 days old: February goes too.
        async with pool.connection() as conn:
            done = await partitions.maintain(
                conn, retention_days=30, now=datetime(2001, 4, 1, tzinfo=UTC)
            )
        assert done.dropped == ["webhook_deliveries_2001_02", "events_2001_02"]
        listed = (
            await client.get("/v1/events", params={"limit": 100}, headers=account.headers)
        ).json()
        assert [e["id"] for e in listed["data"]] == list(reversed(seeded[3]))
        await client.delete(f"{EP}/{endpoint}", headers=account.headers)

    async def test_in_a_months_first_minute_the_month_before_is_made_too(self, pool) -> None:  # type: ignore[no-untyped-def]
        """Events carry the writing process's time, the months are made by the database's:
        on a database new at a month's turn, a process whose clock is a few seconds behind
        still writes into the month before, which must exist."""
        try:
            async with pool.connection() as conn:
                done = await partitions.maintain(
                    conn, now=datetime(2010, 1, 1, 0, 0, 30, tzinfo=UTC), retention_days=36500
                )
            assert done.created == names_of(2009, 12) + names_of(2010, 1, 2, 3)
            async with pool.connection() as conn:
                done = await partitions.maintain(
                    conn, now=datetime(2011, 1, 1, 0, 1, 30, tzinfo=UTC), retention_days=36500
                )
            # Past the first minute: December 2010 is not made.
            assert done.created == names_of(2011, 1, 2, 3)
        finally:
            for year in (2009, 2010, 2011):
                await drop_partitions(pool, year)

    async def test_another_process_holding_the_round_is_left_alone(self, pool) -> None:  # type: ignore[no-untyped-def]
        """Whichever way another process holds the lock (a round's step in its transaction,
        or a session lock of an older version), this round does nothing."""
        for hold in ("pg_advisory_xact_lock", "pg_advisory_lock"):
            async with pool.connection() as holder, pool.connection() as conn:
                async with holder.transaction():
                    await db.fetch_value(
                        holder, f"SELECT {hold}(%(id)s)", {"id": partitions.MAINTENANCE_LOCK_ID}
                    )
                    try:
                        done = await partitions.maintain(
                            conn, now=datetime(2004, 6, 1, tzinfo=UTC), retention_days=36500
                        )
                    finally:
                        await db.fetch_value(holder, "SELECT pg_advisory_unlock_all()")
            assert done.skipped, hold
            assert (done.created, done.dropped) == ([], [])
        assert not {n for n in await partition_names(pool) if "_2004_" in n}

    @pytest.mark.parametrize("sessions", [2, 3])
    async def test_behind_a_transaction_pooler_the_round_leaves_no_lock(  # type: ignore[no-untyped-def]
        self, pool, sessions
    ) -> None:
        """Behind PgBouncer in transaction mode, one client's consecutive transactions land on
        different server sessions: a lock taken by one statement and released by another
        would stay with a session that nobody unlocks, and every process would skip its
        rounds from then on (and event inserts fail once the months ahead run out)."""
        async with contextlib.AsyncExitStack() as stack:
            conns = [await stack.enter_async_context(pool.connection()) for _ in range(sessions)]
            try:
                for _ in range(2):
                    done = await partitions.maintain(
                        TransactionPooled(conns),
                        now=datetime(2006, 1, 1, 12, tzinfo=UTC),
                        retention_days=36500,
                    )
                    assert not done.skipped
                    assert await round_lock_is_free(pool)
                assert set(names_of(2006, 1, 2, 3)) <= await partition_names(pool)
            finally:
                for conn in conns:  # what an old round may have left behind
                    await db.fetch_value(conn, "SELECT pg_advisory_unlock_all()")
                await drop_partitions(pool, 2006)

    async def test_a_round_cancelled_midway_leaves_no_lock(self, pool, libpq_url) -> None:  # type: ignore[no-untyped-def]
        """A worker stopped while a round waits for a table lock: the lock goes with the
        step's transaction, and the next round (any process's) runs."""

        async def round_() -> partitions.Maintenance:
            async with pool.connection() as conn:
                return await partitions.maintain(
                    conn, now=datetime(2007, 1, 1, 12, tzinfo=UTC), retention_days=36500
                )

        try:
            async with long_reader(libpq_url):
                task = asyncio.create_task(round_())
                await asyncio.sleep(0.5)  # its first step waits for the lock on `events`
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            assert await round_lock_is_free(pool)
            done = await round_()
            assert not done.skipped
            assert done.created == names_of(2007, 1, 2, 3)
        finally:
            await drop_partitions(pool, 2007)

    async def test_a_long_reader_delays_partition_creation_not_event_writes(  # type: ignore[no-untyped-def]
        self, pool, libpq_url, client, account
    ) -> None:
        """Creating a partition locks its parent ACCESS EXCLUSIVE. Behind a long reader the
        request would queue, and every insert into `events` behind it, for as long as the
        reader runs: the round waits at most LOCK_TIMEOUT, leaves the month to the next round
        (there are months of headroom), and writes go on."""

        async def round_() -> partitions.Maintenance:
            async with pool.connection() as conn:
                return await partitions.maintain(
                    conn, now=datetime(2008, 1, 1, 12, tzinfo=UTC), retention_days=36500
                )

        try:
            async with long_reader(libpq_url):
                started = time.monotonic()
                task = asyncio.create_task(round_())
                await asyncio.sleep(0.3)  # the round's CREATE waits for its lock
                await asyncio.wait_for(make_case(client, account), timeout=6)
                done = await asyncio.wait_for(task, timeout=6)
                assert time.monotonic() - started < 6
                assert done.created == []
                assert done.postponed == names_of(2008, 1)
                assert not {n for n in await partition_names(pool) if "_2008_" in n}
            done = await round_()
            assert done.created == names_of(2008, 1, 2, 3)
            assert done.postponed == []
        finally:
            await drop_partitions(pool, 2008)

    async def test_a_month_with_pending_deliveries_is_kept_past_retention(  # type: ignore[no-untyped-def]
        self, pool, engine, client, account, caplog
    ) -> None:
        """Retention never drops a delivery still being retried: its month waits (and says so)
        until every delivery in it is delivered or failed."""
        made = await client.post(
            EP,
            json={"url": "https://hooks.example.com/x", "enabled_events": ["*"]},
            headers=account.headers,
        )
        endpoint = made.json()["id"]
        try:
            async with pool.connection() as conn:
                await partitions.ensure(conn, month(2003, 1), month(2003, 2))
            async with engine.begin() as conn:
                january = await insert_events(
                    conn,
                    account_id=account.id,
                    first=month(2003, 1, 1, 1),
                    count=3,
                    step_seconds=86400,
                    endpoint_id=endpoint,
                )
                # Still being retried (and not due while the test runs: no worker sends it).
                await conn.execute(
                    text(
                        "UPDATE webhook_deliveries SET status = 'pending', "
                        "next_attempt_at = now() + interval '1 day' WHERE event_id = :e"
                    ),
                    {"e": january[1]},
                )
            january_names = {"events_2003_01", "webhook_deliveries_2003_01"}
            with caplog.at_level(logging.WARNING, logger="collection_cases.partitions"):
                async with pool.connection() as conn:
                    done = await partitions.maintain(
                        conn, retention_days=30, now=datetime(2003, 3, 20, tzinfo=UTC)
                    )
            assert not january_names & set(done.dropped)
            assert january_names <= set(done.kept)
            assert january_names <= await partition_names(pool)
            assert any(
                "pending" in r.getMessage() and r.fields["month"] == "2003_01"  # type: ignore[attr-defined]
                for r in caplog.records
            )
            # Settled (here: given up), the month goes at the next round.
            async with engine.begin() as conn:
                await conn.execute(
                    text("UPDATE webhook_deliveries SET status = 'failed' WHERE event_id = :e"),
                    {"e": january[1]},
                )
            async with pool.connection() as conn:
                done = await partitions.maintain(
                    conn, retention_days=30, now=datetime(2003, 3, 20, tzinfo=UTC)
                )
            assert [n for n in done.dropped if "_2003_" in n] == [
                "webhook_deliveries_2003_01",
                "events_2003_01",
            ]
            assert not january_names & await partition_names(pool)
        finally:
            await client.delete(f"{EP}/{endpoint}", headers=account.headers)
            await drop_partitions(pool, 2003)


def test_retention_must_outlast_the_delivery_retries(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A delivery is retried for three days after its event, and its month is dropped with
    the event's: fewer than four days of retention would drop deliveries still pending."""
    for days in (1, 3):
        with pytest.raises(ValidationError, match="at least 4 days"):
            Settings(event_retention_days=days)
    monkeypatch.setenv("COLLECTION_CASES_EVENT_RETENTION_DAYS", "2")
    with pytest.raises(ValidationError, match="webhook deliveries are retried"):
        Settings()
    assert Settings(event_retention_days=4).event_retention_days == 4
    # The last attempt comes at most three days and one longest backoff after the event.
    assert MIN_EVENT_RETENTION_DAYS * 86400 > GIVE_UP_AFTER + 6 * 3600 * 1.2


def test_migrating_makes_the_months_ahead_too(fresh_database: str) -> None:
    """`serve` (and `db upgrade`) migrates at every start, and makes this month's partitions
    and the next two if they are missing: events can be written where no worker ran."""
    migrate.upgrade(fresh_database)
    dsn = make_url(fresh_database).set(drivername="postgresql").render_as_string(False)
    this = partitions.month_start(datetime.now(UTC))
    ahead = [partitions.add_months(this, n) for n in range(partitions.AHEAD + 1)]
    with psycopg.connect(dsn) as conn:
        for month_ in ahead:
            conn.execute(f"DROP TABLE webhook_deliveries_{month_:%Y_%m}")
            conn.execute(f"ALTER TABLE events DETACH PARTITION events_{month_:%Y_%m}")
            conn.execute(f"DROP TABLE events_{month_:%Y_%m}")
    migrate.upgrade(fresh_database)
    with psycopg.connect(dsn) as conn:
        names = {r[0] for r in conn.execute("SELECT relname FROM pg_class WHERE relispartition")}
    assert {f"{t}_{m:%Y_%m}" for t in partitions.PARTITIONED for m in ahead} <= names


def test_migrating_in_a_months_first_minute_makes_the_month_before(fresh_database: str) -> None:
    """The migration keeps the same months ready as the workers' rounds (`kept_ready`): in a
    month's first minute the month before too, which a process whose clock is a little
    behind the database's still writes into."""
    migrate.upgrade(fresh_database)
    engine = create_engine(db.sqlalchemy_url(fresh_database), poolclass=sa_pool.NullPool)
    try:
        for now in (
            datetime(2012, 1, 1, 0, 0, 30, tzinfo=UTC),
            datetime(2013, 1, 1, 0, 1, 30, tzinfo=UTC),
        ):
            with engine.begin() as conn:
                migrate.ensure_partitions(conn, now=now)
        with engine.connect() as conn:
            names = set(
                conn.execute(
                    text("SELECT relname FROM pg_class WHERE relispartition AND relkind = 'r'")
                ).scalars()
            )
    finally:
        engine.dispose()
    made = {n for n in names if "_2011_" in n or "_2012_" in n or "_2013_" in n}
    assert made == set(names_of(2011, 12) + names_of(2012, 1, 2, 3) + names_of(2013, 1, 2, 3))


def test_migrating_does_not_queue_behind_a_long_reader(fresh_database: str) -> None:
    """A month ahead that is missing is made at the migration only if its locks come within
    the lock timeout: otherwise the start goes on and the workers make it later (a `CREATE
    ... PARTITION OF` queued behind a long reader would hold every event insert, and the
    start, behind it)."""
    migrate.upgrade(fresh_database)
    dsn = make_url(fresh_database).set(drivername="postgresql").render_as_string(False)
    last = partitions.add_months(partitions.month_start(datetime.now(UTC)), partitions.AHEAD)
    missing = {f"{t}_{last:%Y_%m}" for t in partitions.PARTITIONED}
    with psycopg.connect(dsn) as conn:
        conn.execute(f"DROP TABLE webhook_deliveries_{last:%Y_%m}")
        conn.execute(f"ALTER TABLE events DETACH PARTITION events_{last:%Y_%m}")
        conn.execute(f"DROP TABLE events_{last:%Y_%m}")

    def partition_tables() -> set[str]:
        with psycopg.connect(dsn) as conn:
            return {r[0] for r in conn.execute("SELECT relname FROM pg_class WHERE relispartition")}

    errors: list[BaseException] = []

    def upgrade() -> None:
        try:
            migrate.upgrade(fresh_database)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    with psycopg.connect(dsn) as reader:
        reader.execute("SELECT count(*) FROM events")  # its transaction stays open
        started = time.monotonic()
        thread = threading.Thread(target=upgrade, daemon=True)
        thread.start()
        thread.join(timeout=8)
        queued = thread.is_alive()
        reader.rollback()
    thread.join()
    assert not queued, "the migration waited for the reader"
    assert time.monotonic() - started < 8
    assert errors == []
    assert not missing & partition_tables()
    migrate.upgrade(fresh_database)  # the reader gone, the month is made
    assert missing <= partition_tables()


PARTITION_REVISION = "8d2e6f41c7a5"


def _alembic(url: str, action: str, revision: str) -> None:
    engine = create_engine(db.sqlalchemy_url(url), poolclass=sa_pool.NullPool)
    with engine.begin() as conn:
        cfg = migrate.alembic_config()
        cfg.attributes["connection"] = conn
        getattr(command, action)(cfg, revision)
    engine.dispose()


@pytest.mark.parametrize("skew_hours", [0, 3])
async def test_rows_written_before_partitioning_are_kept(  # type: ignore[no-untyped-def]
    fresh_database: str, settings, skew_hours: int
) -> None:
    """Events and deliveries stored by the unpartitioned schema read the same after the
    upgrade (list, retrieve, pending_webhooks, deliveries), months back included, as they
    were stored; an event whose stored time is hours away from its id's (a wrong clock) is
    found by id too."""
    from alembic.script import ScriptDirectory

    from collection_cases.accounts.service import hash_key
    from collection_cases.app import create_app

    script = ScriptDirectory.from_config(migrate.alembic_config())
    before = script.get_revision(PARTITION_REVISION)
    assert before is not None
    migrate.upgrade(fresh_database, str(before.down_revision))
    dsn = make_url(fresh_database).set(drivername="postgresql").render_as_string(False)
    key = "sk_test_" + "M" * 32
    now = datetime.now(UTC)
    # As the old code wrote them: created_at from the database's clock, the id a few
    # milliseconds later from the application's (or, for one, hours later).
    times = [now - timedelta(days=70), now - timedelta(days=2), now - timedelta(minutes=5)]
    skewed = timedelta(hours=skew_hours, milliseconds=4)
    events = [(event_id_at(at + skewed), at) for at in times]
    endpoint = "we_" + "0a" * 12
    deliveries = [f"whd_{i:032x}" for i in range(3)]
    with psycopg.connect(dsn) as conn:
        row = conn.execute("INSERT INTO accounts (name) VALUES ('old') RETURNING id").fetchone()
        assert row is not None
        account_id = row[0]
        conn.execute(
            "INSERT INTO api_keys (id, account_id, key_hash, key_prefix, kind, is_test, name) "
            "VALUES ('tok_' || md5('k'), %s, %s, %s, 'secret', true, 'Secret key')",
            (account_id, hash_key(key), key[:12]),
        )
        conn.execute(
            "INSERT INTO webhook_endpoints (id, account_id, is_test, url, enabled_events, "
            "secret_encrypted) VALUES (%s, %s, true, 'https://hooks.example.com', "
            "'[\"*\"]', 'sealed')",
            (endpoint, account_id),
        )
        for i, (event_id, at) in enumerate(events):
            conn.execute(
                "INSERT INTO events (id, account_id, is_test, type, data, created_at) "
                "VALUES (%s, %s, true, 'collection_case.created', %s, %s)",
                (event_id, account_id, Jsonb({"object": {"n": i}}), at),
            )
            conn.execute(
                "INSERT INTO webhook_deliveries (id, account_id, is_test, event_id, endpoint_id, "
                "status, created_at) VALUES (%s, %s, true, %s, %s, %s, %s)",
                (
                    deliveries[i],
                    account_id,
                    event_id,
                    endpoint,
                    "pending" if i == 2 else "delivered",
                    at,
                ),
            )
    migrate.upgrade(fresh_database)

    with psycopg.connect(dsn) as conn:
        names = {r[0] for r in conn.execute("SELECT relname FROM pg_class WHERE relispartition")}
    last_ahead = partitions.add_months(partitions.month_start(now), partitions.AHEAD)
    for at in [times[0], last_ahead]:
        assert {f"events_{at:%Y_%m}", f"webhook_deliveries_{at:%Y_%m}"} <= names

    pool = await db.open_pool(fresh_database, size=2, timeout=5, wait=True, name="migrated")
    app = create_app(settings.model_copy(update={"database_url": fresh_database}), pool=pool)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            headers = auth(key)
            listed = (await client.get("/v1/events", headers=headers)).json()["data"]
            assert [e["id"] for e in listed] == [e for e, _ in reversed(events)]
            assert [e["pending_webhooks"] for e in listed] == [1, 0, 0]
            for (event_id, at), shown in zip(events, reversed(listed), strict=True):
                one = await client.get(f"/v1/events/{event_id}", headers=headers)
                assert one.status_code == 200, one.text
                assert one.json() == shown
                assert shown["created"] == int(at.timestamp())
            undelivered = await client.get(
                "/v1/events", params={"delivery_success": "false"}, headers=headers
            )
            assert [e["id"] for e in undelivered.json()["data"]] == [events[2][0]]
            listed_deliveries = (
                await client.get(f"{EP}/{endpoint}/deliveries", headers=headers)
            ).json()
            assert [d["id"] for d in listed_deliveries["data"]] == list(reversed(deliveries))
            # New events land next to the old ones, with their deliveries.
            made = await client.post("/v1/collection_cases", json=case_body(), headers=headers)
            assert made.status_code == 201, made.text
            latest = (await client.get("/v1/events", headers=headers)).json()["data"]
            assert [e["pending_webhooks"] for e in latest] == [1, 1, 1, 0, 0]
    finally:
        await pool.close()

    # And back: one table each again, every row in it.
    _alembic(fresh_database, "downgrade", str(before.down_revision))
    with psycopg.connect(dsn) as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM webhook_deliveries), "
            "(SELECT count(*) FROM pg_class WHERE relispartition)"
        ).fetchone()
    assert counts == (5, 5, 0)
    _alembic(fresh_database, "upgrade", "head")
