"""Re-encrypting what is sealed at rest with the current secret key (key rotation): webhook
signing secrets and stored idempotent responses."""

from __future__ import annotations

from dataclasses import dataclass, field

from collection_cases import db
from collection_cases.idempotency.service import context as response_context
from collection_cases.idempotency.service import open_stored
from collection_cases.secret_key import CannotUnseal, Keyring, webhook_secret_context

BATCH = 500
EVERY_ACCOUNT = db.Unscoped("key rotation re-seals every account's sealed values")


@dataclass
class Rotation:
    total: int = 0
    resealed: int = 0
    unreadable: list[str] = field(default_factory=list)  # rows no configured key opens


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


async def rotate_responses(conn: db.Connection, keys: Keyring) -> Rotation:
    """`rotate` for the stored idempotent responses (kept a day): unreadable ones are reported
    as `account:mode:key`; plain ones (stored before sealing) are sealed now."""
    result = Rotation()
    after: tuple[int, bool, str] = (0, False, "")
    while True:
        rows = await db.fetch_all(
            conn,
            "SELECT account_id, is_test, key, fingerprint, response_status, response_body "
            "FROM idempotency_keys "
            "WHERE (account_id, is_test, key) > (%(a)s, %(t)s, %(k)s) "
            "ORDER BY account_id, is_test, key LIMIT %(n)s FOR UPDATE",
            {"a": after[0], "t": after[1], "k": after[2], "n": BATCH},
            scope=EVERY_ACCOUNT,
        )
        if not rows:
            return result
        updates = []
        for row in rows:
            stored = bytes(row["response_body"])
            result.total += 1
            if keys.is_current(stored):
                continue
            where = response_context(
                row["account_id"],
                row["is_test"],
                row["key"],
                row["fingerprint"],
                row["response_status"],
            )
            try:
                body = open_stored(keys, stored, where)
            except CannotUnseal:
                result.unreadable.append(f"{row['account_id']}:{int(row['is_test'])}:{row['key']}")
                continue
            updates.append(
                {
                    "account_id": row["account_id"],
                    "is_test": row["is_test"],
                    "key": row["key"],
                    "response_body": keys.seal_bytes(body, context=where),
                }
            )
        for update in updates:
            await db.execute(
                conn,
                "UPDATE idempotency_keys SET response_body = %(response_body)s "
                "WHERE account_id = %(account_id)s AND is_test = %(is_test)s AND key = %(key)s",
                update,
                scope=EVERY_ACCOUNT,
            )
        result.resealed += len(updates)
        last = rows[-1]
        after = (last["account_id"], last["is_test"], last["key"])
