"""Dashboard sessions: a signed cookie names one of these rows; the row is the truth."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    PrimaryKeyConstraint,
    String,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from collection_cases.db import Base


class DashboardSession(Base):
    """One signed-in browser. The API key itself is never stored: the session names the
    token it was opened with, so revoking (or expiring) that key ends the session too."""

    __tablename__ = "dashboard_sessions"
    __table_args__ = (
        # Looked up by id (the cookie names no account); account_id in every key keeps the
        # table shardable with the rest (tests/test_tenant_keys.py).
        PrimaryKeyConstraint("id", "account_id"),
        ForeignKeyConstraint(
            ["key_id", "account_id"], ["api_keys.id", "api_keys.account_id"], ondelete="CASCADE"
        ),
        Index("ix_dashboard_sessions_key", "key_id", "account_id"),
        # The purge of expired sessions, across every account.
        Index("ix_dashboard_sessions_expires_at", "expires_at"),
    )

    # hex SHA-256 of the session secret the cookie carries (a stolen table opens nothing).
    id: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="CASCADE")
    )
    is_test: Mapped[bool] = mapped_column(Boolean)
    key_id: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Brought up to date at most once a minute (idle timeout).
    last_seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # Absolute end, whatever the activity.
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
