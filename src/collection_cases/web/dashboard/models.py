"""Dashboard sessions: a signed cookie names one of these rows; the row is the truth."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from collection_cases.db import Base


class DashboardSession(Base):
    """One signed-in browser. The API key itself is never stored: the session names the
    token it was opened with, so revoking (or expiring) that key ends the session too."""

    __tablename__ = "dashboard_sessions"
    __table_args__ = (Index("ix_dashboard_sessions_expires_at", "expires_at"),)

    # hex SHA-256 of the session secret the cookie carries (a stolen table opens nothing).
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="CASCADE")
    )
    is_test: Mapped[bool] = mapped_column(Boolean)
    key_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("api_keys.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Brought up to date at most once a minute (idle timeout).
    last_seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # Absolute end, whatever the activity.
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
