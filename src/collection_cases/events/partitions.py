"""Monthly partitions of `events` and `webhook_deliveries`: created ahead, dropped whole.

Both tables are range-partitioned by month (UTC): an event by its `created_at`, a delivery
by its event's (`event_created_at`), so a month's events and their deliveries live in
partitions of the same name suffix (`events_2026_11`, `webhook_deliveries_2026_11`) and go
together. Retention is dropping those two tables, never a long DELETE:

- `maintain()` (the webhook worker's housekeeping, every few minutes in every worker) makes
  sure the current month and the next `AHEAD` exist (and, in a month's first minute, the
  month before: `CLOCK_SLACK`), and drops each month whose every row is
  past the retention (its end is older than `retention_days`). Events are therefore kept at
  least `retention_days` and at most `retention_days` plus one month. A month that still
  holds a pending delivery is kept until none does (settings require a retention longer
  than the retries, so this is a safety net).
- The migration that introduced partitioning created the months its rows needed, and the
  same months ahead; every migration makes the months ahead that are missing.

Each step of a round (one month created, one month dropped) is a short transaction of its
own that holds the maintenance lock, `pg_try_advisory_xact_lock`: it goes with the
transaction, so it is never left behind on a pooled connection by a round cut short, nor
split across server sessions by a transaction pooler (PgBouncer), and no step holds its
table locks while another step waits for its own. The DDL needs ACCESS EXCLUSIVE on the
parent table: a step waits at most `LOCK_TIMEOUT` for it (every insert into the table
queues behind a waiting request), then leaves the month to the next round; there are
`AHEAD` months of headroom.

An event id is `evt_` + a UUIDv7 whose 48-bit timestamp is the event's `created_at` (to the
millisecond, written so by `service.record`), so a lookup by id names its month and the
planner reads one partition (`id_window`). Rows written before partitioning kept the
database's clock instead, a few milliseconds off; a lookup that misses the window looks in
every month, so correctness never rests on a clock.

Partitions are runtime objects: the models declare the partitioned parents only, and the
models-vs-migrations comparison leaves partitions out (`is_partition`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

from collection_cases import db

log = logging.getLogger("collection_cases.partitions")

# Parent table -> its partition key. Created in this order, dropped in the reverse one
# (deliveries refer to events).
PARTITIONED = {"events": "created_at", "webhook_deliveries": "event_created_at"}
# Months created beyond the current one.
AHEAD = 2
DEFAULT_RETENTION_DAYS = 30
# A lookup by id looks this far either side of the time the id carries: new rows are exactly
# on it, rows written before partitioning (the database's clock) a few milliseconds off.
ID_TIME_SLACK = timedelta(minutes=1)
# Events are stamped with the writing process's clock, the months made by the database's: in
# a month's first minute, a process whose clock is up to this far behind the database's still
# writes into the month before, so that month is made too (on a database created right then;
# an older one has it already). Otherwise that insert finds no partition and fails.
CLOCK_SLACK = timedelta(minutes=1)
# Creating, detaching or dropping a partition takes a short exclusive lock on its parent;
# rather than queue every query behind a long one, give up and try again at the next round.
LOCK_TIMEOUT = "2s"
# One process does the DDL at a time (any 64-bit number; the others skip their round). Held
# by each step's transaction, never by a session.
MAINTENANCE_LOCK_ID = 0x6576745F70617274  # "evt_part"

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HOUSEKEEPING = db.Unscoped("partition maintenance spans every account")
_NAME = re.compile("^(?:" + "|".join(PARTITIONED) + r")_\d{4}_\d{2}$")

_PARTITIONS_SQL = """
    SELECT p.relname AS parent, c.relname AS name,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid),
                         'TO \\(''([^'']+)''\\)'))[1]::timestamptz AS upper_bound
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    JOIN pg_class p ON p.oid = i.inhparent
    WHERE p.relname = ANY(%(parents)s) AND p.relnamespace = current_schema()::regnamespace
    ORDER BY upper_bound
