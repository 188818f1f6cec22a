"""The case_files table: one row per stored file; the bytes live in the file store."""

from __future__ import annotations

import uuid
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
    Uuid,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from collection_cases.db import Base

DOCUMENT_TYPES = (
    "original_invoice",
    "debtor_documents",
    "creditor_documents",
    "demand_letter",
    "miscellaneous",
)


class CaseFile(Base):
    __tablename__ = "case_files"
    __table_args__ = (
        # account_id in the key: the distribution column, were tables sharded by account.
        PrimaryKeyConstraint("id", "account_id"),
        ForeignKeyConstraint(
            ["case_id", "account_id"],
            ["collection_cases.id", "collection_cases.account_id"],
            ondelete="CASCADE",
        ),
        Index(
            "ix_case_files_list",
            "account_id",
            "is_test",
            "case_id",
            text("created_at DESC"),
            text("id DESC"),
        ),
        Index(
            "ix_case_files_document_type",
            "account_id",
            "is_test",
            "case_id",
            "document_type",
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
    document_type: Mapped[str] = mapped_column(String(40))
    description: Mapped[str | None] = mapped_column(String(500))
    # For display only (sanitised); never part of a storage path.
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(120))
    sha256: Mapped[str] = mapped_column(String(64))
    # Where the bytes are in the store: derived from the file id only.
    storage_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
