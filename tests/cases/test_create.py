"""POST /v1/collection_cases: the documented sample, verification outcomes, every rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from collection_cases import ids
from tests.factories import DELETE, auth, case_body, count_cases, make_case

URL = "/v1/collection_cases"


class TestCreateDocumentedSample:
    async def test_documented_request_is_active_with_collectmax(self, client, account):
        response = await client.post(URL, json=case_body(), headers=account.headers)
        assert response.status_code == 201
        case = response.json()
        assert case["object"] == "collection_case"
        assert case["id"].startswith("dc_")
        assert len(case["id"]) == 35
        assert ids.decode("dc", case["id"]).version == 7
        assert len(case["reference"]) == 8
        assert case["reference"].isalnum()
        assert case["reference"] == case["reference"].upper()
        assert case["status"] == "active"
        assert case["close_code"] is None
        assert case["amount_to_recover"] == 360000
        assert case["remainder"] == 360000
        assert case["currency"] == "eur"
        assert case["collection_partner"] == {
            "id": "cp_partner_de_01",
            "name": "CollectMax GmbH",
            "email": "cases@collectmax.de",
            "phone": "+49 30 1234567",
            "site": "https://collectmax.de",
        }
        assert case["debtor"]["name"] == "John Smith"
        assert case["debtor"]["country"] == "DE"
        assert case["debtor"]["address"]["line1"] == "Friedrichstraße 123"
        assert case["debtor"]["phone"] == "+49 170 1234567"
        assert case["creditor_reference"] == "INV-2024-0892"
        assert case["due_date"] == 1730419200
        assert case["is_test"] is True
        assert case["metadata"] == {}
        assert case["requirements"] == []
        assert abs(case["created"] - datetime.now(UTC).timestamp()) < 60

    async def test_response_is_exactly_what_retrieve_returns(self, client, account):
        created = await make_case(client, account, metadata={"property_id": "prop_456"})
        fetched = await client.get(f"{URL}/{created['id']}", headers=account.headers)
        assert fetched.json() == created

    async def test_live_key_creates_live_case(self, client, account):
        case = await make_case(client, account, key=account.sk_live)
        assert case["is_test"] is False

    async def test_row_and_events_written(self, client, account, engine):
        case = await make_case(client, account)
        uid = ids.decode("dc", case["id"])
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text("SELECT account_id, is_test, status FROM collection_cases WHERE id=:i"),
                    {"i": uid},
                )
            ).one()
            events = (
                await conn.execute(
                    text(
                        "SELECT type, data FROM events WHERE account_id=:a ORDER BY created_at, id"
                    ),
                    {"a": account.id},
                )
            ).all()
        assert (row.account_id, row.is_test, row.status) == (account.id, True, "active")
        assert [e.type for e in events] == ["collection_case.created", "collection_case.active"]
        assert events[0].data["object"] == case

    async def test_metadata_kept(self, client, account):
        case = await make_case(
            client, account, metadata={"property_id": "prop_456", "tenant_id": "ten_789"}
        )
        assert case["metadata"] == {"property_id": "prop_456", "tenant_id": "ten_789"}

    async def test_currency_any_case_in_lower_out_and_country_upper(self, client, account):
        case = await make_case(client, account, currency="EuR", debtor__address__country="de")
        assert case["currency"] == "eur"
        assert case["debtor"]["country"] == "DE"
        assert case["debtor"]["address"]["country"] == "DE"

    async def test_reference_collision_is_retried(self, client, account, monkeypatch):
        first = await make_case(client, account)
        fresh = "ZZ" + first["reference"][2:] if first["reference"][:2] != "ZZ" else "YY999999"
        sequence = iter([first["reference"], first["reference"], fresh])
        monkeypatch.setattr(ids, "new_reference", lambda: next(sequence))
        second = await make_case(client, account)
        assert second["reference"] == fresh


class TestVerification:
    async def test_no_email_or_phone_needs_details(self, client, account):
        case = await make_case(client, account, debtor__email=DELETE, debtor__phone=DELETE)
        assert case["status"] == "needs_details"
        assert case["requirements"] == ["debtor.email_or_phone"]
        assert case["collection_partner"] is None

    async def test_company_without_contact_person_needs_details(self, client, account):
        case = await make_case(client, account, debtor__type="company")
        assert case["status"] == "needs_details"
        assert case["requirements"] == ["debtor.contact_person"]

    async def test_company_with_contact_person_active(self, client, account):
        case = await make_case(
            client, account, debtor__type="company", debtor__contact_person="Jane Roe"
        )
        assert case["status"] == "active"
        assert case["debtor"]["contact_person"] == "Jane Roe"

    async def test_phone_only_is_enough(self, client, account):
        case = await make_case(client, account, debtor__email=DELETE)
        assert case["status"] == "active"

    async def test_country_without_partner_pending_verification(self, client, account):
        case = await make_case(
            client, account, debtor__address__country="US", debtor__phone="+1 212 555 0100"
        )
        assert case["status"] == "pending_verification"
        assert case["collection_partner"] is None
        assert case["requirements"] == []

    async def test_best_success_rate_partner_chosen(self, client, account):
        # BE is covered by the FR (0.79) and NL (0.84) partners.
        case = await make_case(
            client, account, debtor__address__country="BE", debtor__phone="+32 2 123 45 67"
        )
        assert case["collection_partner"]["id"] == "cp_partner_nl_01"

    async def test_debtor_country_overrides_address_country(self, client, account):
        case = await make_case(client, account, debtor__country="AT")
        assert case["debtor"]["country"] == "AT"
        assert case["debtor"]["address"]["country"] == "DE"
        assert case["collection_partner"]["name"] == "CollectMax GmbH"

    async def test_amount_outside_partner_bounds_pending(self, client, account):
        case = await make_case(client, account, amount_to_recover=100)
        assert case["status"] == "pending_verification"


def _future(days: int = 2) -> str:
    # Two days ahead: still in the future if the server's midnight passes mid-test.
    return (datetime.now(UTC).date() + timedelta(days=days)).isoformat()


INVALID = [
    # (overrides, status, type, code, param)
    (
        {"amount_to_recover": DELETE},
        400,
        "invalid_request_error",
        "parameter_missing",
        "amount_to_recover",
    ),
    ({"debtor__name": DELETE}, 400, "invalid_request_error", "parameter_missing", "debtor.name"),
    (
        {"debtor__address__city": DELETE},
        400,
        "invalid_request_error",
        "parameter_missing",
        "debtor.address.city",
    ),
    ({"due_date": DELETE}, 400, "invalid_request_error", "parameter_missing", "due_date"),
    ({"currency": DELETE}, 400, "invalid_request_error", "parameter_missing", "currency"),
    ({"debtor": DELETE}, 400, "invalid_request_error", "parameter_missing", "debtor"),
    (
        {"debtor__address": DELETE},
        400,
        "invalid_request_error",
        "parameter_missing",
        "debtor.address",
    ),
    ({"surprise": 1}, 400, "invalid_request_error", "parameter_unknown", "surprise"),
    (
        {"debtor__nickname": "x"},
        400,
        "invalid_request_error",
        "parameter_unknown",
        "debtor.nickname",
    ),
    (
        {"debtor__address__floor": "3"},
        400,
        "invalid_request_error",
        "parameter_unknown",
        "debtor.address.floor",
    ),
    (
        {"amount_to_recover": "360000"},
        400,
        "invalid_request_error",
        "parameter_invalid",
        "amount_to_recover",
    ),
    (
        {"amount_to_recover": 3600.5},
        400,
        "invalid_request_error",
        "parameter_invalid",
        "amount_to_recover",
    ),
    (
        {"amount_to_recover": True},
        400,
        "invalid_request_error",
        "parameter_invalid",
        "amount_to_recover",
    ),
    ({"amount_to_recover": 0}, 422, "validation_error", "parameter_invalid", "amount_to_recover"),
    ({"amount_to_recover": -5}, 422, "validation_error", "parameter_invalid", "amount_to_recover"),
    (
        {"amount_to_recover": 1_000_000_000_000},
        422,
        "validation_error",
        "parameter_invalid",
        "amount_to_recover",
    ),
    # Beyond 64 bits a JSON number is not read as an integer at all.
    (
        {"amount_to_recover": 2**70},
        400,
        "invalid_request_error",
        "parameter_invalid",
        "amount_to_recover",
    ),
    ({"currency": "xyz"}, 422, "validation_error", "parameter_invalid", "currency"),
    ({"currency": "euro"}, 422, "validation_error", "parameter_invalid", "currency"),
    ({"currency": 978}, 400, "invalid_request_error", "parameter_invalid", "currency"),
    ({"debtor__type": "person"}, 422, "validation_error", "parameter_invalid", "debtor.type"),
    ({"debtor__name": ""}, 422, "validation_error", "parameter_invalid", "debtor.name"),
    ({"debtor__name": "   "}, 422, "validation_error", "parameter_invalid", "debtor.name"),
    ({"debtor__name": "x" * 201}, 422, "validation_error", "parameter_invalid", "debtor.name"),
    ({"debtor__name": 42}, 400, "invalid_request_error", "parameter_invalid", "debtor.name"),
    (
        {"debtor__email": "not-an-email"},
        422,
        "validation_error",
        "parameter_invalid",
        "debtor.email",
    ),
    ({"debtor__phone": "12"}, 422, "validation_error", "parameter_invalid", "debtor.phone"),
    (
        {"debtor__phone": "call me maybe"},
        422,
        "validation_error",
        "parameter_invalid",
        "debtor.phone",
    ),
    (
        {"debtor__address__country": "XX"},
        422,
        "validation_error",
        "parameter_invalid",
        "debtor.address.country",
    ),
    (
        {"debtor__address__country": "DEU"},
        422,
        "validation_error",
        "parameter_invalid",
        "debtor.address.country",
    ),
    ({"debtor__country": "ZZ"}, 422, "validation_error", "parameter_invalid", "debtor.country"),
    # "ß".upper() == "SS" (South Sudan): non-ASCII must not slip through upper-casing.
    (
        {"debtor__address__country": "ß"},
        422,
        "validation_error",
        "parameter_invalid",
        "debtor.address.country",
    ),
    ({"currency": "ßp"}, 422, "validation_error", "parameter_invalid", "currency"),
    (
        {"debtor__contact_person": "Jane"},
        422,
        "validation_error",
        "parameter_invalid",
        "debtor.contact_person",
    ),
    (
        {"debtor__address": "Berlin"},
        400,
        "invalid_request_error",
        "parameter_invalid",
        "debtor.address",
    ),
    ({"due_date": "2024-02-30"}, 422, "validation_error", "parameter_invalid", "due_date"),
    ({"due_date": "01.11.2024"}, 422, "validation_error", "parameter_invalid", "due_date"),
    ({"due_date": 1730419200}, 400, "invalid_request_error", "parameter_invalid", "due_date"),
    (
        {"creditor_reference": "r" * 256},
        422,
        "validation_error",
        "parameter_invalid",
        "creditor_reference",
    ),
    (
        {"metadata": {f"k{i}": "v" for i in range(51)}},
        422,
        "validation_error",
        "parameter_invalid",
        "metadata",
    ),
    ({"metadata": {"k" * 41: "v"}}, 422, "validation_error", "parameter_invalid", "metadata"),
    ({"metadata": {"k": "v" * 501}}, 422, "validation_error", "parameter_invalid", "metadata"),
    ({"metadata": {"k": 5}}, 400, "invalid_request_error", "parameter_invalid", "metadata.k"),
    ({"metadata": ["a"]}, 400, "invalid_request_error", "parameter_invalid", "metadata"),
    (
        {"debtor__name": "John\u0000Smith"},
        422,
        "validation_error",
        "parameter_invalid",
        "debtor.name",
    ),
    (
        {"creditor_reference": "INV\u0000"},
        422,
        "validation_error",
        "parameter_invalid",
        "creditor_reference",
    ),
    ({"metadata": {"k\u0000": "v"}}, 422, "validation_error", "parameter_invalid", "metadata"),
    ({"metadata": {"k": "v\u0000"}}, 422, "validation_error", "parameter_invalid", "metadata.k"),
]


class TestCreateValidation:
    @pytest.mark.parametrize(("overrides", "status", "type_", "code", "param"), INVALID)
    async def test_rule(self, client, account, overrides, status, type_, code, param):
        response = await client.post(URL, json=case_body(**overrides), headers=account.headers)
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["type"] == type_
        assert error["code"] == code
        assert error["param"] == param
        assert error["message"]
        assert error["doc_url"] == f"http://testserver/docs/errors#{code}"
        assert response.headers["request-id"].startswith("req_")

    async def test_due_date_in_future_refused(self, client, account):
        response = await client.post(
            URL, json=case_body(due_date=_future()), headers=account.headers
        )
        assert response.status_code == 422
        assert response.json()["error"]["param"] == "due_date"
        assert "future" in response.json()["error"]["message"]

    async def test_due_date_today_accepted(self, client, account):
        today = datetime.now(UTC).date().isoformat()
        case = await make_case(client, account, due_date=today)
        assert case["due_date"] % 86400 == 0

    async def test_nothing_stored_on_validation_failure(self, client, account, engine):
        await client.post(URL, json=case_body(currency="xyz"), headers=account.headers)
        assert await count_cases(engine, account) == 0


class TestCreateMalformedBodies:
    async def _post(self, client, account, content: bytes, content_type="application/json"):
        headers = {**auth(account.sk_test), "Content-Type": content_type}
        return await client.post(URL, content=content, headers=headers)

    async def test_malformed_json(self, client, account):
        response = await self._post(client, account, b'{"amount_to_recover": ')
        assert response.status_code == 400
        assert response.json()["error"]["type"] == "invalid_request_error"
        assert "JSON" in response.json()["error"]["message"]

    async def test_wrong_content_type(self, client, account):
        response = await self._post(
            client, account, b"amount_to_recover=1", "application/x-www-form-urlencoded"
        )
        assert response.status_code == 415
        assert "application/json" in response.json()["error"]["message"]

    async def test_empty_body(self, client, account):
        response = await self._post(client, account, b"")
        assert response.status_code == 400

    async def test_array_body(self, client, account):
        response = await self._post(client, account, b"[1, 2]")
        assert response.status_code == 400
        assert "object" in response.json()["error"]["message"]

    async def test_non_utf8_body(self, client, account):
        response = await self._post(client, account, b'{"currency": "\xff\xfe"}')
        assert response.status_code == 400

    async def test_lone_surrogate(self, client, account):
        response = await self._post(client, account, b'{"currency": "\\ud800"}')
        assert response.status_code == 400

    async def test_deeply_nested(self, client, account):
        body = b'{"metadata": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5000 + b"}"
        response = await self._post(client, account, body)
        assert response.status_code == 400
        assert "depth" in response.json()["error"]["message"]

    async def test_huge_body_refused(self, client, account):
        body = b'{"creditor_reference": "' + b"x" * (2 * 1024 * 1024) + b'"}'
        response = await self._post(client, account, body)
        assert response.status_code == 413
        assert response.json()["error"]["type"] == "invalid_request_error"

    @pytest.mark.parametrize("declared", [True, False])
    async def test_huge_multipart_body_refused_outside_uploads(self, client, account, declared):
        """Only the upload route streams past the JSON limit; a multipart body anywhere else
        is read whole (for the idempotency fingerprint) and so is held to it."""
        boundary = "b0undary"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="x"\r\n\r\n'.encode()
            + b"x" * (2 * 1024 * 1024)
            + f"\r\n--{boundary}--\r\n".encode()
        )
        content: bytes | object = body
        if not declared:

            async def chunks():
                for i in range(0, len(body), 65536):
                    yield body[i : i + 65536]

            content = chunks()
        response = await client.post(
            "/v1/collection_cases",
            content=content,
            headers={
                **account.headers,
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Idempotency-Key": "multipart-huge",
            },
        )
        assert response.status_code == 413, response.text
        assert response.json()["error"]["type"] == "invalid_request_error"

    async def test_number_beyond_64_bits(self, client, account):
        body = case_body()
        raw = (
            b'{"amount_to_recover": 123456789012345678901234567890'
            + b", "
            + __import__("json").dumps(body)[1:].split('"amount_to_recover": 360000, ')[1].encode()
        )
        response = await self._post(client, account, raw)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "parameter_invalid"
        assert response.json()["error"]["param"] == "amount_to_recover"

    async def test_injection_strings_are_just_text(self, client, account):
        evil = "Robert'); DROP TABLE collection_cases;--"
        case = await make_case(client, account, debtor__name=evil, creditor_reference="' OR 1=1")
        assert case["debtor"]["name"] == evil
        fetched = await client.get(f"{URL}/{case['id']}", headers=account.headers)
        assert fetched.json()["debtor"]["name"] == evil
