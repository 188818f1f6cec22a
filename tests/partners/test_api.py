"""Partners, coverage and previews over HTTP."""

from __future__ import annotations

import pytest

from tests.factories import DELETE, auth, case_body, count_cases


class TestPartners:
    async def test_list_and_filter(self, client, account):
        r = await client.get(
            "/v1/collection_partners", params={"country": "at"}, headers=auth(account.pk_test)
        )
        assert r.status_code == 200
        body = r.json()
        assert body["object"] == "list"
        assert [p["id"] for p in body["data"]] == ["cp_partner_de_01"]
        p = body["data"][0]
        assert set(p) == {
            "id",
            "object",
            "name",
            "email",
            "phone",
            "site",
            "countries",
            "specializations",
            "success_rate",
            "avg_resolution_days",
        }
        assert p["countries"] == ["DE", "AT", "CH"]
        # As the partners page documents: the debtor types it takes.
        assert p["specializations"] == ["private", "company"]
        assert p["success_rate"] == 0.73
        assert p["avg_resolution_days"] == 45

    async def test_retrieve(self, client, account):
        r = await client.get("/v1/collection_partners/cp_partner_de_01", headers=account.headers)
        assert r.json()["name"] == "CollectMax GmbH"
        r = await client.get("/v1/collection_partners/cp_nope", headers=account.headers)
        assert r.status_code == 404


class TestCoverage:
    async def test_country(self, client, account):
        r = await client.get("/v1/collection_coverage/DE", headers=account.headers)
        c = r.json()
        assert c["country"] == "DE"
        assert c["country_name"] == "Germany"
        assert c["available_partners"] == 2
        assert c["debtor_types"] == ["private", "company"]
        assert c["status"] == "available"
        assert c["avg_success_fee_pct"] == 11.25
        assert (c["min_amount"], c["max_amount"]) == (5000, 100000000)

    async def test_unsupported_and_unknown(self, client, account):
        r = await client.get("/v1/collection_coverage/us", headers=account.headers)
        assert r.status_code == 200
        assert r.json()["status"] == "unavailable"
        assert r.json()["available_partners"] == 0
        assert (
            await client.get("/v1/collection_coverage/XX", headers=account.headers)
        ).status_code == 404
        assert r.json()["country"] == "US"

    async def test_list(self, client, account):
        data = (
            await client.get("/v1/collection_coverage?limit=100", headers=account.headers)
        ).json()
        countries = [c["country"] for c in data["data"]]
        assert {"DE", "AT", "CH", "FR", "SE"} <= set(countries)
        by_country = {c["country"]: c for c in data["data"]}
        # One partner taking both debtor types makes a country available...
        assert by_country["AT"]["status"] == "available"
        # ...one taking companies only leaves it limited (as the coverage page shows Spain).
        assert by_country["ES"]["status"] == "limited"
        assert by_country["ES"]["debtor_types"] == ["company"]


class TestPreviews:
    async def test_documented_body(self, client, account, engine):
        r = await client.post(
            "/v1/collection_case_previews", json=case_body(), headers=account.headers
        )
        assert r.status_code == 200, r.text
        p = r.json()
        assert p["is_eligible"] is True
        assert p["ineligibility_reason"] is None
        assert p["partner_assignment"] == {
            "partner_id": "cp_partner_de_01",
            "partner_name": "CollectMax GmbH",
            "partner_country": "DE",
        }
        assert p["required_actions"] == []
        assert p["pricing_preview"] == {
            "base_success_fee_pct": 12.5,
            "age_surcharge_pct": 12.0,
            "total_success_fee_pct": 24.5,
        }
        assert await count_cases(engine, account) == 0

    async def test_missing_contact_details_are_actions_not_blocking(self, client, account):
        r = await client.post(
            "/v1/collection_case_previews",
            json=case_body(debtor__email=DELETE, debtor__phone=DELETE),
            headers=account.headers,
        )
        p = r.json()
        assert p["is_eligible"] is True
        (action,) = p["required_actions"]
        assert action["type"] == "provide_contact_details"
        # Create accepts the case (it waits in needs_details): submission is not blocked.
        assert action["is_blocking"] is False
        assert action["solution_url"] == "http://testserver/redoc#operation/create_collection_case"

    async def test_ineligible(self, client, account):
        r = await client.post(
            "/v1/collection_case_previews",
            json=case_body(debtor__address__country="US", debtor__phone="+1 212 555 0100"),
            headers=account.headers,
        )
        p = r.json()
        assert p["is_eligible"] is False
        assert "US" in p["ineligibility_reason"]
        assert p["partner_assignment"] is None
        assert p["pricing_preview"] is None

    @pytest.mark.parametrize("body", [{"currency": "xyz"}, {"surprise": 1}])
    async def test_same_validation_as_create(self, client, account, body):
        r = await client.post(
            "/v1/collection_case_previews", json=case_body(**body), headers=account.headers
        )
        assert r.status_code in (400, 422)

    async def test_quickstart_body_without_address(self, client, account):
        """Quickstart step 1, as documented: debtor with type, name, email, country only."""
        body = {
            "amount_to_recover": 360000,
            "currency": "eur",
            "debtor": {
                "type": "private",
                "name": "John Smith",
                "email": "john.smith@example.com",
                "country": "DE",
            },
            "due_date": "2024-11-01",
        }
        r = await client.post("/v1/collection_case_previews", json=body, headers=account.headers)
        assert r.status_code == 200, r.text
        p = r.json()
        assert p["is_eligible"] is True
        assert p["partner_assignment"]["partner_id"] == "cp_partner_de_01"
        # Create will need the address: an action that blocks submission, not a 400.
        assert [(a["type"], a["is_blocking"]) for a in p["required_actions"]] == [
            ("provide_address", True)
        ]
        assert p["pricing_preview"]["base_success_fee_pct"] == 12.5

    async def test_company_without_contact_or_address(self, client, account):
        body = {
            "amount_to_recover": 80000,
            "currency": "EUR",
            "debtor": {"type": "company", "name": "Acme GmbH", "country": "de"},
            "due_date": "2025-06-30",
        }
        r = await client.post("/v1/collection_case_previews", json=body, headers=account.headers)
        assert r.status_code == 200, r.text
        actions = [(a["type"], a["is_blocking"]) for a in r.json()["required_actions"]]
        assert actions == [
            ("provide_address", True),
            ("provide_contact_details", False),
            ("provide_contact_person", False),
        ]

    async def test_country_is_required_somewhere(self, client, account):
        body = {
            "amount_to_recover": 1000,
            "currency": "eur",
            "debtor": {"type": "private", "name": "X"},
            "due_date": "2025-01-01",
        }
        r = await client.post("/v1/collection_case_previews", json=body, headers=account.headers)
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "parameter_missing"
        assert r.json()["error"]["param"] == "debtor.country"

    async def test_idempotency_key_replays_a_preview(self, client, account):
        headers = {**account.headers, "Idempotency-Key": "preview-1"}
        first = await client.post("/v1/collection_case_previews", json=case_body(), headers=headers)
        again = await client.post("/v1/collection_case_previews", json=case_body(), headers=headers)
        assert first.status_code == again.status_code == 200
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        other = await client.post(
            "/v1/collection_case_previews",
            json=case_body(amount_to_recover=1000),
            headers=headers,
        )
        assert (other.status_code, other.json()["error"]["type"]) == (400, "idempotency_error")
