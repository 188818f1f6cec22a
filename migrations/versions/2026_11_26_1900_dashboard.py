"""dashboard: sessions, totals kept by triggers, search and timeline indexes

- `dashboard_sessions`: one row per signed-in browser (the cookie carries a signed secret whose
  hash is the id); it names the API key's token, so revoking the key ends the session.
- `case_totals` and `payment_totals`: counts and sums per status / month and currency, kept
  exact by statement-level triggers (transition tables: one upsert per statement, whatever
  its row count), so the dashboard's overview and counts never scan the cases or payments.
  Rows are sharded by the writing backend, so concurrent writers of one account do not queue
  on one counter row. Filled from the existing rows here, under the triggers' table locks.
- `ix_collection_cases_creditor_reference`: search by creditor reference.
- `ix_events_case`: a case's timeline (events whose object is the case or belongs to it).

Revision ID: 8d41c7e2a915
Revises: 5b0c9e7d3a18
Create Date: 2026-11-26 17:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8d41c7e2a915"
down_revision: str | None = "5b0c9e7d3a18"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHARDS = 32
CASE_OF_EVENT = (
    "COALESCE((data -> 'object'::text) ->> 'case'::text, (data -> 'object'::text) ->> 'id'::text)"
)

CASE_TOTALS_FUNCTION = f"""
CREATE FUNCTION case_totals_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO case_totals AS t
            (account_id, is_test, status, currency, shard, cases, amount_to_recover, remainder)
        SELECT account_id, is_test, status, currency, pg_backend_pid() % {SHARDS},
               count(*), sum(amount_to_recover), sum(remainder)
        FROM new_rows GROUP BY account_id, is_test, status, currency
        ON CONFLICT (account_id, is_test, status, currency, shard) DO UPDATE SET
            cases = t.cases + excluded.cases,
            amount_to_recover = t.amount_to_recover + excluded.amount_to_recover,
            remainder = t.remainder + excluded.remainder;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO case_totals AS t
            (account_id, is_test, status, currency, shard, cases, amount_to_recover, remainder)
        SELECT account_id, is_test, status, currency, pg_backend_pid() % {SHARDS},
               -count(*), -sum(amount_to_recover), -sum(remainder)
        FROM old_rows
        -- An account being deleted takes its totals with it (cascade): nothing to count.
        WHERE EXISTS (SELECT 1 FROM accounts a WHERE a.id = old_rows.account_id)
        GROUP BY account_id, is_test, status, currency
        ON CONFLICT (account_id, is_test, status, currency, shard) DO UPDATE SET
            cases = t.cases + excluded.cases,
            amount_to_recover = t.amount_to_recover + excluded.amount_to_recover,
            remainder = t.remainder + excluded.remainder;
    ELSE
        INSERT INTO case_totals AS t
            (account_id, is_test, status, currency, shard, cases, amount_to_recover, remainder)
        SELECT account_id, is_test, status, currency, pg_backend_pid() % {SHARDS},
               sum(n), sum(amount_to_recover), sum(remainder)
        FROM (
            SELECT o.account_id, o.is_test, o.status, o.currency, -1 AS n,
                   -o.amount_to_recover AS amount_to_recover, -o.remainder AS remainder
            FROM old_rows o JOIN new_rows c ON c.id = o.id
            WHERE (o.account_id, o.is_test, o.status, o.currency, o.amount_to_recover,
                   o.remainder)
                  IS DISTINCT FROM (c.account_id, c.is_test, c.status, c.currency,
                   c.amount_to_recover, c.remainder)
            UNION ALL
            SELECT c.account_id, c.is_test, c.status, c.currency, 1,
                   c.amount_to_recover, c.remainder
            FROM old_rows o JOIN new_rows c ON c.id = o.id
            WHERE (o.account_id, o.is_test, o.status, o.currency, o.amount_to_recover,
                   o.remainder)
                  IS DISTINCT FROM (c.account_id, c.is_test, c.status, c.currency,
                   c.amount_to_recover, c.remainder)
        ) AS moved
        GROUP BY account_id, is_test, status, currency
        ON CONFLICT (account_id, is_test, status, currency, shard) DO UPDATE SET
            cases = t.cases + excluded.cases,
            amount_to_recover = t.amount_to_recover + excluded.amount_to_recover,
            remainder = t.remainder + excluded.remainder;
    END IF;
    RETURN NULL;
