"""lifecycle payments chat

Revision ID: c03fbdd12952
Revises: 7eab645f5747
Create Date: 2026-11-26 05:10:13.130135+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "c03fbdd12952"
down_revision: str | None = "7eab645f5747"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chat_messages",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("sender", sa.String(length=10), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column(
            "attachments",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("read", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "sender IN ('creditor', 'partner')", name=op.f("ck_chat_messages_sender")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_chat_messages_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["collection_cases.id"],
            name=op.f("fk_chat_messages_case_id_collection_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_messages")),
    )
    op.create_index(
        "ix_chat_messages_case",
        "chat_messages",
        [
            "account_id",
            "is_test",
            "case_id",
            sa.literal_column("created_at DESC"),
            sa.literal_column("id DESC"),
        ],
        unique=False,
    )
    op.create_table(
        "debt_payments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("payment_date", sa.Date(), nullable=False),
        sa.Column("fee_pct", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("fee_amount", sa.BigInteger(), nullable=False),
        sa.Column("net_amount", sa.BigInteger(), nullable=False),
        sa.Column("payout", sa.String(length=40), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "type IN ('full_payment', 'partial_payment', 'installment')",
            name=op.f("ck_debt_payments_type"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_debt_payments_amount_positive")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_debt_payments_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["collection_cases.id"],
            name=op.f("fk_debt_payments_case_id_collection_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_debt_payments")),
    )
    op.create_index(
        "ix_debt_payments_case",
        "debt_payments",
        [
            "account_id",
            "is_test",
            "case_id",
            sa.literal_column("created_at DESC"),
            sa.literal_column("id DESC"),
        ],
        unique=False,
    )
    op.create_index(
        "ix_debt_payments_list",
        "debt_payments",
        [
            "account_id",
            "is_test",
            sa.literal_column("created_at DESC"),
            sa.literal_column("id DESC"),
        ],
        unique=False,
    )
    op.add_column(
        "collection_cases",
        sa.Column("success_fee_pct", sa.Numeric(precision=5, scale=2), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("collection_cases", "success_fee_pct")
    op.drop_index("ix_debt_payments_list", table_name="debt_payments")
    op.drop_index("ix_debt_payments_case", table_name="debt_payments")
    op.drop_table("debt_payments")
    op.drop_index("ix_chat_messages_case", table_name="chat_messages")
    op.drop_table("chat_messages")
