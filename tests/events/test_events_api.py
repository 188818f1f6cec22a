"""GET /v1/events and /v1/events/:id."""

from __future__ import annotations

from tests.factories import auth, make_case


class TestEvents:
    async def test_list_filter_and_retrieve(self, client, account):
        case = await make_case(client, account)
        await client.post(f"/v1/collection_cases/{case['id']}/close", headers=account.headers)
        body = (await client.get("/v1/events", headers=account.headers)).json()
        types = [e["type"] for e in body["data"]]
        assert types == [
            "collection_case.closed",
            "collection_case.updated",
            "collection_case.active",
            "collection_case.created",
        ]
        e = body["data"][-1]
        assert e["object"] == "event"
        assert e["livemode"] is False
        assert e["api_version"] == "2025-01-15"
        assert e["pending_webhooks"] == 0
        assert e["data"]["object"]["id"] == case["id"]
        assert e["request"]["id"].startswith("req_")
        one = await client.get(f"/v1/events/{e['id']}", headers=account.headers)
        assert one.json() == e
        closed = (
            await client.get(
                "/v1/events", params={"type": "collection_case.closed"}, headers=account.headers
            )
        ).json()
        assert [x["type"] for x in closed["data"]] == ["collection_case.closed"]
        family = (
            await client.get(
                "/v1/events", params={"type": "collection_case.*"}, headers=account.headers
            )
        ).json()
        assert len(family["data"]) == 4
        updated = [x for x in body["data"] if x["type"] == "collection_case.updated"][0]
        assert updated["data"]["previous_attributes"]["status"] == "active"

    async def test_pagination_and_validation(self, client, account):
        for _ in range(3):
            await make_case(client, account)
        first = (
            await client.get("/v1/events", params={"limit": 4}, headers=account.headers)
        ).json()
        assert first["has_more"] is True
        rest = (
            await client.get(
                "/v1/events",
                params={"starting_after": first["data"][-1]["id"]},
                headers=account.headers,
            )
        ).json()
        assert len(first["data"]) + len(rest["data"]) == 6
        bad = await client.get("/v1/events", params={"type": "nope"}, headers=account.headers)
        assert bad.status_code == 422

    async def test_isolation(self, client, account, other_account):
        await make_case(client, account)
        theirs = (await client.get("/v1/events", headers=other_account.headers)).json()
        assert theirs["data"] == []
        live = (await client.get("/v1/events", headers=auth(account.sk_live))).json()
        assert live["data"] == []
        mine = (await client.get("/v1/events", headers=account.headers)).json()["data"][0]
        r = await client.get(f"/v1/events/{mine['id']}", headers=other_account.headers)
        assert r.status_code == 404
