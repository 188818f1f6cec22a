"""tokens: api keys get a name, permissions, an expiry and a last use; ids become tok_

Every key keeps working: its hash, account, mode and kind are untouched. Existing restricted
keys (the CLI's read-only keys) are given every `:read` permission of this server: what they
could read before, and the new tokens list. A downgrade revokes the keys the old schema cannot
describe (an expiry, or fewer reads than every one) instead of widening what they may do.

Revision ID: 3f7d2c9a1b64
Revises: 3f9a1c6e2b70
Create Date: 2026-11-26 15:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3f7d2c9a1b64"
down_revision: str | None = "3f9a1c6e2b70"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What a read-only key could read when this migration was written (a snapshot on purpose:
# later resources are not granted to old keys behind their owners' backs).
READ_PERMISSIONS = [
    "collection_cases:read",
    "case_files:read",
    "case_chats:read",
    "debt_payments:read",
    "collection_partners:read",
    "collection_coverage:read",
    "collection_case_previews:read",
    "events:read",
    "webhook_endpoints:read",
    "tokens:read",
]


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("name", sa.String(length=200), nullable=True))
    op.add_column(
        "api_keys",
        sa.Column(
            "permissions",
            sa.ARRAY(sa.String(length=64)),
            server_default=sa.text("'{}'::varchar[]"),
            nullable=False,
        ),
    )
    op.add_column("api_keys", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("api_keys", sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE api_keys SET name = CASE kind WHEN 'secret' THEN 'Secret key' "
        "WHEN 'publishable' THEN 'Publishable key' ELSE 'Read-only key' END"
    )
    op.get_bind().execute(
        sa.text("UPDATE api_keys SET permissions = :perms WHERE kind = 'restricted'").bindparams(
            sa.bindparam("perms", READ_PERMISSIONS, type_=sa.ARRAY(sa.String(length=64)))
        )
    )
    # key_<hex> -> tok_<hex>. Nothing refers to these ids by foreign key; rate-limit windows
    # hold them for a second at most.
    op.execute("UPDATE api_keys SET id = 'tok_' || substr(id, 5) WHERE id LIKE 'key\\_%'")
    op.alter_column("api_keys", "name", nullable=False)
    op.create_check_constraint(
        op.f("ck_api_keys_permissions"),
        "api_keys",
        "kind = 'restricted' OR cardinality(permissions) = 0",
    )
    op.drop_index(op.f("ix_api_keys_account_id"), table_name="api_keys")
    op.create_index(
        "ix_api_keys_list",
        "api_keys",
        ["account_id", "is_test", sa.text("created_at DESC"), sa.text("id DESC")],
        unique=False,
    )


def downgrade() -> None:
    # The old schema can express neither an expiry nor a narrower restricted key: rather than
    # let such keys outlive their expiry or read more than they were given, revoke them.
    op.execute(
        "UPDATE api_keys SET revoked_at = least(expires_at, now()) "
        "WHERE revoked_at IS NULL AND expires_at IS NOT NULL"
    )
    op.get_bind().execute(
        sa.text(
            "UPDATE api_keys SET revoked_at = now() WHERE revoked_at IS NULL "
            "AND kind = 'restricted' AND NOT permissions @> :perms"
        ).bindparams(sa.bindparam("perms", READ_PERMISSIONS, type_=sa.ARRAY(sa.String(length=64))))
    )
    op.drop_index("ix_api_keys_list", table_name="api_keys")
    op.create_index(op.f("ix_api_keys_account_id"), "api_keys", ["account_id"], unique=False)
    op.drop_constraint(op.f("ck_api_keys_permissions"), "api_keys", type_="check")
    op.execute("UPDATE api_keys SET id = 'key_' || substr(id, 5) WHERE id LIKE 'tok\\_%'")
    op.drop_column("api_keys", "last_used_at")
    op.drop_column("api_keys", "expires_at")
    op.drop_column("api_keys", "permissions")
    op.drop_column("api_keys", "name")
