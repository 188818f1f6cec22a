"""Idempotency-Key on every POST: replay, conflicts, concurrency, failures not stored."""

from __future__ import annotations

import asyncio
import secrets

from sqlalchemy import text

from tests.factories import case_body, count_cases, make_case
from tests.files.conftest import PDF

URL = "/v1/collection_cases"


def with_key(account, key):  # type: ignore[no-untyped-def]
    return {**account.headers, "Idempotency-Key": key}


class TestIdempotency:
    async def test_retry_replays_the_first_response(self, client, account, engine):
        key = secrets.token_hex(8)
        first = await client.post(URL, json=case_body(), headers=with_key(account, key))
        again = await client.post(URL, json=case_body(), headers=with_key(account, key))
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        assert "idempotent-replayed" not in first.headers
        assert await count_cases(engine, account) == 1
        async with engine.connect() as conn:
            keys = (
                (
                    await conn.execute(
                        text("SELECT DISTINCT idempotency_key FROM events WHERE account_id = :a"),
                        {"a": account.id},
                    )
                )
                .scalars()
                .all()
            )
        assert keys == [key]

    async def test_same_key_other_parameters(self, client, account):
        key = secrets.token_hex(8)
        await client.post(URL, json=case_body(), headers=with_key(account, key))
        other = await client.post(
            URL, json=case_body(amount_to_recover=5), headers=with_key(account, key)
        )
        assert other.status_code == 400
        assert other.json()["error"]["type"] == "idempotency_error"
        other_path = await client.post(
            f"{URL}/{secrets.token_hex(4)}/pause", headers=with_key(account, key)
        )
        assert other_path.status_code in (400, 404)

    async def test_failed_request_is_not_stored(self, client, account, engine):
        key = secrets.token_hex(8)
        bad = await client.post(URL, json=case_body(currency="xyz"), headers=with_key(account, key))
        assert bad.status_code == 422
        good = await client.post(
            URL, json=case_body(currency="xyz"), headers=with_key(account, key)
        )
        assert good.status_code == 422  # the same failing request is simply run again
        fixed = await client.post(URL, json=case_body(), headers=with_key(account, key))
        assert fixed.status_code == 201
        assert await count_cases(engine, account) == 1

    async def test_keys_are_per_account_and_mode(self, client, account, other_account, engine):
        key = secrets.token_hex(8)
        a = await client.post(URL, json=case_body(), headers=with_key(account, key))
        b = await client.post(URL, json=case_body(), headers=with_key(other_account, key))
        live = await client.post(
            URL,
            json=case_body(),
            headers={"Authorization": f"Bearer {account.sk_live}", "Idempotency-Key": key},
        )
        assert len({a.json()["id"], b.json()["id"], live.json()["id"]}) == 3

    async def test_fifty_concurrent_identical_requests_make_one_case(self, client, account, engine):
        key = secrets.token_hex(8)
        results = await asyncio.gather(
            *(client.post(URL, json=case_body(), headers=with_key(account, key)) for _ in range(50))
        )
        statuses = [r.status_code for r in results]
        assert set(statuses) <= {201, 409}, statuses
        for r in results:
            if r.status_code == 409:
                assert r.json()["error"]["type"] == "idempotency_error"
                assert r.json()["error"]["code"] == "idempotency_key_in_use"
        assert len({r.json()["id"] for r in results if r.status_code == 201}) == 1
        assert await count_cases(engine, account) == 1
        # Once the first has finished, every retry replays it.
        replay = await client.post(URL, json=case_body(), headers=with_key(account, key))
        assert replay.status_code == 201

    async def test_fifty_concurrent_different_keys_make_fifty_cases(self, client, account, engine):
        results = await asyncio.gather(
            *(
                client.post(URL, json=case_body(), headers=with_key(account, secrets.token_hex(8)))
                for _ in range(50)
            )
        )
        assert [r.status_code for r in results] == [201] * 50
        assert len({r.json()["reference"] for r in results}) == 50
        assert await count_cases(engine, account) == 50

    async def test_key_validation_and_get_ignores_it(self, client, account):
        r = await client.post(URL, json=case_body(), headers=with_key(account, "k" * 256))
        assert r.status_code == 400
        assert r.json()["error"]["param"] == "Idempotency-Key"
        r = await client.get(URL, headers=with_key(account, "k" * 300))
        assert r.status_code == 200

    async def test_actions_and_helpers_replay(self, client, account):
        case = await make_case(client, account)
        key = secrets.token_hex(8)
        pay = f"/v1/test_helpers/collection_cases/{case['id']}/record_payment"
        first = await client.post(pay, json={"amount": 1000}, headers=with_key(account, key))
        again = await client.post(pay, json={"amount": 1000}, headers=with_key(account, key))
        assert again.json() == first.json()
        now = await client.get(f"{URL}/{case['id']}", headers=account.headers)
        assert now.json()["remainder"] == 359_000

    async def test_multipart_upload_replays(self, client, account, engine):
        case = await make_case(client, account)
        key = secrets.token_hex(8)

        async def upload():  # type: ignore[no-untyped-def]
            return await client.post(
                f"{URL}/{case['id']}/files",
                files={"file": ("a.pdf", PDF)},
                data={"document_type": "miscellaneous"},
                headers=with_key(account, key),
            )

        first, again = await upload(), await upload()
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        async with engine.connect() as conn:
            n = (
                await conn.execute(
                    text("SELECT count(*) FROM case_files WHERE account_id=:a"), {"a": account.id}
                )
            ).scalar_one()
        assert n == 1

    async def test_old_keys_are_purged(self, client, account, engine, pool):
        from collection_cases.idempotency.service import purge

        key = secrets.token_hex(8)
        await client.post(URL, json=case_body(), headers=with_key(account, key))
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE idempotency_keys SET created_at = now() - "
                    "interval '25 hours' WHERE key = :k"
                ),
                {"k": key},
            )
        async with pool.connection() as conn:
            assert await purge(conn) >= 1
        second = await client.post(URL, json=case_body(), headers=with_key(account, key))
        assert "idempotent-replayed" not in second.headers
        assert await count_cases(engine, account) == 2


