"""Accounts and API keys: creation, hashing, lookup."""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from dataclasses import dataclass

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


async def authenticate(conn: AsyncConnection, raw: str) -> Principal | None:
    if not KEY_RE.match(raw):
        return None
    row = (
        await conn.execute(
            select(ApiKey.id, ApiKey.account_id, ApiKey.is_test, ApiKey.kind).where(
                ApiKey.key_hash == hash_key(raw), ApiKey.revoked_at.is_(None)
            )
        )
    ).first()
    if row is None:
        return None
    return Principal(account_id=row.account_id, is_test=row.is_test, kind=row.kind, key_id=row.id)


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
