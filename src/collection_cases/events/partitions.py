"""Monthly partitions of `events` and `webhook_deliveries`: created ahead, dropped whole.

Both tables are range-partitioned by month (UTC): an event by its `created_at`, a delivery
by its event's (`event_created_at`), so a month's events and their deliveries live in
partitions of the same name suffix (`events_2026_11`, `webhook_deliveries_2026_11`) and go
together. Retention is dropping those two tables, never a long DELETE:

- `maintain()` (the webhook worker's housekeeping, every few minutes in every worker) makes
  sure the current month and the next `AHEAD` exist, and drops each month whose every row is
  past the retention (its end is older than `retention_days`). Events are therefore kept at
  least `retention_days` and at most `retention_days` plus one month.
- The migration that introduced partitioning created the months its rows needed, and the
  same months ahead.

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
# Dropping a partition takes a short exclusive lock on its parent; rather than queue every
# query behind a long one, give up and try again at the next round.
LOCK_TIMEOUT = "2s"
# One process does the DDL at a time (any 64-bit number; the others skip their round).
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
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    skipped: bool = False


def months(first: datetime, last: datetime) -> list[datetime]:
    """The months from `first`'s to `last`'s, inclusive."""
    month, out = month_start(first), []
    while month <= month_start(last):
        out.append(month)
        month = add_months(month, 1)
    return out


async def ensure(conn: db.Connection, first: datetime, last: datetime) -> list[str]:
    """Create every missing month partition of both tables from `first`'s month to `last`'s
    (inclusive); the names created."""
    existing = {r["name"] for r in await _partitions(conn)}
    created = []
    for month in months(first, last):
        for table in PARTITIONED:
            name = partition_name(table, month)
            if name not in existing:
                await db.execute(conn, create_statement(table, month), scope=HOUSEKEEPING)
                created.append(name)
    return created


async def drop_expired(conn: db.Connection, *, now: datetime, retention_days: int) -> list[str]:
    """Drop each month of both tables that ended before `now - retention_days`, one month per
    transaction: the deliveries' partition first (it refers to the events), then the events'
    one, detached first (a partition that a foreign key refers to cannot be dropped while
    attached). A month whose lock is not granted in time waits for the next round."""
    cutoff = now - timedelta(days=retention_days)
    months: dict[str, list[db.Row]] = {}
    for row in await _partitions(conn):
        if row["upper_bound"] is not None and row["upper_bound"] <= cutoff:
            months.setdefault(row["name"].removeprefix(row["parent"]), []).append(row)
    dropped: list[str] = []
    for suffix, rows in months.items():
        names = {r["parent"]: r["name"] for r in rows}
        try:
            async with conn.transaction():
                await db.execute(
                    conn, f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'", scope=HOUSEKEEPING
                )
                if "webhook_deliveries" in names:
                    await db.execute(
                        conn, f"DROP TABLE {names['webhook_deliveries']}", scope=HOUSEKEEPING
                    )
                if "events" in names:
                    await db.execute(
                        conn,
                        f"ALTER TABLE events DETACH PARTITION {names['events']}",
                        scope=HOUSEKEEPING,
                    )
                    await db.execute(conn, f"DROP TABLE {names['events']}", scope=HOUSEKEEPING)
        except psycopg.errors.LockNotAvailable:
            log.warning(
                "event partitions busy: dropped at the next round",
                extra={"fields": {"month": suffix.lstrip("_")}},
            )
            break
        dropped += [names[t] for t in reversed(PARTITIONED) if t in names]
    return dropped


async def maintain(
    conn: db.Connection,
    *,
    retention_days: int = DEFAULT_RETENTION_DAYS,
    now: datetime | None = None,
    ahead: int = AHEAD,
) -> Maintenance:
    """The housekeeping round: months ahead created, months past retention dropped. Skipped
    when another process holds the round (the lock is released with the connection's
    session only: taken and released here)."""
    done = Maintenance()
    if not await db.fetch_value(
        conn, "SELECT pg_try_advisory_lock(%(id)s)", {"id": MAINTENANCE_LOCK_ID}
    ):
        done.skipped = True
        return done
    try:
        if now is None:
            now = await db.fetch_value(conn, "SELECT now()")
        assert now is not None
        done.created = await ensure(conn, now, add_months(month_start(now), ahead))
        done.dropped = await drop_expired(conn, now=now, retention_days=retention_days)
    finally:
        await db.execute(conn, "SELECT pg_advisory_unlock(%(id)s)", {"id": MAINTENANCE_LOCK_ID})
    if done.created or done.dropped:
        log.info(
            "event partitions maintained",
            extra={"fields": {"created": done.created, "dropped": done.dropped}},
        )
    return done


async def _partitions(conn: db.Connection) -> list[db.Row]:
    return await db.fetch_all(conn, _PARTITIONS_SQL, {"parents": list(PARTITIONED)})