"""


def is_partition(name: str) -> bool:
    """Whether a table name is one of the monthly partitions (not part of the models)."""
    return bool(_NAME.match(name))


def month_start(at: datetime) -> datetime:
    at = at.astimezone(UTC)
    return datetime(at.year, at.month, 1, tzinfo=UTC)


def add_months(month: datetime, n: int) -> datetime:
    index = month.year * 12 + month.month - 1 + n
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_name(table: str, month: datetime) -> str:
    return f"{table}_{month:%Y_%m}"


def create_statement(table: str, month: datetime) -> str:
    """DDL for one month's partition (idempotent). The bounds are computed, never input."""
    start, end = month_start(month), add_months(month_start(month), 1)
    return (
        f"CREATE TABLE IF NOT EXISTS {partition_name(table, start)} PARTITION OF {table} "
        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    )


def event_time(event_id: str) -> datetime | None:
    """The creation time a UUIDv7 event id carries (None when the id is not a UUIDv7)."""
    hex_ = event_id.removeprefix("evt_")
    if len(hex_) != 32 or hex_[12] != "7":
        return None
    try:
        at = EPOCH + timedelta(milliseconds=int(hex_[:12], 16))
    except (ValueError, OverflowError):
        return None
    # Past the last representable time less the lookup slack, the id cannot be one of ours.
    return at if at < datetime.max.replace(tzinfo=UTC) - ID_TIME_SLACK else None


def id_window(event_id: str) -> tuple[datetime, datetime] | None:
    """Bounds on `created_at` for the event with this id: what lets a lookup by id prune to
    its month. None when the id cannot be one of ours."""
    at = event_time(event_id)
    if at is None:
        return None
    return at - ID_TIME_SLACK, at + ID_TIME_SLACK


@dataclass(slots=True)
class Maintenance:
    """What a round did. `skipped`: another process held the maintenance lock (the round
    stopped there). `postponed`: partitions left to the next round because a table lock was
    not granted within `LOCK_TIMEOUT`. `kept`: partitions past retention kept because a
    delivery in them is still pending."""

    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    skipped: bool = False
    postponed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


class _Held(Exception):
    """Another process holds the maintenance lock: this round is its."""


def kept_ready(now: datetime, ahead: int = AHEAD) -> tuple[datetime, datetime]:
    """The first and last months (as times in them) that must exist at `now`, the database's
    clock: `now`'s month and `ahead` more, and in a month's first minute the month before
    (`CLOCK_SLACK`). The migration and the workers' rounds make the same months."""
    return now - CLOCK_SLACK, add_months(month_start(now), ahead)


def months(first: datetime, last: datetime) -> list[datetime]:
    """The months from `first`'s to `last`'s, inclusive."""
    month, out = month_start(first), []
    while month <= month_start(last):
        out.append(month)
        month = add_months(month, 1)
    return out


