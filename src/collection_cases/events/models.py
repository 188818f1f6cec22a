"""Event rows, written in the transaction that made the change (the outbox).

`events` and `webhook_deliveries` are partitioned by month (PostgreSQL declarative range
partitioning; the partitions themselves are runtime objects, see events/partitions.py): an
event by its `created_at`, a delivery by its event's, so a month of both goes in one drop.
Keys put the partition key in every primary key and foreign key (PostgreSQL requires it) and
`account_id` too (so that `account_id` can become the distribution column of a sharded
PostgreSQL); they start with the id, so a lookup by id alone stays an index probe.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from collection_cases.db import Base

# The case an event is about: its object's `case` (files, payments, chat), else the object's
# own id (the case itself). Queries repeat this text exactly so the planner uses ix_events_case.
CASE_OF_EVENT = (
    "COALESCE((data -> 'object'::text) ->> 'case'::text, (data -> 'object'::text) ->> 'id'::text)"
)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        # The id is `evt_` + a UUIDv7 whose timestamp is `created_at` (see service.record), so
        # a lookup by id also names its month.
        PrimaryKeyConstraint("id", "created_at", "account_id"),
        Index("ix_events_list", "account_id", "is_test", text("created_at DESC"), text("id DESC")),
        Index(
            "ix_events_type",
            "account_id",
            "is_test",
            "type",
            text("created_at DESC"),
            text("id DESC"),
        ),
        # A case's timeline: the events whose object is the case, or belongs to it.
        Index(
            "ix_events_case",
            "account_id",
            "is_test",
            text(CASE_OF_EVENT),
            "created_at",
            "id",
        ),
        {"postgresql_partition_by": "RANGE (created_at)"},
    )

    id: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="CASCADE")
    )
    is_test: Mapped[bool] = mapped_column(Boolean)
    type: Mapped[str] = mapped_column(String(60))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    request_id: Mapped[str | None] = mapped_column(String(40))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        CheckConstraint("status IN ('enabled', 'disabled')", name="status"),
        PrimaryKeyConstraint("id", "account_id"),
        Index(
            "ix_webhook_endpoints_list",
            "account_id",
            "is_test",
            text("created_at DESC"),
            text("id DESC"),
        ),
    )

    id: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="CASCADE")
    )
    is_test: Mapped[bool] = mapped_column(Boolean)
    url: Mapped[str] = mapped_column(String(2048))
    enabled_events: Mapped[list[str]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(10), server_default=text("'enabled'"))
    # The signing secret, sealed with the server's secret key (secret_key.py) and bound to
    # this row; signing needs it in clear, so it is encrypted, not hashed. Shown only on create.
    secret_encrypted: Mapped[str] = mapped_column(Text)
    # NULL: follow the account's default version.
    api_version: Mapped[str | None] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(String(500))
    metadata_: Mapped[dict[str, str]] = mapped_column(
        "metadata", JSONB, server_default=text("'{}'::jsonb")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WebhookDelivery(Base):
    """The outbox: one row per (event, endpoint), written with the event, kept in the event's
    month partition (`event_created_at`)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
        PrimaryKeyConstraint("id", "event_created_at", "account_id"),
        ForeignKeyConstraint(
            ["event_id", "event_created_at", "account_id"],
            ["events.id", "events.created_at", "events.account_id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["endpoint_id", "account_id"],
            ["webhook_endpoints.id", "webhook_endpoints.account_id"],
            ondelete="CASCADE",
        ),
        # Workers look for due pending rows, whatever the account...
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        # ...the oldest pending one per endpoint (delivery keeps event order)...
        Index(
            "ix_webhook_deliveries_endpoint_pending",
            "account_id",
            "endpoint_id",
            "created_at",
            "id",
            postgresql_where=text("status = 'pending'"),
        ),
        # ...an event's deliveries (pending_webhooks, delivery_success; the foreign key)...
        Index("ix_webhook_deliveries_event", "event_id", "event_created_at", "account_id"),
        # ...and clients list an endpoint's deliveries.
        Index(
            "ix_webhook_deliveries_endpoint",
            "account_id",
            "is_test",
            "endpoint_id",
            text("created_at DESC"),
            text("id DESC"),
        ),
        {"postgresql_partition_by": "RANGE (event_created_at)"},
    )

    id: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="CASCADE")
    )
    is_test: Mapped[bool] = mapped_column(Boolean)
    event_id: Mapped[str] = mapped_column(String(40))
    # The event's created_at: the partition key, so an event and its deliveries share a month.
    event_created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    endpoint_id: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(10), server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # The last attempts (most recent last): time, status code or error, duration.
    attempt_log: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, server_default=text("'[]'::jsonb")
    )
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Per endpoint, deliveries go out in (created_at, id) order.
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
