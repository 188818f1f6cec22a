"""Accounts and API keys: creation, hashing, lookup."""

from __future__ import annotations

import hashlib
import re
import secrets
import string
import time
from dataclasses import dataclass

from psycopg import AsyncConnection as PgConnection
from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from collection_cases.accounts.models import Account, ApiKey
from collection_cases.ids import random_id

KEY_RE = re.compile(r"^(sk|rk|pk)_(test|live)_[A-Za-z0-9]{8,128}$")
KIND_BY_PREFIX = {"sk": "secret", "rk": "restricted", "pk": "publishable"}
PREFIX_BY_KIND = {kind: prefix for prefix, kind in KIND_BY_PREFIX.items()}
_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the account, the mode its key is in, and what the key may do."""

    account_id: int
    is_test: bool
    kind: str
    key_id: str

    @property
    def can_write(self) -> bool:
        return self.kind == "secret"

    @property
    def scope(self) -> dict[str, object]:
        """Bind parameters for db.SCOPE."""
        return {"account_id": self.account_id, "is_test": self.is_test}


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def generate_key(kind: str, *, is_test: bool) -> str:
    body = "".join(secrets.choice(_ALPHABET) for _ in range(32))
    return f"{PREFIX_BY_KIND[kind]}_{'test' if is_test else 'live'}_{body}"


async def get_or_create_account(conn: AsyncConnection, name: str) -> int:
    inserted = (
        await conn.execute(
            pg_insert(Account)
            .values(name=name)
            .on_conflict_do_nothing(index_elements=[Account.name])
            .returning(Account.id)
        )
    ).first()
    if inserted:
        return int(inserted.id)
    return int((await conn.execute(select(Account.id).where(Account.name == name))).scalar_one())


async def create_key(
    conn: AsyncConnection,
    *,
    account_id: int,
    kind: str = "secret",
    is_test: bool = True,
    raw: str | None = None,
) -> str:
    """Store a new key's hash and return the key itself: the only time it is ever seen."""
    raw = raw or generate_key(kind, is_test=is_test)
    await conn.execute(
        insert(ApiKey).values(
            id=random_id("key"),
            account_id=account_id,
            key_hash=hash_key(raw),
            key_prefix=raw[:12],
            kind=kind,
            is_test=is_test,
        )
    )
    return raw


async def ensure_key(conn: AsyncConnection, *, account_name: str, raw: str) -> None:
    """Make sure `raw` is a key of `account_name` (the documented demo key)."""
    found = (await conn.execute(select(ApiKey.id).where(ApiKey.key_hash == hash_key(raw)))).first()
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
    "SELECT id, account_id, is_test, kind FROM api_keys WHERE key_hash = %s AND revoked_at IS NULL"
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
    conn: PgConnection, raw: str, cache: KeyCache | None = None
) -> Principal | None:
    """The key's principal, or None; looked up by hash (the index makes it constant-time)."""
    if not KEY_RE.fullmatch(raw):
        return None
    key_hash = hash_key(raw)
    if cache is not None and (principal := cache.get(key_hash)) is not None:
        return principal
    row = await (await conn.execute(_AUTH_SQL, (key_hash,))).fetchone()
    if row is None:
        return None
    principal = Principal(account_id=row[1], is_test=row[2], kind=row[3], key_id=row[0])
    if cache is not None:
        cache.put(key_hash, principal)
    return principal


async def list_keys(
    conn: AsyncConnection, account_name: str | None = None
) -> list[dict[str, object]]:
    stmt = (
        select(
            ApiKey.id,
            Account.name,
            ApiKey.key_prefix,
            ApiKey.kind,
            ApiKey.is_test,
            ApiKey.created_at,
            ApiKey.revoked_at,
        )
        .join(Account, Account.id == ApiKey.account_id)
        .order_by(ApiKey.created_at)
    )
    if account_name:
        stmt = stmt.where(Account.name == account_name)
    return [dict(r._mapping) for r in await conn.execute(stmt)]


async def revoke_key(conn: AsyncConnection, key_id: str) -> bool:
    result = await conn.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )
    return result.rowcount == 1
