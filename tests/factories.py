"""Test data, created through the same service code the product uses."""

from __future__ import annotations

import copy
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from collection_cases import db
from collection_cases.accounts import service as accounts
from collection_cases.accounts.permissions import ALL_READ
from collection_cases.tokens import service as tokens

DOCUMENTED_CASE: dict[str, Any] = {
    "amount_to_recover": 360000,
    "currency": "eur",
    "debtor": {
        "type": "private",
        "name": "John Smith",
        "email": "john.smith@example.com",
        "phone": "+49 170 1234567",
        "address": {
            "line1": "Friedrichstraße 123",
            "city": "Berlin",
            "postal_code": "10117",
            "country": "DE",
        },
    },
    "creditor_reference": "INV-2024-0892",
    "due_date": "2024-11-01",
}


def case_body(**overrides: Any) -> dict[str, Any]:
    """The documented request body, with dotted-path overrides (debtor.address.city=...)."""
    body = copy.deepcopy(DOCUMENTED_CASE)
    for path, value in overrides.items():
        *parents, leaf = path.split("__")
        target = body
        for p in parents:
            target = target[p]
        if value is _DELETE:
            target.pop(leaf, None)
        else:
            target[leaf] = value
    return body


_DELETE = object()
DELETE = _DELETE


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class Account:
    id: int
    name: str
    sk_test: str
    sk_live: str
    rk_test: str
    rk_live: str
    pk_test: str

    @property
    def headers(self) -> dict[str, str]:
        return auth(self.sk_test)


async def make_account(pool: db.Pool, name: str | None = None) -> Account:
    """An account with a secret and a restricted key (every `:read`) in each mode, and a
    publishable test key, made as the operator's CLI makes them."""
    name = name or f"acct-{secrets.token_hex(6)}"
    async with pool.connection() as conn, conn.transaction():
        account_id = await accounts.get_or_create_account(conn, name)
        keys = {}
        for label, kind, is_test in (
            ("sk_test", "secret", True),
            ("sk_live", "secret", False),
            ("rk_test", "restricted", True),
            ("rk_live", "restricted", False),
            ("pk_test", "publishable", True),
        ):
            token = await tokens.create_token(
                conn,
                scope=db.Scope(account_id, is_test),
                kind=kind,
                permissions=ALL_READ if kind == "restricted" else (),
            )
            keys[label] = token["key"]
    return Account(id=account_id, name=name, **keys)


async def make_token(
    pool: db.Pool,
    account: Account,
    *,
    kind: str = "restricted",
    permissions: Sequence[str] = (),
    is_test: bool = True,
    expires_at: int | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """One more token of `account` (the object, with its `key`)."""
    async with pool.connection() as conn, conn.transaction():
        return await tokens.create_token(
            conn,
            scope=db.Scope(account.id, is_test),
            kind=kind,
            name=name,
            permissions=permissions,
            expires_at=expires_at,
        )


async def make_case(client: Any, account: Account, *, key: str | None = None, **overrides: Any):  # type: ignore[no-untyped-def]
    response = await client.post(
        "/v1/collection_cases", json=case_body(**overrides), headers=auth(key or account.sk_test)
    )
    assert response.status_code == 201, response.text
    return response.json()


async def count_cases(engine: AsyncEngine, account: Account) -> int:
    """Rows of the account's cases in the database, whatever the API says."""
    async with engine.connect() as conn:
        result = await conn.execute(
            text("SELECT count(*) FROM collection_cases WHERE account_id = :a"), {"a": account.id}
        )
        return int(result.scalar_one())


async def helper(
    client: Any, account: Account, case_id: str, action: str, key: str | None = None, **body: Any
):  # type: ignore[no-untyped-def]
    """Call a test helper (the partner's side) and return the response."""
    return await client.post(
        f"/v1/test_helpers/collection_cases/{case_id}/{action}",
        json=body,
        headers=auth(key or account.sk_test),
    )


async def event_types(engine: AsyncEngine, account: Account) -> list[str]:
    async with engine.connect() as conn:
        result = await conn.execute(
            text("SELECT type FROM events WHERE account_id = :a ORDER BY created_at, id"),
            {"a": account.id},
        )
        return [str(t) for t in result.scalars()]
