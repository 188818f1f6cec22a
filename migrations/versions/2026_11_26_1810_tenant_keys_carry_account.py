"""tenant keys carry account_id: primary keys (id, account_id), foreign keys with account_id

Every key of a tenant table names account_id, so that account_id can become the distribution
column of a PostgreSQL sharded by account (Citus wants it in every primary key, unique
constraint and foreign key between distributed tables). The id stays first, so a lookup by id
alone still reads the key's index. Ids are random or time-ordered 96 to 128-bit values, so
(id, account_id) is as unique in practice as id was.

- collection_cases, case_files, chat_messages, debt_payments, payouts, api_keys:
  primary key (id, account_id).
- case_files, chat_messages, debt_payments -> collection_cases: (case_id, account_id);
  payouts -> debt_payments: (debt_payment_id, account_id), one payout per payment as before.

What stays without account_id, and why, is listed in tests/test_tenant_keys.py.

Revision ID: 5b0c9e7d3a18
Revises: 8d2e6f41c7a5
Create Date: 2026-11-26 18:10:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "5b0c9e7d3a18"
down_revision: str | None = "8d2e6f41c7a5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYED = ("collection_cases", "case_files", "chat_messages", "debt_payments", "payouts", "api_keys")
CASE_CHILDREN = ("case_files", "chat_messages", "debt_payments")


def _rekey(with_account: bool) -> None:
    # Foreign keys first: they hold on to the primary keys they refer to.
    for child in CASE_CHILDREN:
        op.drop_constraint(f"fk_{child}_case_id_collection_cases", child, type_="foreignkey")
    op.drop_constraint("fk_payouts_debt_payment_id_debt_payments", "payouts", type_="foreignkey")
    op.drop_constraint("uq_payouts_debt_payment_id", "payouts", type_="unique")
    account = ["account_id"] if with_account else []
    for table in KEYED:
        op.drop_constraint(f"pk_{table}", table, type_="primary")
        op.create_primary_key(f"pk_{table}", table, ["id", *account])
    for child in CASE_CHILDREN:
        op.create_foreign_key(
            f"fk_{child}_case_id_collection_cases",
            child,
            "collection_cases",
            ["case_id", *account],
            ["id", *account],
            ondelete="CASCADE",
        )
    op.create_unique_constraint(
        "uq_payouts_debt_payment_id", "payouts", ["debt_payment_id", *account]
    )
    op.create_foreign_key(
        "fk_payouts_debt_payment_id_debt_payments",
        "payouts",
        "debt_payments",
        ["debt_payment_id", *account],
        ["id", *account],
        ondelete="CASCADE",
    )


def upgrade() -> None:
    _rekey(with_account=True)


def downgrade() -> None:
    _rekey(with_account=False)
