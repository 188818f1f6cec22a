"""API keys: bearer and basic auth, modes, restricted and publishable keys, hashing."""

from __future__ import annotations

import asyncio
import base64
import hashlib

import httpx
import pytest
from sqlalchemy import text

from collection_cases.accounts import service as accounts
from collection_cases.app import create_app
from collection_cases.tokens import service as tokens
from tests.factories import auth, case_body, count_cases, make_case

URL = "/v1/collection_cases"


class TestAuthentication:
    async def test_missing_key_401(self, client):
        response = await client.get(URL)
        assert response.status_code == 401
        error = response.json()["error"]
        assert error["type"] == "authentication_error"
        assert error["code"] == "api_key_missing"
        assert response.headers["request-id"].startswith("req_")

    @pytest.mark.parametrize(
        "header",
        [
            "Bearer sk_test_doesnotexist000000000000",
            "Bearer not-a-key",
            "Bearer ",
            "Token sk_test_abc",
            "Basic !!!notbase64",
            "Bearer sk_test_" + "a" * 5000,
        ],
    )
    async def test_invalid_key_401(self, client, header):
        response = await client.get(URL, headers={"Authorization": header})
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "authentication_error"

    async def test_the_version_header_chooses_the_version(self, client, account):
        """CasaPay-Version names the version a request uses (echoed back); without it, the
        account's default; an unknown one is a 400 naming the header."""
        default = await client.get(URL, headers=account.headers)
        assert default.headers["casapay-version"] == "2025-01-15"
        chosen = await client.get(URL, headers={**account.headers, "CasaPay-Version": "2024-11-01"})
        assert chosen.status_code == 200
        assert chosen.headers["casapay-version"] == "2024-11-01"
        unknown = await client.get(URL, headers={**account.headers, "CasaPay-Version": "2099"})
        assert unknown.status_code == 400
        assert unknown.json()["error"]["code"] == "api_version_invalid"
        assert unknown.json()["error"]["param"] == "CasaPay-Version"

    async def test_basic_auth_with_key_as_user(self, client, account):
        token = base64.b64encode(f"{account.sk_test}:".encode()).decode()
        response = await client.get(URL, headers={"Authorization": f"Basic {token}"})
        assert response.status_code == 200

    async def test_revoked_key_401(self, client, account, engine, pool):
        async with engine.begin() as conn:
            key_id = (
                await conn.execute(
                    text("SELECT id FROM api_keys WHERE key_hash=:h"),
                    {"h": accounts.hash_key(account.sk_test)},
                )
            ).scalar_one()
        async with pool.connection() as pconn:
            await tokens.revoke_token(pconn, token_id=key_id, scope=None)
        response = await client.get(URL, headers=account.headers)
        assert response.status_code == 401

    async def test_keys_stored_only_as_hashes(self, account, engine):
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT * FROM api_keys WHERE account_id=:a"), {"a": account.id}
                )
            ).all()
        dumped = repr([tuple(r) for r in rows])
        assert account.sk_test not in dumped
        assert hashlib.sha256(account.sk_test.encode()).hexdigest() in dumped


class TestPermissions:
    async def test_restricted_key_reads(self, client, account):
        case = await make_case(client, account)
        response = await client.get(f"{URL}/{case['id']}", headers=auth(account.rk_test))
        assert response.status_code == 200
        listed = await client.get(URL, headers=auth(account.rk_test))
        assert [c["id"] for c in listed.json()["data"]] == [case["id"]]

    async def test_restricted_key_cannot_write(self, client, account, engine):
        response = await client.post(URL, json=case_body(), headers=auth(account.rk_test))
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
        assert await count_cases(engine, account) == 0

    async def test_restricted_live_key_sees_live_only(self, client, account):
        live = await make_case(client, account, key=account.sk_live)
        await make_case(client, account)
        listed = await client.get(URL, headers=auth(account.rk_live))
        assert [c["id"] for c in listed.json()["data"]] == [live["id"]]

    async def test_publishable_key_cannot_read_debtor_data(self, client, account):
        case = await make_case(client, account)
        for path in (URL, f"{URL}/{case['id']}", f"{URL}/ref/{case['reference']}"):
            response = await client.get(path, headers=auth(account.pk_test))
            assert response.status_code == 403, path
        response = await client.post(URL, json=case_body(), headers=auth(account.pk_test))
        assert response.status_code == 403


class TestKeyCache:
    async def test_revoked_key_works_at_most_ttl_seconds(self, settings, engine, pool, account):
        app = create_app(settings.model_copy(update={"key_cache_seconds": 1.0}), pool=pool)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get(URL, headers=account.headers)).status_code == 200
            async with engine.begin() as conn:
                await conn.execute(
                    text("UPDATE api_keys SET revoked_at = now() WHERE key_hash = :h"),
                    {"h": accounts.hash_key(account.sk_test)},
                )
            # Within the TTL the remembered key still works...
            assert (await client.get(URL, headers=account.headers)).status_code == 200
            await asyncio.sleep(1.1)
            # ...and not a moment after.
            assert (await client.get(URL, headers=account.headers)).status_code == 401

    async def test_unknown_keys_are_never_cached(self, settings, pool, account):
        cache = accounts.KeyCache(60)
        async with pool.connection() as conn:
            assert await accounts.authenticate(conn, "sk_test_nosuchkey00000000", cache) is None
            assert await accounts.authenticate(conn, account.sk_test, cache) is not None
        assert list(cache._entries) == [accounts.hash_key(account.sk_test)]
