"""debt_payments: money the partner collected on a case."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from collection_cases.db import Base


class DebtPayment(Base):
    __tablename__ = "debt_payments"
    __table_args__ = (
        # account_id in the key: the distribution column, were tables sharded by account.
        PrimaryKeyConstraint("id", "account_id"),
        ForeignKeyConstraint(
            ["case_id", "account_id"],
            ["collection_cases.id", "collection_cases.account_id"],
            ondelete="CASCADE",
        ),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("type IN ('full_payment', 'partial_payment', 'installment')", name="type"),
        Index(
            "ix_debt_payments_list",
            "account_id",
            "is_test",
            text("created_at DESC"),
            text("id DESC"),
        ),
        Index(
            "ix_debt_payments_case",
            "account_id",
            "is_test",
            "case_id",
            text("created_at DESC"),
            text("id DESC"),
        ),
    )

    id: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="CASCADE")
    )
    is_test: Mapped[bool] = mapped_column(Boolean)
    case_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    type: Mapped[str] = mapped_column(String(20))
    payment_date: Mapped[date] = mapped_column(Date)
    fee_pct: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    fee_amount: Mapped[int] = mapped_column(BigInteger)
    net_amount: Mapped[int] = mapped_column(BigInteger)
    payout: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Payout(Base):
    """The remittance of one debt payment's net amount to the creditor (`po_` id).

    Written in the payment's transaction; the debt payment names it in `payout`. The API
    documents no payouts endpoint, so none is served.
    """

    __tablename__ = "payouts"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        # account_id in the key: the distribution column, were tables sharded by account.
        PrimaryKeyConstraint("id", "account_id"),
        # One payout per debt payment.
        UniqueConstraint("debt_payment_id", "account_id"),
        ForeignKeyConstraint(
            ["debt_payment_id", "account_id"],
            ["debt_payments.id", "debt_payments.account_id"],
            ondelete="CASCADE",
        ),
    )

    id: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="CASCADE")
    )
    is_test: Mapped[bool] = mapped_column(Boolean)
    debt_payment_id: Mapped[str] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PaymentTotal(Base):
    """Payments per month (of `payment_date`) and currency, kept by triggers on debt_payments
    (sharded like `case_totals`): the dashboard's chart reads a few rows, not the payments."""

    __tablename__ = "payment_totals"

    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    is_test: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    payments: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
