"""Tokens: API keys as objects. One service behind `POST /v1/tokens` and friends and the
operator's `collection-cases keys create|list|revoke`.

A key is stored only as its SHA-256 hash (and its first characters, so people can tell keys
apart); the key itself is returned once, by `create_token`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from collection_cases import db, ids
from collection_cases.accounts.permissions import ALL_READ, unknown_names
from collection_cases.accounts.service import (
    BY_HASH,
    KEY_RE,
    KIND_BY_PREFIX,
    Principal,
    generate_key,
    get_or_create_account,
    hash_key,
)
from collection_cases.errors import (
    InvalidRequestError,
    ParameterMissing,
    StateInvalid,
    ValidationFailed,
    not_found,
    printable,
)
from collection_cases.pagination import Listing, ListParams, Page, id_parser, paginate
from collection_cases.tokens.schemas import TokenCreate

COLUMNS = (
    "id, kind, name, key_prefix, permissions, is_test, created_at, revoked_at, expires_at, "
    "last_used_at"
)
LISTING = Listing(source="api_keys", columns=COLUMNS, kind="token", parse=id_parser("tok"))
# The token object shows the first 8 characters, as documented ("sk_live_"); 12 are kept, so
# the operator's listing can tell two keys of one type and mode apart.
PREFIX_SHOWN = 8
PREFIX_STORED = 12
DEFAULT_NAMES = {
    "secret": "Secret key",
    "restricted": "Restricted key",
    "publishable": "Publishable key",
}
_OPERATOR = db.Unscoped("operator: a token by its id, whatever its account")


def _unix(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def render(row: dict[str, Any]) -> dict[str, Any]:
    """The token object (documented fields, then `revoked`, an addition)."""
    return {
        "id": row["id"],
        "object": "token",
        "name": row["name"],
        "type": row["kind"],
        "key_prefix": row["key_prefix"][:PREFIX_SHOWN],
        "permissions": list(row["permissions"]),
        "last_used_at": _unix(row["last_used_at"]),
        "expires_at": _unix(row["expires_at"]),
        "livemode": not row["is_test"],
        "created": _unix(row["created_at"]),
        "revoked": row["revoked_at"] is not None,
    }


def checked_permissions(names: Sequence[str]) -> list[str]:
    """The names, each once and in the order given, if every one is a permission."""
    unique = list(dict.fromkeys(names))
    unknown = unknown_names(unique)
    if unknown:
        raise InvalidRequestError(
            f"Unknown permission: '{printable(unknown[0], 100)}'. Permissions are "
            "resource:read or resource:write (write implies read), e.g. collection_cases:read; "
            "the README lists every resource.",
            param="permissions",
        )
    return unique


async def create_token(
    conn: db.Connection,
    *,
    scope: db.Scope,
    kind: str,
    name: str | None = None,
    permissions: Sequence[str] = (),
    expires_at: int | None = None,
    raw: str | None = None,
) -> dict[str, Any]:
    """Store a new key's hash; the token object with `key`, the only time the key is seen."""
    if kind == "restricted" and not permissions:
        raise ParameterMissing(
            "Missing required param: permissions (a restricted key needs at least one).",
            param="permissions",
        )
    if kind != "restricted" and permissions:
        raise InvalidRequestError(
            f"A {kind} key takes no permissions (it may do what every {kind} key may).",
            param="permissions",
        )
    granted = checked_permissions(permissions)
    if expires_at is not None and expires_at <= time.time():
        raise ValidationFailed(
            "Invalid expires_at: must be a Unix time in the future.", param="expires_at"
        )
    raw = raw or generate_key(kind, is_test=scope.is_test)
    row = await db.fetch_one(
        conn,
        "INSERT INTO api_keys (id, account_id, is_test, key_hash, key_prefix, kind, name, "
        "permissions, expires_at) VALUES (%(id)s, %(account_id)s, %(is_test)s, %(hash)s, "
        f"%(prefix)s, %(kind)s, %(name)s, %(permissions)s, %(expires_at)s) RETURNING {COLUMNS}",
        {
            "id": ids.random_id("tok"),
            "hash": hash_key(raw),
            "prefix": raw[:PREFIX_STORED],
            "kind": kind,
            "name": name or DEFAULT_NAMES[kind],
            "permissions": granted,
            "expires_at": None if expires_at is None else datetime.fromtimestamp(expires_at, UTC),
        },
        scope=scope,
    )
    assert row is not None
    created: dict[str, Any] = {}
    for field, value in render(row).items():
        created[field] = value
        if field == "type":
            created["key"] = raw  # where the page's create response shows it
    return created


