"""chat_messages: the conversation between creditor and partner about one case."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    PrimaryKeyConstraint,
    String,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from collection_cases.db import Base


class ChatMessage(Base):
    __tablename__ = "chat_messages"
    __table_args__ = (
        # account_id in the key: the distribution column, were tables sharded by account.
        PrimaryKeyConstraint("id", "account_id"),
        ForeignKeyConstraint(
            ["case_id", "account_id"],
            ["collection_cases.id", "collection_cases.account_id"],
            ondelete="CASCADE",
        ),
        CheckConstraint("sender IN ('creditor', 'partner')", name="sender"),
        Index(
            "ix_chat_messages_case",
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
    sender: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(Text)
    attachments: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    read: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