@asynccontextmanager
async def _step(conn: db.Connection) -> AsyncIterator[None]:
    """One step of a round: a transaction of its own, holding the maintenance lock until it
    ends (`_Held` when another process has it), waiting at most `LOCK_TIMEOUT` for a table
    lock (psycopg.errors.LockNotAvailable)."""
    async with conn.transaction():
        if not await db.fetch_value(
            conn, "SELECT pg_try_advisory_xact_lock(%(id)s)", {"id": MAINTENANCE_LOCK_ID}
        ):
            raise _Held
        await db.execute(conn, f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'", scope=HOUSEKEEPING)
        yield


async def _existing(conn: db.Connection, names: list[str]) -> set[str]:
    """Which of these tables exist (read in the step: another process may have been first)."""
    rows = await db.fetch_all(
        conn,
        "SELECT n FROM unnest(%(names)s::text[]) AS n WHERE to_regclass(n) IS NOT NULL",
        {"names": names},
    )
    return {r["n"] for r in rows}


async def _create(conn: db.Connection, first: datetime, last: datetime, done: Maintenance) -> None:
    """Create the missing partitions of both tables from `first`'s month to `last`'s, a month
    per step, oldest first; at the first month whose locks do not come in time, stop."""
    listed = {r["name"] for r in await _partitions(conn)}
    for month in months(first, last):
        wanted = [partition_name(t, month) for t in PARTITIONED]
        if listed.issuperset(wanted):
            continue  # no DDL at all: no lock is asked for
        made: list[str] = []
        try:
            async with _step(conn):
                there = await _existing(conn, wanted)
                for table, name in zip(PARTITIONED, wanted, strict=True):
                    if name not in there:
                        await db.execute(conn, create_statement(table, month), scope=HOUSEKEEPING)
                        made.append(name)
        except psycopg.errors.LockNotAvailable:
            log.warning(
                "event partitions busy: created at the next round",
                extra={"fields": {"month": f"{month:%Y_%m}"}},
            )
            done.postponed += [n for n in wanted if n not in listed]
            return
        done.created += made


async def ensure(conn: db.Connection, first: datetime, last: datetime) -> list[str]:
    """Create every missing month partition of both tables from `first`'s month to `last`'s
    (inclusive); the names created. A month whose locks do not come within `LOCK_TIMEOUT`,
    and those after it, are left for the next round; nothing is made while another process
    holds the maintenance lock."""
    done = Maintenance()
    try:
        await _create(conn, first, last, done)
    except _Held:
        pass
    return done.created


async def _drop(conn: db.Connection, names: dict[str, str]) -> bool:
    """Drop one month (parent -> partition), in the step's transaction: the deliveries'
    partition first (it refers to the events), then the events' one, detached first (a
    partition that a foreign key refers to cannot be dropped while attached). False, and
    nothing dropped, while a delivery in it is pending."""
    there = await _existing(conn, list(names.values()))
    deliveries = names.get("webhook_deliveries")
    if deliveries in there and await db.fetch_value(
        conn,
        f"SELECT EXISTS (SELECT 1 FROM {deliveries} WHERE status = 'pending')",
        scope=HOUSEKEEPING,
    ):
        return False
    if deliveries in there:
        await db.execute(conn, f"DROP TABLE {deliveries}", scope=HOUSEKEEPING)
    events = names.get("events")
    if events in there:
        await db.execute(conn, f"ALTER TABLE events DETACH PARTITION {events}", scope=HOUSEKEEPING)
        await db.execute(conn, f"DROP TABLE {events}", scope=HOUSEKEEPING)
    return True


async def _drop_expired(
    conn: db.Connection, *, now: datetime, retention_days: int, done: Maintenance
) -> None:
    """Drop each month of both tables that ended before `now - retention_days`, oldest first,
    one month per step. A month with a pending delivery is kept (and logged); at the first
    month whose locks do not come in time, stop."""
    cutoff = now - timedelta(days=retention_days)
    expired: dict[str, dict[str, str]] = {}
    for row in await _partitions(conn):
        if row["upper_bound"] is not None and row["upper_bound"] <= cutoff:
            suffix = row["name"].removeprefix(row["parent"]).lstrip("_")
            expired.setdefault(suffix, {})[row["parent"]] = row["name"]
    for suffix, names in expired.items():
        ordered = [names[t] for t in reversed(PARTITIONED) if t in names]
        try:
            async with _step(conn):
                dropped = await _drop(conn, names)
        except psycopg.errors.LockNotAvailable:
            log.warning(
                "event partitions busy: dropped at the next round",
                extra={"fields": {"month": suffix}},
            )
            done.postponed += ordered
            return
        if dropped:
            done.dropped += ordered
        else:
            log.warning(
                "event partitions past retention kept: deliveries in them are still pending",
                extra={"fields": {"month": suffix, "retention_days": retention_days}},
            )
            done.kept += ordered


async def maintain(
    conn: db.Connection,
    *,
    retention_days: int = DEFAULT_RETENTION_DAYS,
    now: datetime | None = None,
    ahead: int = AHEAD,
) -> Maintenance:
    """The housekeeping round: months ahead created, months past retention dropped, each
    month a step of its own (see the module's notes). Stopped, `skipped`, at a step whose
    lock another process holds: that round is doing the work."""
    done = Maintenance()
    if now is None:
        now = await db.fetch_value(conn, "SELECT now()")
    assert now is not None
    try:
        await _create(conn, *kept_ready(now, ahead), done)
        await _drop_expired(conn, now=now, retention_days=retention_days, done=done)
    except _Held:
        done.skipped = True
    if done.created or done.dropped:
        log.info(
            "event partitions maintained",
            extra={"fields": {"created": done.created, "dropped": done.dropped}},
        )
    return done


async def _partitions(conn: db.Connection) -> list[db.Row]:
    return await db.fetch_all(conn, _PARTITIONS_SQL, {"parents": list(PARTITIONED)})
