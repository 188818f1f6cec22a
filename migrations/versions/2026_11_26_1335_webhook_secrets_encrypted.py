"""webhook secrets encrypted at rest

Revision ID: 94107c8716da
Revises: 946c6961941b
Create Date: 2026-11-26 13:35:02.000000+00:00

Existing secrets are sealed with the server's secret key (secret_key.py), so upgrading a
database that has webhook endpoints needs the key that `serve` will use. A database without
endpoints needs none.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "94107c8716da"
down_revision: str | None = "946c6961941b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500


def _rewrite(source: str, target: str, convert) -> None:  # type: ignore[no-untyped-def]
    conn = op.get_bind()
    after = ""
    while True:
        rows = conn.execute(
            sa.text(
                f"SELECT id, {source} FROM webhook_endpoints WHERE id > :after ORDER BY id LIMIT :n"
            ),
            {"after": after, "n": BATCH},
        ).all()
        if not rows:
            return
        conn.execute(
            sa.text(f"UPDATE webhook_endpoints SET {target} = :value WHERE id = :id"),
            [{"id": row[0], "value": convert(row[0], row[1])} for row in rows],
        )
        after = rows[-1][0]


def upgrade() -> None:
    from collection_cases import secret_key

    op.add_column("webhook_endpoints", sa.Column("secret_encrypted", sa.Text(), nullable=True))
    has_rows = op.get_bind().execute(sa.text("SELECT EXISTS (SELECT FROM webhook_endpoints)"))
    if has_rows.scalar():
        keys = secret_key.keyring()  # SecretKeyMissing says what to set

        def seal(endpoint_id: str, secret: str) -> str:
            return keys.seal(secret, context=secret_key.webhook_secret_context(endpoint_id))

        _rewrite("secret", "secret_encrypted", seal)
    op.alter_column("webhook_endpoints", "secret_encrypted", nullable=False)
    op.drop_column("webhook_endpoints", "secret")


def downgrade() -> None:
    from collection_cases import secret_key

    op.add_column("webhook_endpoints", sa.Column("secret", sa.String(length=80), nullable=True))
    has_rows = op.get_bind().execute(sa.text("SELECT EXISTS (SELECT FROM webhook_endpoints)"))
    if has_rows.scalar():
        keys = secret_key.keyring()

        def unseal(endpoint_id: str, sealed: str) -> str:
            return keys.unseal(sealed, context=secret_key.webhook_secret_context(endpoint_id))

        _rewrite("secret_encrypted", "secret", unseal)
    op.alter_column("webhook_endpoints", "secret", nullable=False)
    op.drop_column("webhook_endpoints", "secret_encrypted")
