"""Re-encrypting webhook signing secrets with the current secret key (key rotation)."""

from __future__ import annotations

from dataclasses import dataclass, field

from collection_cases import db
from collection_cases.secret_key import CannotUnseal, Keyring, webhook_secret_context

BATCH = 500
EVERY_ACCOUNT = db.Unscoped("key rotation re-seals every account's webhook secrets")


@dataclass
class Rotation:
    total: int = 0
    resealed: int = 0
    unreadable: list[str] = field(default_factory=list)  # endpoint ids no configured key opens


async def rotate(conn: db.Connection, keys: Keyring) -> Rotation:
    """Seal every webhook secret not yet under the current key with it, in the caller's
    transaction (rows locked as they are read). Unreadable rows are reported, not changed."""
    result = Rotation()
    after = ""
    while True:
        rows = await db.fetch_all(
            conn,
            "SELECT id, secret_encrypted FROM webhook_endpoints WHERE id > %(after)s "
            "ORDER BY id LIMIT %(n)s FOR UPDATE",
            {"after": after, "n": BATCH},
            scope=EVERY_ACCOUNT,
        )
        if not rows:
            return result
        updates = []
        for row in rows:
            endpoint_id, sealed = row["id"], row["secret_encrypted"]
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
        for update in updates:
            await db.execute(
                conn,
                "UPDATE webhook_endpoints SET secret_encrypted = %(sealed)s WHERE id = %(id)s",
                update,
                scope=EVERY_ACCOUNT,
            )
        result.resealed += len(updates)
        after = rows[-1]["id"]
