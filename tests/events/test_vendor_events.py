"""What platform/events, webhook-endpoints and versioning document: the event's api_version,
livemode, pending_webhooks and request; types[] and delivery_success; the event catalog; the
CasaPay-Version header, account defaults and versioned webhook payloads."""

from __future__ import annotations

import pytest

from collection_cases import cli
from collection_cases.config import get_settings
from tests.events.test_webhooks import EP, drain, endpoint, worker
from tests.factories import auth, helper, make_case

EVENTS = "/v1/events"


async def events(client, account, version=None, **params):  # type: ignore[no-untyped-def]
    headers = dict(account.headers)
    if version:
        headers["CasaPay-Version"] = version
    r = await client.get(EVENTS, params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r


class TestEventObject:
    async def test_current_version_shape(self, client, account):
        case = await make_case(client, account)
        r = await events(client, account)
        assert r.headers["casapay-version"] == "2025-01-15"
        created = r.json()["data"][-1]
        assert list(created) == [
            "id",
            "object",
            "type",
            "api_version",
            "created",
            "data",
            "is_test",
            "livemode",
            "pending_webhooks",
            "request",
        ]
        assert created["api_version"] == "2025-01-15"
        assert created["livemode"] is False
        assert created["is_test"] is True  # SPEC's field stays beside the page's
        assert created["pending_webhooks"] == 0
        assert created["request"]["id"].startswith("req_")
        assert created["data"]["object"]["id"] == case["id"]
        live = (await client.get(EVENTS, headers=auth(account.sk_live))).json()
        assert live["data"] == []
        await make_case(client, account, key=account.sk_live)
        live = (await client.get(EVENTS, headers=auth(account.sk_live))).json()
        assert {(e["livemode"], e["is_test"]) for e in live["data"]} == {(True, False)}

    async def test_partner_side_changes_name_no_request(self, client, account):
        case = await make_case(client, account, due_date="2025-06-01")
        r = await helper(client, account, case["id"], "record_payment", amount=1000)
        assert r.status_code == 201
        paid = (await events(client, account, type="debt_payment.created")).json()["data"]
        assert paid[0]["request"] == {"id": None, "idempotency_key": None}
        created = (await events(client, account, type="collection_case.created")).json()["data"]
        assert created[0]["request"]["id"].startswith("req_")

    async def test_idempotency_key_of_the_causing_request(self, client, account):
        headers = {**account.headers, "Idempotency-Key": "evt-key-1"}
        from tests.factories import case_body

        r = await client.post("/v1/collection_cases", json=case_body(), headers=headers)
        assert r.status_code == 201
        created = (await events(client, account, type="collection_case.created")).json()["data"]
        assert created[0]["request"]["idempotency_key"] == "evt-key-1"
        assert created[0]["request"]["id"] == r.headers["request-id"]

    async def test_pending_webhooks_counts_enabled_unacknowledged_endpoints(
        self, client, account, pool, receiver
    ):
        await endpoint(client, account, receiver.url)
        dead = await endpoint(client, account, "http://127.0.0.1:9/nothing-listens")
        off = await endpoint(client, account, receiver.url)
        await client.post(f"{EP}/{off['id']}", json={"status": "disabled"}, headers=account.headers)
        await make_case(client, account)
        before = (await events(client, account, type="collection_case.created")).json()["data"]
        assert before[0]["pending_webhooks"] == 2  # the disabled endpoint does not count
        await drain(worker(pool, timeout=0.5), rounds=3)
        after = (await events(client, account, type="collection_case.created")).json()["data"]
        assert after[0]["pending_webhooks"] == 1  # the dead endpoint still owes an answer
        # Workers serve every account: leave nothing due for other tests' workers.
        await client.delete(f"{EP}/{dead['id']}", headers=account.headers)


class TestListFilters:
    async def test_types_array_and_catalogued_types(self, client, account):
        case = await make_case(client, account)
        await client.post(f"/v1/collection_cases/{case['id']}/pause", headers=account.headers)
        r = await client.get(
            f"{EVENTS}?types[]=collection_case.paused&types[]=collection_case.created",
            headers=account.headers,
        )
        assert [e["type"] for e in r.json()["data"]] == [
            "collection_case.paused",
            "collection_case.created",
        ]
        # Another product's documented type: a valid filter that matches nothing here.
        r = await client.get(
            EVENTS,
            params={"type": "payment_intent.succeeded", "limit": 25},
            headers=account.headers,
        )
        assert r.status_code == 200
        assert r.json()["data"] == []
        r = await client.get(EVENTS, params={"types[]": "score_request.*"}, headers=account.headers)
        assert (r.status_code, r.json()["data"]) == (200, [])

    @pytest.mark.parametrize(
        ("query", "status", "param"),
        [
            ({"type": "nope.never"}, 422, "type"),
            ({"types[]": ["collection_case.created", "nope.never"]}, 422, "types"),
            ({"type": "collection_case.created", "types[]": "debt_payment.created"}, 400, "types"),
            ({"delivery_success": "perhaps"}, 400, "delivery_success"),
        ],
    )
    async def test_refused_filters(self, client, account, query, status, param):
        r = await client.get(EVENTS, params=query, headers=account.headers)
        assert r.status_code == status
        assert r.json()["error"]["param"] == param

    async def test_delivery_success(self, client, account, pool, receiver):
        no_endpoint = await make_case(client, account)
        await endpoint(client, account, receiver.url)
        receiver.script = [(500, 0.0)]  # answer 500 until told otherwise
        case = await make_case(client, account)
        await drain(worker(pool), rounds=2)
        undelivered = (await events(client, account, delivery_success="false")).json()["data"]
        assert {e["data"]["object"]["id"] for e in undelivered} == {case["id"]}
        delivered = (await events(client, account, delivery_success="true")).json()["data"]
        assert {e["data"]["object"]["id"] for e in delivered} == {no_endpoint["id"]}
        receiver.script = [(200, 0.0)]
        await drain(worker(pool), rounds=6)
        undelivered = (await events(client, account, delivery_success="false")).json()["data"]
        assert undelivered == []


class TestWebhookEndpointsAsDocumented:
    async def test_the_pages_examples_subscribe_to_other_products_events(self, client, account):
        body = {
            "url": "https://your-app.com/webhooks/casapay",
            "enabled_events": [
                "payment_intent.succeeded",
                "payment_intent.payment_failed",
                "invoice.paid",
            ],
            "description": "Production payment events",
        }
        r = await client.post(EP, json=body, headers=account.headers)
        assert r.status_code == 201, r.text
        we = r.json()
        assert (we["status"], we["api_version"]) == ("enabled", "2025-01-15")
        assert we["secret"].startswith("whsec_")
        r = await client.post(
            EP,
            json={
                "url": "https://your-app.com/webhooks/casapay",
                "enabled_events": [
                    "payment_intent.succeeded",
                    "payment_intent.failed",
                    "verification_session.completed",
                    "invoice.paid",
                ],
            },
            headers=account.headers,
        )
        assert r.status_code == 201, r.text

    async def test_unknown_type_and_version_are_refused(self, client, account):
        r = await client.post(
            EP,
            json={"url": "https://example.com/h", "enabled_events": ["payment_intent.exploded"]},
            headers=account.headers,
        )
        assert (r.status_code, r.json()["error"]["param"]) == (422, "enabled_events")
        r = await client.post(
            EP,
            json={
                "url": "https://example.com/h",
                "enabled_events": ["*"],
                "api_version": "2023-01-01",
            },
            headers=account.headers,
        )
        assert (r.status_code, r.json()["error"]["param"]) == (422, "api_version")

    async def test_payload_rendered_with_the_endpoints_version(
        self, client, account, pool, receiver
    ):
        old = await client.post(
            EP,
            json={
                "url": receiver.url,
                "enabled_events": ["collection_case.created"],
                "api_version": "2024-11-01",
            },
            headers=account.headers,
        )
        assert old.json()["api_version"] == "2024-11-01"
        await endpoint(client, account, receiver.url, ["collection_case.created"])
        await make_case(client, account)
        await drain(worker(pool), rounds=4)
        shapes = sorted(
            (r.event.get("api_version", "none"), "livemode" in r.event, "is_test" in r.event)
            for r in receiver.received
        )
        assert shapes == [("2025-01-15", True, True), ("none", False, True)]


class TestVersions:
    async def test_header_selects_the_version(self, client, account):
        await make_case(client, account)
        r = await events(client, account, version="2024-11-01")
        assert r.headers["casapay-version"] == "2024-11-01"
        old = r.json()["data"][0]
        assert "api_version" not in old
        assert "livemode" not in old
        assert old["is_test"] is True
        r = await client.get(
            "/v1/collection_cases", headers={**account.headers, "CasaPay-Version": "2025-01-15"}
        )
        assert r.headers["casapay-version"] == "2025-01-15"

    async def test_unknown_version_is_400_listing_the_known(self, client, account):
        r = await client.get(
            "/v1/collection_cases", headers={**account.headers, "CasaPay-Version": "2019-01-01"}
        )
        assert r.status_code == 400
        error = r.json()["error"]
        assert (error["code"], error["param"]) == ("api_version_invalid", "CasaPay-Version")
        assert "2024-11-01, 2025-01-15" in error["message"]

    async def test_account_default_set_with_the_cli(
        self, client, account, monkeypatch, database_url, capsys
    ):
        import asyncio

        monkeypatch.setenv("DATABASE_URL", database_url)
        get_settings.cache_clear()
        try:
            args = ["accounts", "set-version", "--account", account.name, "--version"]
            assert await asyncio.to_thread(cli.main, [*args, "2024-11-01"]) == 0
            assert await asyncio.to_thread(cli.main, [*args, "1999-01-01"]) == 2
            assert "known versions: 2024-11-01, 2025-01-15" in capsys.readouterr().out
        finally:
            get_settings.cache_clear()
        await make_case(client, account)
        r = await events(client, account)
        assert r.headers["casapay-version"] == "2024-11-01"
        assert "livemode" not in r.json()["data"][0]
        # A header still wins over the account's default.
        r = await events(client, account, version="2025-01-15")
        assert r.json()["data"][0]["api_version"] == "2025-01-15"
        # Endpoints without a version of their own follow the account.
        we = await endpoint(client, account, "https://example.com/h")
        assert we["api_version"] == "2024-11-01"