async def create_from_request(
    conn: db.Connection, *, principal: Principal, params: TokenCreate
) -> dict[str, Any]:
    """`POST /v1/tokens`: a restricted key in the caller's account and mode."""
    if params.type not in (None, "restricted"):
        raise InvalidRequestError(
            f"The API creates restricted keys only: {params.type} keys are managed by the "
            "operator with `collection-cases keys create`.",
            param="type",
        )
    return await create_token(
        conn,
        scope=principal.scope,
        kind="restricted",
        name=params.name,
        permissions=params.permissions,
        expires_at=params.expires_at,
    )


async def get_token(conn: db.Connection, *, principal: Principal, token_id: str) -> dict[str, Any]:
    row = None
    if ids.looks_like("tok", token_id):
        row = await db.fetch_one(
            conn,
            f"SELECT {COLUMNS} FROM api_keys WHERE id = %(id)s AND {{scope}}",
            {"id": token_id},
            scope=principal.scope,
        )
    if row is None:
        raise not_found("token", token_id)
    return render(row)


async def list_tokens(conn: db.Connection, *, principal: Principal, params: ListParams) -> Page:
    """The account's tokens in the caller's mode, newest first, revoked ones included."""
    return await paginate(conn, LISTING, params, scope=principal.scope)


async def revoke_token(
    conn: db.Connection, *, token_id: str, scope: db.Scope | None
) -> dict[str, Any]:
    """Revoke a token of `scope` (None: the operator, any account); the revoked token.

    The key stops working at once in every process that has not cached it, and within the
    key cache's few seconds in those that have.
    """
    where, run_as = ("{scope}", scope) if scope is not None else ("true", _OPERATOR)
    row = None
    if ids.looks_like("tok", token_id):
        row = await db.fetch_one(
            conn,
            f"SELECT revoked_at FROM api_keys WHERE id = %(id)s AND {where} FOR UPDATE",
            {"id": token_id},
            scope=run_as,
        )
    if row is None:
        raise not_found("token", token_id)
    if row["revoked_at"] is not None:
        raise StateInvalid(f"The token {token_id} is already revoked.")
    revoked = await db.fetch_one(
        conn,
        f"UPDATE api_keys SET revoked_at = now() WHERE id = %(id)s AND {where} RETURNING {COLUMNS}",
        {"id": token_id},
        scope=run_as,
    )
    assert revoked is not None
    return render(revoked)


async def operator_list(conn: db.Connection, account_name: str | None = None) -> list[db.Row]:
    """Every token (never the key) with its account's name, oldest first: for the CLI."""
    return await db.fetch_all(
        conn,
        f"SELECT {', '.join('k.' + c for c in COLUMNS.split(', '))}, a.name AS account "
        "FROM api_keys k JOIN accounts a ON a.id = k.account_id "
        "WHERE %(name)s::text IS NULL OR a.name = %(name)s ORDER BY k.created_at, k.id",
        {"name": account_name},
        scope=db.Unscoped("operator listing across accounts"),
    )


async def ensure_key(
    conn: db.Connection, *, account_name: str, raw: str, name: str | None = None
) -> None:
    """Make sure `raw` is a key of `account_name` (the documented demo key)."""
    found = await db.fetch_value(
        conn, "SELECT id FROM api_keys WHERE key_hash = %s", (hash_key(raw),), scope=BY_HASH
    )
    if found:
        return
    match = KEY_RE.match(raw)
    assert match, "not a key"
    kind = KIND_BY_PREFIX[match.group(1)]
    account_id = await get_or_create_account(conn, account_name)
    await create_token(
        conn,
        scope=db.Scope(account_id, match.group(2) == "test"),
        kind=kind,
        name=name,
        permissions=ALL_READ if kind == "restricted" else (),
        raw=raw,
    )