async def _stored_body(engine, account, key: str) -> bytes:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        return bytes(
            (
                await conn.execute(
                    text(
                        "SELECT response_body FROM idempotency_keys "
                        "WHERE account_id = :a AND key = :k"
                    ),
                    {"a": account.id, "k": key},
                )
            ).scalar_one()
        )


class TestStoredResponsesAtRest:
    """A stored first response can carry a secret shown once: it is sealed, never in clear."""

    async def test_a_new_tokens_key_is_not_stored_in_clear(self, client, account, engine):
        key = secrets.token_hex(8)
        body = {"name": "ci", "type": "restricted", "permissions": ["events:read"]}
        first = await client.post("/v1/tokens", json=body, headers=with_key(account, key))
        assert first.status_code == 201, first.text
        secret = first.json()["key"]
        stored = await _stored_body(engine, account, key)
        assert stored.startswith(b"cc1.")
        assert secret.encode() not in stored
        assert first.json()["id"].encode() not in stored  # nothing of the body shows
        again = await client.post("/v1/tokens", json=body, headers=with_key(account, key))
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()  # the retry still gets the key it never saw

    async def test_a_webhook_secret_is_not_stored_in_clear(self, client, account, engine):
        key = secrets.token_hex(8)
        body = {"url": "https://hooks.example.com/a", "enabled_events": ["*"]}
        url = "/v1/webhook_endpoints"
        first = await client.post(url, json=body, headers=with_key(account, key))
        assert first.status_code == 201, first.text
        assert first.json()["secret"].encode() not in await _stored_body(engine, account, key)
        again = await client.post(url, json=body, headers=with_key(account, key))
        assert again.json()["secret"] == first.json()["secret"]
        await client.delete(f"{url}/{first.json()['id']}", headers=account.headers)

    async def test_a_sealed_response_moved_to_another_key_does_not_replay(
        self, client, account, engine
    ):
        a, b = secrets.token_hex(8), secrets.token_hex(8)
        await client.post(URL, json=case_body(), headers=with_key(account, a))
        await client.post(URL, json=case_body(), headers=with_key(account, b))
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE idempotency_keys SET response_body = (SELECT response_body FROM "
                    "idempotency_keys WHERE account_id = :acc AND key = :a) "
                    "WHERE account_id = :acc AND key = :b"
                ),
                {"acc": account.id, "a": a, "b": b},
            )
        # Tampering is not a replay: the server refuses (and logs it), and makes nothing new.
        moved = await client.post(URL, json=case_body(), headers=with_key(account, b))
        assert moved.status_code == 500
        error = moved.json()["error"]
        assert (error["type"], error["code"]) == ("api_error", "idempotency_response_unreadable")
        assert "look the object up" in error["message"]
        assert await count_cases(engine, account) == 2

    async def test_an_altered_status_does_not_replay(self, client, account, engine):
        key = secrets.token_hex(8)
        await client.post(URL, json=case_body(), headers=with_key(account, key))
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE idempotency_keys SET response_status = 200 "
                    "WHERE account_id = :a AND key = :k"
                ),
                {"a": account.id, "k": key},
            )
        again = await client.post(URL, json=case_body(), headers=with_key(account, key))
        assert again.status_code == 500
        assert again.json()["error"]["code"] == "idempotency_response_unreadable"

    async def test_a_response_stored_before_sealing_still_replays(self, client, account, engine):
        key = secrets.token_hex(8)
        first = await client.post(URL, json=case_body(), headers=with_key(account, key))
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE idempotency_keys SET response_body = :body "
                    "WHERE account_id = :a AND key = :k"
                ),
                {"body": first.content, "a": account.id, "k": key},
            )
        again = await client.post(URL, json=case_body(), headers=with_key(account, key))
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