END
$$
"""

PAYMENT_TOTALS_FUNCTION = f"""
CREATE FUNCTION payment_totals_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO payment_totals AS t
            (account_id, is_test, month, currency, shard, payments, amount)
        SELECT account_id, is_test, date_trunc('month', payment_date)::date, currency,
               pg_backend_pid() % {SHARDS}, count(*), sum(amount)
        FROM new_rows GROUP BY 1, 2, 3, 4
        ON CONFLICT (account_id, is_test, month, currency, shard) DO UPDATE SET
            payments = t.payments + excluded.payments, amount = t.amount + excluded.amount;
    ELSE
        INSERT INTO payment_totals AS t
            (account_id, is_test, month, currency, shard, payments, amount)
        SELECT account_id, is_test, date_trunc('month', payment_date)::date, currency,
               pg_backend_pid() % {SHARDS}, -count(*), -sum(amount)
        FROM old_rows
        WHERE EXISTS (SELECT 1 FROM accounts a WHERE a.id = old_rows.account_id)
        GROUP BY 1, 2, 3, 4
        ON CONFLICT (account_id, is_test, month, currency, shard) DO UPDATE SET
            payments = t.payments + excluded.payments, amount = t.amount + excluded.amount;
    END IF;
    RETURN NULL;
END
$$
"""


def _triggers(table: str, function: str, events: tuple[str, ...]) -> None:
    for event in events:
        transition = {
            "INSERT": "NEW TABLE AS new_rows",
            "DELETE": "OLD TABLE AS old_rows",
            "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        }[event]
        op.execute(
            f"CREATE TRIGGER {table}_totals_{event.lower()} AFTER {event} ON {table} "
            f"REFERENCING {transition} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )


def upgrade() -> None:
    op.create_table(
        "dashboard_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "last_seen_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_dashboard_sessions_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["key_id", "account_id"],
            ["api_keys.id", "api_keys.account_id"],
            name=op.f("fk_dashboard_sessions_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", "account_id", name=op.f("pk_dashboard_sessions")),
    )
    op.create_index(
        "ix_dashboard_sessions_expires_at", "dashboard_sessions", ["expires_at"], unique=False
    )
    op.create_index(
        "ix_dashboard_sessions_key", "dashboard_sessions", ["key_id", "account_id"], unique=False
    )

    op.create_table(
        "case_totals",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("cases", sa.BigInteger(), nullable=False),
        sa.Column("amount_to_recover", sa.BigInteger(), nullable=False),
        sa.Column("remainder", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_case_totals_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "account_id", "is_test", "status", "currency", "shard", name=op.f("pk_case_totals")
        ),
    )
    op.create_table(
        "payment_totals",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("payments", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_payment_totals_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "account_id", "is_test", "month", "currency", "shard", name=op.f("pk_payment_totals")
        ),
    )
    # No write may slip between the triggers' creation and the fill below.
    op.execute("LOCK TABLE collection_cases, debt_payments IN SHARE ROW EXCLUSIVE MODE")
    op.execute(CASE_TOTALS_FUNCTION)
    op.execute(PAYMENT_TOTALS_FUNCTION)
    _triggers("collection_cases", "case_totals_apply", ("INSERT", "UPDATE", "DELETE"))
    _triggers("debt_payments", "payment_totals_apply", ("INSERT", "DELETE"))
    op.execute(
        "INSERT INTO case_totals (account_id, is_test, status, currency, shard, cases, "
        "amount_to_recover, remainder) SELECT account_id, is_test, status, currency, 0, "
        "count(*), sum(amount_to_recover), sum(remainder) FROM collection_cases "
        "GROUP BY account_id, is_test, status, currency"
    )
    op.execute(
        "INSERT INTO payment_totals (account_id, is_test, month, currency, shard, payments, "
        "amount) SELECT account_id, is_test, date_trunc('month', payment_date)::date, currency, "
        "0, count(*), sum(amount) FROM debt_payments GROUP BY 1, 2, 3, 4"
    )

    op.create_index(
        "ix_collection_cases_creditor_reference",
        "collection_cases",
        [
            "account_id",
            "is_test",
            sa.literal_column("lower(creditor_reference::text)"),
            sa.literal_column("created_at DESC"),
            sa.literal_column("id DESC"),
        ],
        unique=False,
    )
    op.create_index(
        "ix_events_case",
        "events",
        ["account_id", "is_test", sa.literal_column(CASE_OF_EVENT), "created_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_events_case", table_name="events")
    op.drop_index("ix_collection_cases_creditor_reference", table_name="collection_cases")
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS collection_cases_totals_{event} ON collection_cases")
    for event in ("insert", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS debt_payments_totals_{event} ON debt_payments")
    op.execute("DROP FUNCTION IF EXISTS case_totals_apply()")
    op.execute("DROP FUNCTION IF EXISTS payment_totals_apply()")
    op.drop_table("payment_totals")
    op.drop_table("case_totals")
    op.drop_index("ix_dashboard_sessions_key", table_name="dashboard_sessions")
    op.drop_index("ix_dashboard_sessions_expires_at", table_name="dashboard_sessions")
    op.drop_table("dashboard_sessions")
