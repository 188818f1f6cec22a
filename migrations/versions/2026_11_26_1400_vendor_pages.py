"""what the vendor's pages document: account API versions, payouts, partner specializations

Revision ID: 3f9a1c6e2b70
Revises: 94107c8716da
Create Date: 2026-11-26 14:00:00+00:00

- accounts.api_version: accounts that existed keep the version they were served (2024-11-01)
  until an operator moves them; new accounts get 2025-01-15.
- webhook_endpoints.api_version may be NULL (follow the account's default).
- payouts: one per debt payment (its net amount to the creditor); existing payments get theirs.
- collection_partners.specializations is what the partners page documents, the debtor types a
  partner takes, so it is derived from debtor_types and the column goes; the sample registry
  is brought in line with the documented samples (CollectMax's rate and fee; Spain limited to
  companies).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3f9a1c6e2b70"
down_revision: str | None = "94107c8716da"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "accounts",
        sa.Column("api_version", sa.String(20), server_default="2024-11-01", nullable=False),
    )
    op.alter_column("accounts", "api_version", server_default=sa.text("'2025-01-15'"))
    op.alter_column("webhook_endpoints", "api_version", nullable=True)
    op.create_index("ix_webhook_deliveries_event", "webhook_deliveries", ["event_id"])

    op.create_table(
        "payouts",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("debt_payment_id", sa.String(40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_payouts_amount_not_negative")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_payouts_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["debt_payment_id"],
            ["debt_payments.id"],
            name=op.f("fk_payouts_debt_payment_id_debt_payments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payouts")),
        sa.UniqueConstraint("debt_payment_id", name=op.f("uq_payouts_debt_payment_id")),
    )
    op.execute(
        "UPDATE debt_payments SET payout = 'po_' || substr(md5(random()::text || id), 1, 24) "
        "WHERE payout IS NULL"
    )
    op.execute(
        "INSERT INTO payouts (id, account_id, is_test, debt_payment_id, amount, currency, "
        "created_at) SELECT payout, account_id, is_test, id, net_amount, currency, created_at "
        "FROM debt_payments"
    )

    op.drop_column("collection_partners", "specializations")
    op.execute(
        "UPDATE collection_partners SET success_rate = 0.730, base_success_fee_pct = 12.50 "
        "WHERE id = 'cp_partner_de_01'"
    )
    op.execute(
        "UPDATE collection_partners SET debtor_types = ARRAY['company']::varchar[] "
        "WHERE id = 'cp_partner_es_01'"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE collection_partners SET debtor_types = ARRAY['company', 'private']::varchar[] "
        "WHERE id = 'cp_partner_es_01'"
    )
    op.execute(
        "UPDATE collection_partners SET success_rate = 0.870, base_success_fee_pct = 12.00 "
        "WHERE id = 'cp_partner_de_01'"
    )
    op.add_column(
        "collection_partners",
        sa.Column(
            "specializations",
            sa.ARRAY(sa.String(60)),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
    )
    op.alter_column("collection_partners", "specializations", server_default=None)
    op.drop_table("payouts")
    op.execute("UPDATE debt_payments SET payout = NULL")
    op.drop_index("ix_webhook_deliveries_event", table_name="webhook_deliveries")
    op.execute("UPDATE webhook_endpoints SET api_version = '2024-11-01' WHERE api_version IS NULL")
    op.alter_column("webhook_endpoints", "api_version", nullable=False)
    op.drop_column("accounts", "api_version")
