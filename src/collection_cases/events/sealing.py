"""Re-encrypting webhook signing secrets with the current secret key (key rotation)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from collection_cases.secret_key import CannotUnseal, Keyring, webhook_secret_context

BATCH = 500


@dataclass
class Rotation:
    total: int = 0
    resealed: int = 0
    unreadable: list[str] = field(default_factory=list)  # endpoint ids no configured key opens


async def rotate(conn: AsyncConnection, keys: Keyring) -> Rotation:
    """Seal every webhook secret not yet under the current key with it, in the caller's
    transaction (rows locked as they are read). Unreadable rows are reported, not changed."""
    result = Rotation()
    after = ""
    while True:
        rows = (
            await conn.execute(
                text(
                    "SELECT id, secret_encrypted FROM webhook_endpoints WHERE id > :after "
                    "ORDER BY id LIMIT :n FOR UPDATE"
                ),
                {"after": after, "n": BATCH},
            )
        ).all()
        if not rows:
            return result
        updates = []
        for endpoint_id, sealed in rows:
            result.total += 1
            if keys.is_current(sealed):
                continue
            context = webhook_secret_context(endpoint_id)
            try:
                secret = keys.unseal(sealed, context=context)
            except CannotUnseal:
                result.unreadable.append(endpoint_id)
                continue
            updates.append({"id": endpoint_id, "sealed": keys.seal(secret, context=context)})
        if updates:
            await conn.execute(
                text("UPDATE webhook_endpoints SET secret_encrypted = :sealed WHERE id = :id"),
                updates,
            )
            result.resealed += len(updates)
        after = rows[-1][0]
