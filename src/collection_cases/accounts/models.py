"""Accounts and their API keys (stored only as SHA-256 hashes)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from collection_cases.db import Base


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # The API version requests use when they send no CasaPay-Version header.
    api_version: Mapped[str] = mapped_column(String(20), server_default=text("'2025-01-15'"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ApiKey(Base):
    """A token: an API key of one account in one mode (the API calls its kind `type`)."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("kind IN ('secret', 'restricted', 'publishable')", name="kind"),
        # account_id in the key: the distribution column, were tables sharded by account.
        PrimaryKeyConstraint("id", "account_id"),
        # Only restricted keys hold permissions: the others' rights follow from their kind.
        CheckConstraint("kind = 'restricted' OR cardinality(permissions) = 0", name="permissions"),
        Index(
            "ix_api_keys_list",
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
    # hex SHA-256 of the whole key; keys are 128+ bits of randomness, so a fast hash is right.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # First characters, kept so an operator can tell keys apart ("sk_test_4eC3...").
    key_prefix: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    is_test: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str] = mapped_column(String(200))
    # `resource:read|write` names, as granted (restricted keys only).
    permissions: Mapped[list[str]] = mapped_column(
        ARRAY(String(64)), server_default=text("'{}'::varchar[]")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Kept to the minute, not to the request (see accounts.service.authenticate).
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RateLimitWindow(Base):
    """Requests per key per one-second window (UNLOGGED: losing it on a crash is harmless)."""

    __tablename__ = "rate_limit_windows"
    __table_args__ = {"prefixes": ["UNLOGGED"]}

    key_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
