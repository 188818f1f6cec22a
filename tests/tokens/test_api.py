"""The Tokens API (platform/tokens): create, retrieve, list, revoke; expiry and last use."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from sqlalchemy import text

from collection_cases.accounts import service as accounts
from collection_cases.accounts.permissions import ALL_READ
from collection_cases.app import create_app
from tests.factories import auth, make_token

URL = "/v1/tokens"
# The page's own example, byte for byte.
DOCUMENTED_BODY = {
    "name": "Webhook Server Key",
    "type": "restricted",
    "permissions": ["payment_intents:read", "events:read", "webhook_endpoints:write"],
}
TOKEN_FIELDS = {
    "id",
    "object",
    "name",
    "type",
    "key_prefix",
    "permissions",
    "last_used_at",
    "expires_at",
    "livemode",
    "created",
    "revoked",
}


async def create(client, key, **body):  # type: ignore[no-untyped-def]
    return await client.post(URL, json=body or DOCUMENTED_BODY, headers=auth(key))


async def stored(engine, token_id: str) -> dict:  # type: ignore[type-arg]
    async with engine.connect() as conn:
        row = (
            await conn.execute(text("SELECT * FROM api_keys WHERE id = :id"), {"id": token_id})
        ).one()
    return dict(row._mapping)


class TestCreateToken:
    async def test_documented_example(self, client, account):
        before = int(time.time())
        response = await create(client, account.sk_test)
        assert response.status_code == 201, response.text
        token = response.json()
        assert set(token) == TOKEN_FIELDS | {"key"}
        assert token["id"].startswith("tok_")
        assert token["object"] == "token"
        assert token["name"] == "Webhook Server Key"
        assert token["type"] == "restricted"
        assert token["key"].startswith("rk_test_")
        assert token["key_prefix"] == token["key"][:8] == "rk_test_"
        assert token["permissions"] == DOCUMENTED_BODY["permissions"]
        assert token["last_used_at"] is None
        assert token["expires_at"] is None
        assert token["livemode"] is False
        assert token["revoked"] is False
        assert before <= token["created"] <= time.time()

    async def test_the_new_key_has_exactly_its_permissions(self, client, account):
        key = (await create(client, account.sk_test)).json()["key"]
        assert (await client.get("/v1/events", headers=auth(key))).status_code == 200
        assert (await client.get("/v1/webhook_endpoints", headers=auth(key))).status_code == 200
        endpoint = await client.post(
            "/v1/webhook_endpoints",
            json={"url": "https://example.com/hooks", "enabled_events": ["*"]},
            headers=auth(key),
        )
        assert endpoint.status_code == 201, endpoint.text
        denied = await client.get("/v1/collection_cases", headers=auth(key))
        assert denied.status_code == 403
        error = denied.json()["error"]
        assert error["code"] == "permission_denied"
        assert "collection_cases:read" in error["message"]

    async def test_live_key_creates_a_live_token(self, client, account):
        token = (await create(client, account.sk_live)).json()
        assert token["key"].startswith("rk_live_")
        assert token["key_prefix"] == "rk_live_"
        assert token["livemode"] is True

    async def test_type_defaults_to_restricted(self, client, account):
        response = await create(client, account.sk_test, name="Dash", permissions=["events:read"])
        assert response.status_code == 201
        assert response.json()["type"] == "restricted"

    @pytest.mark.parametrize("kind", ["secret", "publishable"])
    async def test_secret_and_publishable_are_the_operators(self, client, account, engine, kind):
        response = await create(
            client, account.sk_test, name="x", type=kind, permissions=["events:read"]
        )
        assert response.status_code == 400
        error = response.json()["error"]
        assert (error["code"], error["param"]) == ("parameter_invalid", "type")
        assert "collection-cases keys create" in error["message"]
        assert await count_tokens(engine, account) == 5

    async def test_unknown_type_422(self, client, account):
        response = await create(
            client, account.sk_test, name="x", type="admin", permissions=["events:read"]
        )
        assert response.status_code == 422
        assert response.json()["error"]["param"] == "type"

    @pytest.mark.parametrize(
        ("body", "status", "code", "param"),
        [
            ({"permissions": ["events:read"]}, 400, "parameter_missing", "name"),
            ({"name": "", "permissions": ["events:read"]}, 422, "parameter_invalid", "name"),
            ({"name": "   ", "permissions": ["events:read"]}, 422, "parameter_invalid", "name"),
            ({"name": "x" * 201, "permissions": ["events:read"]}, 422, "parameter_invalid", "name"),
            (
                {"name": "a\u0000b", "permissions": ["events:read"]},
                422,
                "parameter_invalid",
                "name",
            ),
            ({"name": 7, "permissions": ["events:read"]}, 400, "parameter_invalid", "name"),
            ({"name": "x"}, 400, "parameter_missing", "permissions"),
            ({"name": "x", "type": "restricted"}, 400, "parameter_missing", "permissions"),
            ({"name": "x", "permissions": []}, 422, "parameter_invalid", "permissions"),
            ({"name": "x", "permissions": "events:read"}, 400, "parameter_invalid", "permissions"),
            ({"name": "x", "permissions": [1]}, 400, "parameter_invalid", "permissions.0"),
            (
                {"name": "x", "permissions": ["events:read"], "scope": "all"},
                400,
                "parameter_unknown",
                "scope",
            ),
        ],
    )
    async def test_invalid_bodies(self, client, account, engine, body, status, code, param):
        response = await client.post(URL, json=body, headers=account.headers)
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert (error["code"], error["param"]) == (code, param)
        assert await count_tokens(engine, account) == 5

    @pytest.mark.parametrize(
        "name",
        [
            "collection_cases:delete",
            "unicorns:read",
            "collection_cases",
            "Collection_cases:read",
            " events:read",
            "*",
        ],
    )
    async def test_a_name_in_no_list_is_refused_by_name(self, client, account, engine, name):
        response = await create(
            client, account.sk_test, name="x", permissions=["events:read", name]
        )
        assert response.status_code == 400
        error = response.json()["error"]
        assert (error["code"], error["param"]) == ("parameter_invalid", "permissions")
        assert f"'{name}'" in error["message"]
        assert await count_tokens(engine, account) == 5

    async def test_platform_permissions_are_accepted_and_grant_nothing_here(self, client, account):
        response = await create(
            client, account.sk_test, name="Payments", permissions=["payment_intents:write"]
        )
        assert response.status_code == 201
        key = response.json()["key"]
        for path in ("/v1/events", "/v1/collection_cases", "/v1/collection_partners"):
            assert (await client.get(path, headers=auth(key))).status_code == 403, path

    async def test_permissions_are_deduplicated_in_order(self, client, account):
        response = await create(
            client,
            account.sk_test,
            name="x",
            permissions=["events:read", "case_files:write", "events:read"],
        )
        assert response.json()["permissions"] == ["events:read", "case_files:write"]

    async def test_expires_at(self, client, account):
        later = int(time.time()) + 3600
        response = await create(
            client, account.sk_test, name="x", permissions=["events:read"], expires_at=later
        )
        assert response.status_code == 201
        assert response.json()["expires_at"] == later
        retrieved = await client.get(f"{URL}/{response.json()['id']}", headers=account.headers)
        assert retrieved.json()["expires_at"] == later

    @pytest.mark.parametrize(
        ("offset", "status"), [(-3600, 422), (0, 422), (-(10**10), 422), (10**12, 422)]
    )
    async def test_expires_at_must_be_in_the_future(self, client, account, offset, status):
        response = await create(
            client,
            account.sk_test,
            name="x",
            permissions=["events:read"],
            expires_at=int(time.time()) + offset,
        )
        assert response.status_code == status
        assert response.json()["error"]["param"] == "expires_at"

    @pytest.mark.parametrize("value", ["tomorrow", 1.5e9, True])
    async def test_expires_at_is_a_unix_time(self, client, account, value):
        response = await create(
            client, account.sk_test, name="x", permissions=["events:read"], expires_at=value
        )
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "expires_at"

    async def test_key_is_stored_only_as_a_hash(self, client, account, engine):
        token = (await create(client, account.sk_test)).json()
        row = await stored(engine, token["id"])
        assert token["key"] not in repr(row)
        assert row["key_hash"] == accounts.hash_key(token["key"])

    async def test_idempotent_create(self, client, account, engine):
        headers = {**account.headers, "Idempotency-Key": "make-webhook-key"}
        first = await client.post(URL, json=DOCUMENTED_BODY, headers=headers)
        again = await client.post(URL, json=DOCUMENTED_BODY, headers=headers)
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        assert await count_tokens(engine, account) == 6
        other = await client.post(URL, json={**DOCUMENTED_BODY, "name": "B"}, headers=headers)
        assert other.status_code == 400
        assert other.json()["error"]["type"] == "idempotency_error"

    async def test_restricted_key_cannot_mint_keys_even_with_tokens_write(
        self, client, account, pool, engine
    ):
        holder = await make_token(pool, account, permissions=["tokens:write", "events:write"])
        response = await create(client, holder["key"], name="x", permissions=["events:read"])
        assert response.status_code == 403
        error = response.json()["error"]
        assert error["code"] == "permission_denied"
        assert "Only secret keys manage tokens" in error["message"]
        assert await count_tokens(engine, account) == 6
        # tokens:write still implies tokens:read.
        assert (await client.get(URL, headers=auth(holder["key"]))).status_code == 200

    async def test_publishable_key_cannot_mint_keys(self, client, account):
        response = await create(client, account.pk_test)
        assert response.status_code == 403
        assert "Only secret keys manage tokens" in response.json()["error"]["message"]


async def count_tokens(engine, account) -> int:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        result = await conn.execute(
            text("SELECT count(*) FROM api_keys WHERE account_id = :a"), {"a": account.id}
        )
        return int(result.scalar_one())


class TestRetrieveToken:
    async def test_same_object_without_the_key(self, client, account):
        created = (await create(client, account.sk_test)).json()
        response = await client.get(f"{URL}/{created['id']}", headers=account.headers)
        assert response.status_code == 200
        assert response.json() == {k: v for k, v in created.items() if k != "key"}

    async def test_secret_key_as_a_token(self, client, account):
        listed = (await client.get(URL, headers=account.headers, params={"limit": 100})).json()
        secret = next(t for t in listed["data"] if t["type"] == "secret")
        assert secret["key_prefix"] == "sk_test_" == account.sk_test[:8]
        assert secret["permissions"] == []
        read_only = next(t for t in listed["data"] if t["type"] == "restricted")
        assert read_only["permissions"] == list(ALL_READ)

    @pytest.mark.parametrize("token_id", ["tok_" + "0" * 24, "tok_nope", "key_x", "x" * 300])
    async def test_missing_404(self, client, account, token_id):
        response = await client.get(f"{URL}/{token_id}", headers=account.headers)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "resource_not_found"

    async def test_other_account_and_other_mode_answer_like_missing(
        self, client, account, other_account
    ):
        foreign = (await create(client, other_account.sk_test)).json()["id"]
        live = (await create(client, account.sk_live)).json()["id"]
        missing = "tok_" + "0" * 24
        bodies = []
        for token_id in (foreign, live, missing):
            response = await client.get(f"{URL}/{token_id}", headers=account.headers)
            assert response.status_code == 404
            error = response.json()["error"]
            bodies.append({**error, "message": error["message"].replace(token_id, "ID")})
        assert bodies[0] == bodies[1] == bodies[2]

    async def test_needs_tokens_read(self, client, account, pool):
        created = (await create(client, account.sk_test)).json()
        reader = await make_token(pool, account, permissions=["tokens:read"])
        other = await make_token(pool, account, permissions=["events:write"])
        ok = await client.get(f"{URL}/{created['id']}", headers=auth(reader["key"]))
        assert ok.status_code == 200
        denied = await client.get(f"{URL}/{created['id']}", headers=auth(other["key"]))
        assert denied.status_code == 403
        assert "tokens:read" in denied.json()["error"]["message"]


class TestListTokens:
    async def test_the_accounts_tokens_in_this_mode_newest_first(
        self, client, account, other_account
    ):
        mine = (await create(client, account.sk_test)).json()
        await create(client, other_account.sk_test)
        live = (await create(client, account.sk_live)).json()
        response = await client.get(URL, headers=account.headers)
        assert response.status_code == 200
        page = response.json()
        assert page["object"] == "list"
        assert page["url"] == "/v1/tokens"
        assert page["has_more"] is False
        # The new one, then sk_test, rk_test, pk_test from the factory (made in one
        # transaction: one created time, so in id order).
        assert page["data"][0]["id"] == mine["id"]
        assert sorted(t["type"] for t in page["data"][1:]) == [
            "publishable",
            "restricted",
            "secret",
        ]
        assert [t["id"] for t in page["data"][1:]] == sorted(
            (t["id"] for t in page["data"][1:]), reverse=True
        )
        assert page["data"][0] == {k: v for k, v in mine.items() if k != "key"}
        assert all(set(t) == TOKEN_FIELDS for t in page["data"])
        assert all(t["livemode"] is False for t in page["data"])
        live_page = (await client.get(URL, headers=auth(account.sk_live))).json()
        assert live_page["data"][0]["id"] == live["id"]
        assert {t["type"] for t in live_page["data"]} == {"secret", "restricted"}

    async def test_pages(self, client, account):
        for n in range(3):
            await create(client, account.sk_test, name=f"t{n}", permissions=["events:read"])
        everything = (await client.get(URL, headers=account.headers)).json()["data"]
        assert len(everything) == 6
        first = (await client.get(URL, params={"limit": 2}, headers=account.headers)).json()
        assert [t["id"] for t in first["data"]] == [t["id"] for t in everything[:2]]
        assert first["has_more"] is True
        second = await client.get(
            URL,
            params={"limit": 2, "starting_after": first["data"][-1]["id"]},
            headers=account.headers,
        )
        assert [t["id"] for t in second.json()["data"]] == [t["id"] for t in everything[2:4]]
        back = await client.get(
            URL,
            params={"limit": 2, "ending_before": everything[2]["id"]},
            headers=account.headers,
        )
        assert [t["id"] for t in back.json()["data"]] == [t["id"] for t in everything[:2]]
        future = int(time.time()) + 3600
        none = await client.get(URL, params={"created[gte]": future}, headers=account.headers)
        assert none.json()["data"] == []

    async def test_cursor_from_another_account_is_refused(self, client, account, other_account):
        foreign = (await create(client, other_account.sk_test)).json()["id"]
        response = await client.get(
            URL, params={"starting_after": foreign}, headers=account.headers
        )
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "starting_after"

    async def test_revoked_tokens_are_listed_as_revoked(self, client, account):
        token = (await create(client, account.sk_test)).json()
        await client.post(f"{URL}/{token['id']}/revoke", headers=account.headers)
        listed = (await client.get(URL, headers=account.headers)).json()["data"]
        assert listed[0]["id"] == token["id"]
        assert listed[0]["revoked"] is True

    async def test_unknown_query_parameter(self, client, account):
        response = await client.get(URL, params={"type": "secret"}, headers=account.headers)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "parameter_unknown"


class TestRevokeToken:
    async def test_revoked_key_stops_working(self, client, account):
        token = (await create(client, account.sk_test)).json()
        assert (await client.get("/v1/events", headers=auth(token["key"]))).status_code == 200
        response = await client.post(f"{URL}/{token['id']}/revoke", headers=account.headers)
        assert response.status_code == 200
        revoked = response.json()
        assert set(revoked) == TOKEN_FIELDS
        assert revoked["id"] == token["id"]
        assert revoked["revoked"] is True
        after = await client.get("/v1/events", headers=auth(token["key"]))
        assert after.status_code == 401
        assert after.json()["error"]["type"] == "authentication_error"
        retrieved = await client.get(f"{URL}/{token['id']}", headers=account.headers)
        assert retrieved.json() == revoked

    async def test_revoking_twice_is_a_state_error(self, client, account):
        token = (await create(client, account.sk_test)).json()
        await client.post(f"{URL}/{token['id']}/revoke", headers=account.headers)
        again = await client.post(f"{URL}/{token['id']}/revoke", headers=account.headers)
        assert again.status_code == 400
        assert again.json()["error"]["code"] == "state_invalid"

    async def test_idempotent_revoke_replays(self, client, account):
        token = (await create(client, account.sk_test)).json()
        headers = {**account.headers, "Idempotency-Key": f"revoke-{token['id']}"}
        first = await client.post(f"{URL}/{token['id']}/revoke", headers=headers)
        again = await client.post(f"{URL}/{token['id']}/revoke", headers=headers)
        assert first.status_code == again.status_code == 200
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"

    async def test_other_accounts_and_modes_tokens_are_not_found(
        self, client, account, other_account
    ):
        foreign = (await create(client, other_account.sk_test)).json()
        live = (await create(client, account.sk_live)).json()
        for token in (foreign, live):
            response = await client.post(f"{URL}/{token['id']}/revoke", headers=account.headers)
            assert response.status_code == 404
            assert (await client.get("/v1/events", headers=auth(token["key"]))).status_code == 200

    async def test_restricted_key_cannot_revoke(self, client, account, pool):
        token = (await create(client, account.sk_test)).json()
        holder = await make_token(pool, account, permissions=["tokens:write"])
        response = await client.post(f"{URL}/{token['id']}/revoke", headers=auth(holder["key"]))
        assert response.status_code == 403
        assert "Only secret keys manage tokens" in response.json()["error"]["message"]
        assert (await client.get("/v1/events", headers=auth(token["key"]))).status_code == 200

    async def test_a_secret_key_can_revoke_itself(self, client, account):
        listed = (await client.get(URL, headers=account.headers)).json()["data"]
        own = next(t for t in listed if t["type"] == "secret")
        response = await client.post(f"{URL}/{own['id']}/revoke", headers=account.headers)
        assert response.status_code == 200
        assert (await client.get(URL, headers=account.headers)).status_code == 401

    async def test_unknown_body_parameter(self, client, account):
        token = (await create(client, account.sk_test)).json()
        response = await client.post(
            f"{URL}/{token['id']}/revoke", json={"reason": "x"}, headers=account.headers
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "parameter_unknown"


class TestExpiry:
    async def test_expired_key_is_401_like_a_revoked_one(self, client, account, pool, engine):
        token = await make_token(
            pool, account, permissions=["events:read"], expires_at=int(time.time()) + 3600
        )
        assert (await client.get("/v1/events", headers=auth(token["key"]))).status_code == 200
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = :i"),
                {"i": token["id"]},
            )
        response = await client.get("/v1/events", headers=auth(token["key"]))
        assert response.status_code == 401
        error = response.json()["error"]
        assert (error["type"], error["code"]) == ("authentication_error", "api_key_invalid")
        shown = await client.get(f"{URL}/{token['id']}", headers=account.headers)
        assert shown.json()["revoked"] is False
        assert shown.json()["expires_at"] <= time.time()

    async def test_a_cached_key_stops_at_its_expiry(self, settings, pool, account):
        app = create_app(settings.model_copy(update={"key_cache_seconds": 60.0}), pool=pool)
        expires_at = int(time.time()) + 2
        token = await make_token(pool, account, permissions=["events:read"], expires_at=expires_at)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            headers = auth(token["key"])
            assert (await client.get("/v1/events", headers=headers)).status_code == 200
            await asyncio.sleep(max(0.0, expires_at - time.time()) + 0.1)
            # The cache would remember the key for a minute; its expiry comes first.
            assert (await client.get("/v1/events", headers=headers)).status_code == 401


class TestLastUsed:
    async def test_kept_to_the_minute_without_a_write_per_request(
        self, client, account, pool, engine
    ):
        token = await make_token(pool, account, permissions=["events:read"])
        path = f"{URL}/{token['id']}"
        assert (await client.get(path, headers=account.headers)).json()["last_used_at"] is None
        used = int(time.time())
        assert (await client.get("/v1/events", headers=auth(token["key"]))).status_code == 200
        first = (await client.get(path, headers=account.headers)).json()["last_used_at"]
        assert used - 1 <= first <= time.time()

        async def set_last_used(seconds_ago: int) -> None:
            async with engine.begin() as conn:
                await conn.execute(
                    text(
                        "UPDATE api_keys SET last_used_at = now() - make_interval(secs => :s) "
                        "WHERE id = :i"
                    ),
                    {"s": seconds_ago, "i": token["id"]},
                )

        # Less than a minute old: using the key writes nothing.
        await set_last_used(30)
        recent = (await client.get(path, headers=account.headers)).json()["last_used_at"]
        for _ in range(3):
            assert (await client.get("/v1/events", headers=auth(token["key"]))).status_code == 200
        assert (await client.get(path, headers=account.headers)).json()["last_used_at"] == recent
        # Over a minute old: the next use brings it up to date.
        await set_last_used(120)
        assert (await client.get("/v1/events", headers=auth(token["key"]))).status_code == 200
        now = (await client.get(path, headers=account.headers)).json()["last_used_at"]
        assert time.time() - 2 <= now <= time.time()

    async def test_a_refused_key_is_not_marked_used(self, client, account, pool):
        token = await make_token(pool, account, permissions=["events:read"])
        await client.post(f"{URL}/{token['id']}/revoke", headers=account.headers)
        assert (await client.get("/v1/events", headers=auth(token["key"]))).status_code == 401
        shown = (await client.get(f"{URL}/{token['id']}", headers=account.headers)).json()
        assert shown["last_used_at"] is None
