"""Every key and index of a tenant table carries account_id: the way to shard by account
(account_id as the distribution column of a distributed PostgreSQL such as Citus) stays
open. Citus needs account_id in every primary key, unique constraint and foreign key
between distributed tables; plain indexes it takes as they are, but ours name account_id too
unless listed below."""

from __future__ import annotations

from sqlalchemy import ForeignKeyConstraint, PrimaryKeyConstraint, UniqueConstraint

from collection_cases import db
from collection_cases.models import metadata

# Each exception, and why it is one. What sharding would need instead is in the comment.
ALLOWED_WITHOUT_ACCOUNT = {
    # Authentication finds the account from the key: the account is not known yet. Sharded,
    # api_keys would be a reference table (small, copied to every node), or a lookup table
    # distributed by key_hash.
    ("api_keys", "uq_api_keys_key_hash"),
    # The reference is unique across the deployment (the product's rule), and looked up by
    # itself. Sharded: a table of references distributed by reference (reference ->
    # account_id, case id), written in the case's transaction.
    ("collection_cases", "uq_collection_cases_reference"),
    # Housekeeping across every account (the purge of expired keys); not unique. Sharded,
    # each shard purges its own rows through its own copy of this index.
    ("idempotency_keys", "ix_idempotency_keys_created_at"),
    # The webhook worker's claim across every account; not unique, partial (pending rows
    # only). Sharded, workers would claim shard by shard (the claim's FOR UPDATE SKIP LOCKED
    # is not run across shards).
    ("webhook_deliveries", "ix_webhook_deliveries_due"),
    # The purge of expired dashboard sessions across every account; not unique. Sharded,
    # each shard purges its own.
    ("dashboard_sessions", "ix_dashboard_sessions_expires_at"),
}


def _keys_and_indexes() -> list[tuple[str, str, list[str]]]:
    found = []
    for name in sorted(db.tenant_tables()):
        table = metadata.tables[name]
        for constraint in table.constraints:
            if isinstance(constraint, PrimaryKeyConstraint | UniqueConstraint):
                found.append((name, str(constraint.name), [c.name for c in constraint.columns]))
            elif isinstance(constraint, ForeignKeyConstraint):
                found.append((name, str(constraint.name), list(constraint.column_keys)))
        for index in table.indexes:
            columns = [getattr(e, "name", str(e)) for e in index.expressions]
            found.append((name, str(index.name), columns))
    return found


def test_the_tenant_tables_are_the_ones_with_account_and_mode() -> None:
    assert db.tenant_tables() == {
        "api_keys",
        "case_files",
        "case_totals",
        "dashboard_sessions",
        "chat_messages",
        "collection_cases",
        "debt_payments",
        "events",
        "idempotency_keys",
        "payment_totals",
        "payouts",
        "webhook_deliveries",
        "webhook_endpoints",
    }


def test_every_key_and_index_of_a_tenant_table_names_account_id() -> None:
    missing = {
        (table, name)
        for table, name, columns in _keys_and_indexes()
        if not any(c == "account_id" or c.startswith("account_id ") for c in columns)
    }
    assert missing == ALLOWED_WITHOUT_ACCOUNT


def test_foreign_keys_between_tenant_tables_join_on_account_id() -> None:
    """A foreign key from one tenant table to another names account_id on both sides (so
    the two rows live on the same shard); to accounts, account_id is the key itself."""
    for name in db.tenant_tables():
        for fk in metadata.tables[name].foreign_key_constraints:
            pairs = {(e.parent.name, e.column.name) for e in fk.elements}
            if fk.referred_table.name == "accounts":
                assert pairs == {("account_id", "id")}, fk.name
            else:
                assert ("account_id", "account_id") in pairs, fk.name
