"""partition events and webhook deliveries by month; account_id in their keys

Revision ID: 8d2e6f41c7a5
Revises: 3f7d2c9a1b64
Create Date: 2026-11-26 18:00:00+00:00

- `events` becomes range-partitioned on `created_at`, one partition per month (UTC); its
  primary key is (id, created_at, account_id): PostgreSQL wants the partition key in it, and
  account_id keeps the way open to sharding by account.
- `webhook_deliveries` gains `event_created_at` (its event's `created_at`) and is partitioned on
  it, so an event and its deliveries share a month and are dropped together; its keys and
  foreign keys name (id, event_created_at, account_id), (event_id, event_created_at,
  account_id) -> events, (endpoint_id, account_id) -> webhook_endpoints.
- `webhook_endpoints`' primary key becomes (id, account_id), which that foreign key refers to.

Every existing row is kept as it is: the old tables are renamed, their rows copied into
partitions covering their months up to two months ahead, then dropped. (New events get the
time their UUIDv7 id carries as created_at; these kept the database's clock, usually a few
milliseconds earlier: a lookup by id that misses its id's minute looks in every month.)

The copy rewrites both tables once, inside the migration's transaction: plan for it on a
large deployment (about a minute per few million events here).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "8d2e6f41c7a5"
down_revision: str | None = "3f7d2c9a1b64"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AHEAD = 2  # months created beyond the current one (as the worker's housekeeping does)


def _months(first: datetime, last: datetime) -> list[datetime]:
    month = datetime(first.year, first.month, 1, tzinfo=UTC)
    out = []
    while month <= last:
        out.append(month)
        month = datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)
    return out


def _create_partitions(table: str, months: list[datetime]) -> None:
    for month in months:
        end = datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)
        op.execute(
            f"CREATE TABLE {table}_{month:%Y_%m} PARTITION OF {table} "
            f"FOR VALUES FROM ('{month.isoformat()}') TO ('{end.isoformat()}')"
        )


def _created_at() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    bind = op.get_bind()
    # The old tables step aside; their index names are taken by the new ones.
    op.execute("ALTER TABLE webhook_deliveries RENAME TO webhook_deliveries_unpartitioned")
    op.execute("ALTER TABLE events RENAME TO events_unpartitioned")
    for index in (
        "ix_events_list",
        "ix_events_type",
        "ix_webhook_deliveries_due",
        "ix_webhook_deliveries_endpoint_pending",
        "ix_webhook_deliveries_event",
        "ix_webhook_deliveries_endpoint",
    ):
        op.execute(f"DROP INDEX {index}")
    op.execute("ALTER INDEX pk_events RENAME TO pk_events_unpartitioned")
    op.execute("ALTER INDEX pk_webhook_deliveries RENAME TO pk_webhook_deliveries_unpartitioned")
    now, oldest, newest = bind.execute(
        sa.text("SELECT now(), min(created_at), max(created_at) FROM events_unpartitioned")
    ).one()
    now = now.astimezone(UTC)
    ahead = now.month + AHEAD - 1
    last = datetime(now.year + ahead // 12, ahead % 12 + 1, 1, tzinfo=UTC)
    months = _months(min(oldest or now, now).astimezone(UTC), max(newest or now, last))

    op.create_table(
        "events",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("request_id", sa.String(length=40), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_events_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", "created_at", "account_id", name=op.f("pk_events")),
        postgresql_partition_by="RANGE (created_at)",
    )
    op.create_index(
        "ix_events_list",
        "events",
        ["account_id", "is_test", sa.text("created_at DESC"), sa.text("id DESC")],
    )
    op.create_index(
        "ix_events_type",
        "events",
        ["account_id", "is_test", "type", sa.text("created_at DESC"), sa.text("id DESC")],
    )
    _create_partitions("events", months)
    op.execute(
        "INSERT INTO events (id, account_id, is_test, type, data, request_id, idempotency_key, "
        "created_at) SELECT id, account_id, is_test, type, data, request_id, idempotency_key, "
        "created_at FROM events_unpartitioned"
    )

    # Deliveries will refer to an endpoint by (id, account_id).
    op.drop_constraint(
        "fk_webhook_deliveries_endpoint_id_webhook_endpoints",
        "webhook_deliveries_unpartitioned",
        type_="foreignkey",
    )
    op.drop_constraint("pk_webhook_endpoints", "webhook_endpoints", type_="primary")
    op.create_primary_key("pk_webhook_endpoints", "webhook_endpoints", ["id", "account_id"])

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("event_created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("endpoint_id", sa.String(length=40), nullable=False),
        sa.Column(
            "status", sa.String(length=10), server_default=sa.text("'pending'"), nullable=False
        ),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "attempt_log",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        _created_at(),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed')",
            name=op.f("ck_webhook_deliveries_status"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_webhook_deliveries_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_id", "account_id"],
            ["webhook_endpoints.id", "webhook_endpoints.account_id"],
            name=op.f("fk_webhook_deliveries_endpoint_id_webhook_endpoints"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id", "event_created_at", "account_id"],
            ["events.id", "events.created_at", "events.account_id"],
            name=op.f("fk_webhook_deliveries_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "id", "event_created_at", "account_id", name=op.f("pk_webhook_deliveries")
        ),
        postgresql_partition_by="RANGE (event_created_at)",
    )
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_webhook_deliveries_endpoint_pending",
        "webhook_deliveries",
        ["account_id", "endpoint_id", "created_at", "id"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_webhook_deliveries_event",
        "webhook_deliveries",
        ["event_id", "event_created_at", "account_id"],
    )
    op.create_index(
        "ix_webhook_deliveries_endpoint",
        "webhook_deliveries",
        [
            "account_id",
            "is_test",
            "endpoint_id",
            sa.text("created_at DESC"),
            sa.text("id DESC"),
        ],
    )
    _create_partitions("webhook_deliveries", months)
    op.execute(
        "INSERT INTO webhook_deliveries (id, account_id, is_test, event_id, event_created_at, "
        "endpoint_id, status, attempts, next_attempt_at, attempt_log, delivered_at, created_at) "
        "SELECT d.id, d.account_id, d.is_test, d.event_id, e.created_at, d.endpoint_id, "
        "d.status, d.attempts, d.next_attempt_at, d.attempt_log, d.delivered_at, d.created_at "
        "FROM webhook_deliveries_unpartitioned d JOIN events e ON e.id = d.event_id"
    )
    op.drop_table("webhook_deliveries_unpartitioned")
    op.drop_table("events_unpartitioned")


def downgrade() -> None:
    # Back to one table each (every partition's rows copied), endpoints keyed by id alone.
    op.execute("ALTER TABLE webhook_deliveries RENAME TO webhook_deliveries_partitioned")
    op.execute("ALTER TABLE events RENAME TO events_partitioned")
    for index in (
        "ix_events_list",
        "ix_events_type",
        "ix_webhook_deliveries_due",
        "ix_webhook_deliveries_endpoint_pending",
        "ix_webhook_deliveries_event",
        "ix_webhook_deliveries_endpoint",
    ):
        op.execute(f"DROP INDEX {index}")
    op.execute("ALTER INDEX pk_events RENAME TO pk_events_partitioned")
    op.execute("ALTER INDEX pk_webhook_deliveries RENAME TO pk_webhook_deliveries_partitioned")
    op.drop_constraint(
        "fk_webhook_deliveries_endpoint_id_webhook_endpoints",
        "webhook_deliveries_partitioned",
        type_="foreignkey",
    )
    op.drop_constraint("pk_webhook_endpoints", "webhook_endpoints", type_="primary")
    op.create_primary_key("pk_webhook_endpoints", "webhook_endpoints", ["id"])

    op.create_table(
        "events",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("request_id", sa.String(length=40), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_events_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.execute(
        "INSERT INTO events (id, account_id, is_test, type, data, request_id, idempotency_key, "
        "created_at) SELECT id, account_id, is_test, type, data, request_id, idempotency_key, "
        "created_at FROM events_partitioned"
    )
    op.create_index(
        "ix_events_list",
        "events",
        ["account_id", "is_test", sa.text("created_at DESC"), sa.text("id DESC")],
    )
    op.create_index(
        "ix_events_type",
        "events",
        ["account_id", "is_test", "type", sa.text("created_at DESC"), sa.text("id DESC")],
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("endpoint_id", sa.String(length=40), nullable=False),
        sa.Column(
            "status", sa.String(length=10), server_default=sa.text("'pending'"), nullable=False
        ),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "attempt_log",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        _created_at(),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed')",
            name=op.f("ck_webhook_deliveries_status"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_webhook_deliveries_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_webhook_deliveries_endpoint_id_webhook_endpoints"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_webhook_deliveries_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.execute(
        "INSERT INTO webhook_deliveries (id, account_id, is_test, event_id, endpoint_id, status, "
        "attempts, next_attempt_at, attempt_log, delivered_at, created_at) "
        "SELECT id, account_id, is_test, event_id, endpoint_id, status, attempts, "
        "next_attempt_at, attempt_log, delivered_at, created_at FROM webhook_deliveries_partitioned"
    )
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_webhook_deliveries_endpoint_pending",
        "webhook_deliveries",
        ["endpoint_id", "created_at", "id"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_webhook_deliveries_event", "webhook_deliveries", ["event_id"])
    op.create_index(
        "ix_webhook_deliveries_endpoint",
        "webhook_deliveries",
        ["endpoint_id", sa.text("created_at DESC"), sa.text("id DESC")],
    )
    # Dropping a partitioned table drops its partitions.
    op.drop_table("webhook_deliveries_partitioned")
    op.drop_table("events_partitioned")
