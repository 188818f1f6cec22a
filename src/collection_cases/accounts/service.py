"""Accounts and API keys: creation, hashing, lookup."""

from __future__ import annotations

import hashlib
import re
import secrets
import string
import time
from dataclasses import dataclass
from typing import Any

from collection_cases import db
from collection_cases.db import Scope, Unscoped
from collection_cases.ids import random_id
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
    # The account's default API version (requests without a CasaPay-Version header use it).
    api_version: str = CURRENT_VERSION

    @property
    def account_id(self) -> int:
        return self.scope.account_id

    @property
    def is_test(self) -> bool:
        return self.scope.is_test

    @property
    def can_write(self) -> bool:
        return self.kind == "secret"


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


async def create_key(
    conn: db.Connection,
    *,
    account_id: int,
    kind: str = "secret",
    is_test: bool = True,
    raw: str | None = None,
) -> str:
    """Store a new key's hash and return the key itself: the only time it is ever seen."""
    raw = raw or generate_key(kind, is_test=is_test)
    await db.execute(
        conn,
        "INSERT INTO api_keys (id, account_id, is_test, key_hash, key_prefix, kind) "
        "VALUES (%(id)s, %(account_id)s, %(is_test)s, %(hash)s, %(prefix)s, %(kind)s)",
        {"id": random_id("key"), "hash": hash_key(raw), "prefix": raw[:12], "kind": kind},
        scope=Scope(account_id, is_test),
    )
    return raw


async def ensure_key(conn: db.Connection, *, account_name: str, raw: str) -> None:
    """Make sure `raw` is a key of `account_name` (the documented demo key)."""
    found = await db.fetch_value(
        conn, "SELECT id FROM api_keys WHERE key_hash = %s", (hash_key(raw),), scope=BY_HASH
    )
    if found:
        return
    match = KEY_RE.match(raw)
    assert match, "not a key"
    account_id = await get_or_create_account(conn, account_name)
    await create_key(
        conn,
        account_id=account_id,
        kind=KIND_BY_PREFIX[match.group(1)],
        is_test=match.group(2) == "test",
        raw=raw,
    )


_AUTH_SQL = (
    "SELECT k.id, k.account_id, k.is_test, k.kind, a.api_version "
    "FROM api_keys k JOIN accounts a ON a.id = k.account_id "
    "WHERE k.key_hash = %s AND k.revoked_at IS NULL"
)


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
        if entry[0] < time.monotonic():
            self._entries.pop(key_hash, None)
            return None
        return entry[1]

    def put(self, key_hash: str, principal: Principal) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key_hash] = (time.monotonic() + self.ttl, principal)


async def authenticate(
    conn: db.Connection, raw: str, cache: KeyCache | None = None
) -> Principal | None:
    """The key's principal, or None; looked up by hash (the index makes it constant-time)."""
    if not KEY_RE.fullmatch(raw):
        return None
    key_hash = hash_key(raw)
    if cache is not None and (principal := cache.get(key_hash)) is not None:
        return principal
    row = await db.fetch_one(conn, _AUTH_SQL, (key_hash,), scope=BY_HASH)
    if row is None:
        return None
    principal = Principal(
        Scope(row["account_id"], row["is_test"]), row["kind"], row["id"], row["api_version"]
    )
    if cache is not None:
        cache.put(key_hash, principal)
    return principal


async def list_keys(conn: db.Connection, account_name: str | None = None) -> list[dict[str, Any]]:
    """Every key (never the key itself) with its account's name, oldest first."""
    return await db.fetch_all(
        conn,
        "SELECT k.id, a.name, k.key_prefix, k.kind, k.is_test, k.created_at, k.revoked_at "
        "FROM api_keys k JOIN accounts a ON a.id = k.account_id "
        "WHERE %(name)s::text IS NULL OR a.name = %(name)s ORDER BY k.created_at, k.id",
        {"name": account_name},
        scope=Unscoped("operator listing across accounts"),
    )


async def revoke_key(conn: db.Connection, key_id: str) -> bool:
    revoked = await db.execute(
        conn,
        "UPDATE api_keys SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL",
        (key_id,),
        scope=Unscoped("operator revocation by key id"),
    )
    return revoked == 1
