"""The collection_cases table."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from collection_cases.db import Base

STATUSES = ("pending_verification", "needs_details", "active", "paused", "closed")


class CollectionCase(Base):
    __tablename__ = "collection_cases"
    __table_args__ = (
        # account_id in the key: the distribution column, were tables sharded by account.
        PrimaryKeyConstraint("id", "account_id"),
        CheckConstraint(
            "status IN ('pending_verification', 'needs_details', 'active', 'paused', 'closed')",
            name="status",
        ),
        CheckConstraint("remainder >= 0 AND remainder <= amount_to_recover", name="remainder"),
        CheckConstraint("amount_to_recover > 0", name="amount_positive"),
        # Lists: newest first within (account, mode), plus one index per filter.
        Index(
            "ix_collection_cases_list",
            "account_id",
            "is_test",
            text("created_at DESC"),
            text("id DESC"),
        ),
        Index(
            "ix_collection_cases_status",
            "account_id",
            "is_test",
            "status",
            text("created_at DESC"),
            text("id DESC"),
        ),
        Index(
            "ix_collection_cases_country",
            "account_id",
            "is_test",
            "debtor_country",
            text("created_at DESC"),
            text("id DESC"),
        ),
        # The dashboard's search: a creditor reference, exact but case-insensitive.
        Index(
            "ix_collection_cases_creditor_reference",
            "account_id",
            "is_test",
            text("lower(creditor_reference::text)"),
            text("created_at DESC"),
            text("id DESC"),
        ),
        Index(
            "ix_collection_cases_debtor_type",
            "account_id",
            "is_test",
            "debtor_type",
            text("created_at DESC"),
            text("id DESC"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid)
    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="CASCADE")
    )
    is_test: Mapped[bool] = mapped_column(Boolean)
    # Stored upper case; unique across the deployment.
    reference: Mapped[str] = mapped_column(String(8), unique=True)
    status: Mapped[str] = mapped_column(String(32))
    close_code: Mapped[str | None] = mapped_column(String(40))
    amount_to_recover: Mapped[int] = mapped_column(BigInteger)
    remainder: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    debtor: Mapped[dict[str, Any]] = mapped_column(JSONB)
    debtor_type: Mapped[str] = mapped_column(String(10))
    debtor_country: Mapped[str] = mapped_column(String(2))
    collection_partner_id: Mapped[str | None] = mapped_column(String(64))
    # Snapshot of the partner's contact details at assignment, as the case shows them.
    collection_partner: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    requirements: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    # Success fee agreed when a partner took the case (base fee + age surcharge); kept.
    success_fee_pct: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    creditor_reference: Mapped[str | None] = mapped_column(String(255))
    due_date: Mapped[date] = mapped_column(Date)
    metadata_: Mapped[dict[str, str]] = mapped_column(
        "metadata", JSONB, server_default=text("'{}'::jsonb")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CaseTotal(Base):
    """Cases and amounts per status and currency, kept by triggers on collection_cases (see
    the dashboard migration), so totals never scan the cases.

    Each (account, mode, status, currency) is spread over a few `shard` rows (picked by the
    writing backend), so concurrent writers of one account rarely wait on one counter row;
    readers add the shards up.
    """

    __tablename__ = "case_totals"

    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    is_test: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    status: Mapped[str] = mapped_column(String(32), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    cases: Mapped[int] = mapped_column(BigInteger)
    amount_to_recover: Mapped[int] = mapped_column(BigInteger)
    remainder: Mapped[int] = mapped_column(BigInteger)
