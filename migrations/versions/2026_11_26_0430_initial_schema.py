"""initial schema

Revision ID: 34506b3d6581
Revises:
Create Date: 2026-11-26 04:30:15.068241+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "34506b3d6581"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("name", name=op.f("uq_accounts_name")),
    )
    op.create_table(
        "collection_partners",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=False),
        sa.Column("site", sa.String(length=300), nullable=False),
        sa.Column("countries", sa.ARRAY(sa.String(length=2)), nullable=False),
        sa.Column("debtor_types", sa.ARRAY(sa.String(length=10)), nullable=False),
        sa.Column("specializations", sa.ARRAY(sa.String(length=60)), nullable=False),
        sa.Column("success_rate", sa.Numeric(precision=4, scale=3), nullable=False),
        sa.Column("avg_resolution_days", sa.Integer(), nullable=False),
        sa.Column("base_success_fee_pct", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("min_amount", sa.BigInteger(), nullable=False),
        sa.Column("max_amount", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_partners")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("key_prefix", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('secret', 'restricted', 'publishable')", name=op.f("ck_api_keys_kind")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_api_keys_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_index(op.f("ix_api_keys_account_id"), "api_keys", ["account_id"], unique=False)
    op.create_table(
        "collection_cases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("reference", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("close_code", sa.String(length=40), nullable=True),
        sa.Column("amount_to_recover", sa.BigInteger(), nullable=False),
        sa.Column("remainder", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("debtor", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("debtor_type", sa.String(length=10), nullable=False),
        sa.Column("debtor_country", sa.String(length=2), nullable=False),
        sa.Column("collection_partner_id", sa.String(length=64), nullable=True),
        sa.Column("collection_partner", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "requirements",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("creditor_reference", sa.String(length=255), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('pending_verification', 'needs_details', 'active', 'paused', 'closed')",
            name=op.f("ck_collection_cases_status"),
        ),
        sa.CheckConstraint(
            "amount_to_recover > 0", name=op.f("ck_collection_cases_amount_positive")
        ),
        sa.CheckConstraint(
            "remainder >= 0 AND remainder <= amount_to_recover",
            name=op.f("ck_collection_cases_remainder"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_collection_cases_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_cases")),
        sa.UniqueConstraint("reference", name=op.f("uq_collection_cases_reference")),
    )
    op.create_index(
        "ix_collection_cases_country",
        "collection_cases",
        [
            "account_id",
            "is_test",
            "debtor_country",
            sa.literal_column("created_at DESC"),
            sa.literal_column("id DESC"),
        ],
        unique=False,
    )
    op.create_index(
        "ix_collection_cases_debtor_type",
        "collection_cases",
        [
            "account_id",
            "is_test",
            "debtor_type",
            sa.literal_column("created_at DESC"),
            sa.literal_column("id DESC"),
        ],
        unique=False,
    )
    op.create_index(
        "ix_collection_cases_list",
        "collection_cases",
        [
            "account_id",
            "is_test",
            sa.literal_column("created_at DESC"),
            sa.literal_column("id DESC"),
        ],
        unique=False,
    )
    op.create_index(
        "ix_collection_cases_status",
        "collection_cases",
        [
            "account_id",
            "is_test",
            "status",
            sa.literal_column("created_at DESC"),
            sa.literal_column("id DESC"),
        ],
        unique=False,
    )
    op.create_table(
        "events",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("request_id", sa.String(length=40), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_events_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index(
        "ix_events_list",
        "events",
        [
            "account_id",
            "is_test",
            sa.literal_column("created_at DESC"),
            sa.literal_column("id DESC"),
        ],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_events_list", table_name="events")
    op.drop_table("events")
    op.drop_index("ix_collection_cases_status", table_name="collection_cases")
    op.drop_index("ix_collection_cases_list", table_name="collection_cases")
    op.drop_index("ix_collection_cases_debtor_type", table_name="collection_cases")
    op.drop_index("ix_collection_cases_country", table_name="collection_cases")
    op.drop_table("collection_cases")
    op.drop_index(op.f("ix_api_keys_account_id"), table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("collection_partners")
    op.drop_table("accounts")
