"""Accounts, and authenticating API keys: hashing, lookup, the per-process key cache.

Keys are created, listed and revoked as tokens (`collection_cases.tokens.service`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
import time
from dataclasses import dataclass
from datetime import datetime

from collection_cases import db
from collection_cases.accounts import permissions
from collection_cases.accounts.permissions import Level
from collection_cases.db import Scope, Unscoped
from collection_cases.versions import CURRENT as CURRENT_VERSION

KEY_RE = re.compile(r"^(sk|rk|pk)_(test|live)_[A-Za-z0-9]{8,128}$")
KIND_BY_PREFIX = {"sk": "secret", "rk": "restricted", "pk": "publishable"}
PREFIX_BY_KIND = {kind: prefix for prefix, kind in KIND_BY_PREFIX.items()}
_ALPHABET = string.ascii_letters + string.digits
# Keys are looked up by their hash before the account is known.
BY_HASH = Unscoped("authentication: the key's hash finds its account")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the account and mode its key is in, and what the key may do."""

    scope: Scope
    kind: str
    key_id: str
    # What a restricted key was granted (secret and publishable keys: implied by the kind).
    permissions: frozenset[str] = frozenset()
    # Unix time after which the key no longer authenticates (None: never).
    expires_at: float | None = None
    # The account's default API version (requests without a CasaPay-Version header use it).
    api_version: str = CURRENT_VERSION

    @property
    def account_id(self) -> int:
        return self.scope.account_id

    @property
    def is_test(self) -> bool:
        return self.scope.is_test

    def allows(self, resource: str, level: Level) -> bool:
        return permissions.grants(self.kind, self.permissions, resource, level)

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def generate_key(kind: str, *, is_test: bool) -> str:
    body = "".join(secrets.choice(_ALPHABET) for _ in range(32))
    return f"{PREFIX_BY_KIND[kind]}_{'test' if is_test else 'live'}_{body}"


async def get_or_create_account(conn: db.Connection, name: str) -> int:
    inserted = await db.fetch_value(
        conn,
        "INSERT INTO accounts (name) VALUES (%(name)s) ON CONFLICT (name) DO NOTHING RETURNING id",
        {"name": name},
    )
    if inserted is not None:
        return int(inserted)
    return int(await db.fetch_value(conn, "SELECT id FROM accounts WHERE name = %s", (name,)))


async def find_account(conn: db.Connection, name: str) -> int | None:
    found = await db.fetch_value(conn, "SELECT id FROM accounts WHERE name = %s", (name,))
    return None if found is None else int(found)


async def set_api_version(conn: db.Connection, name: str, version: str) -> bool:
    """Pin an account's default API version (the operator's CLI)."""
    changed = await db.execute(
        conn, "UPDATE accounts SET api_version = %s WHERE name = %s", (version, name)
    )
    return changed == 1


_AUTH_SQL = (
    "SELECT k.id, k.account_id, k.is_test, k.kind, k.permissions, k.expires_at, a.api_version, "
    "k.last_used_at IS NULL OR k.last_used_at < now() - make_interval(secs => %(every)s) AS stale "
    "FROM api_keys k JOIN accounts a ON a.id = k.account_id "
    "WHERE k.key_hash = %(hash)s AND k.revoked_at IS NULL "
    "AND (k.expires_at IS NULL OR k.expires_at > now())"
)
# The same condition again: of several processes that saw the key stale, one writes.
_TOUCH_SQL = (
    "UPDATE api_keys SET last_used_at = now() WHERE id = %(id)s AND {scope} "
    "AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => %(every)s))"
)
# last_used_at is kept to the minute, not to the request: written only when a lookup finds it
# older than this, so a busy key costs one small UPDATE a minute, not one per request.
LAST_USED_EVERY_SECONDS = 60


class KeyCache:
    """Valid keys seen in the last few seconds, so most requests skip the key lookup.

    Bounded in time: a revoked key keeps working for at most `ttl` seconds in each process,
    which converges without any coordination between processes. Only successful lookups
    are kept (a wrong key is always checked against the database), and size is capped.
    """

    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, Principal]] = {}

    def get(self, key_hash: str) -> Principal | None:
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        # A key that expires while remembered stops working at its expiry, not the cache's.
        if entry[0] < time.monotonic() or entry[1].expired(time.time()):
            self._entries.pop(key_hash, None)
            return None
        return entry[1]

    def put(self, key_hash: str, principal: Principal) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key_hash] = (time.monotonic() + self.ttl, principal)


def principal_of(row: db.Row) -> Principal:
    """The principal of a key row (`id, account_id, is_test, kind, permissions, expires_at`,
    and the account's `api_version`)."""
    expires: datetime | None = row["expires_at"]
    return Principal(
        Scope(row["account_id"], row["is_test"]),
        row["kind"],
        row["id"],
        frozenset(row["permissions"]),
        None if expires is None else expires.timestamp(),
        row["api_version"],
    )


async def authenticate(
    conn: db.Connection, raw: str, cache: KeyCache | None = None
) -> Principal | None:
    """The key's principal, or None when it is unknown, revoked or expired; looked up by hash
    (the unique index makes it one index probe). A lookup that finds `last_used_at` more than
    a minute old brings it up to date (one UPDATE of one row, outside any transaction)."""
    if not KEY_RE.fullmatch(raw):
        return None
    key_hash = hash_key(raw)
    if cache is not None and (principal := cache.get(key_hash)) is not None:
        return principal
    row = await db.fetch_one(
        conn, _AUTH_SQL, {"hash": key_hash, "every": LAST_USED_EVERY_SECONDS}, scope=BY_HASH
    )
    if row is None:
        return None
    principal = principal_of(row)
    if row["stale"]:
        await db.execute(
            conn,
            _TOUCH_SQL,
            {"id": principal.key_id, "every": LAST_USED_EVERY_SECONDS},
            scope=principal.scope,
        )
    if cache is not None:
        cache.put(key_hash, principal)
    return principal
