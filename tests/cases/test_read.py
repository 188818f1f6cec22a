"""GET /v1/collection_cases/:id, /ref/:reference and the list, scoped by account and mode."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from collection_cases import ids
from tests.factories import DELETE, auth, make_case

URL = "/v1/collection_cases"


class TestRetrieve:
    async def test_by_id(self, client, account):
        case = await make_case(client, account)
        response = await client.get(f"{URL}/{case['id']}", headers=account.headers)
        assert response.status_code == 200
        assert response.json() == case

    async def test_unknown_id_404(self, client, account):
        missing = ids.encode("dc", ids.new_uuid7())
        response = await client.get(f"{URL}/{missing}", headers=account.headers)
        assert response.status_code == 404
        assert response.json()["error"] == {
            "type": "invalid_request_error",
            "code": "resource_not_found",
            "message": f"No such collection_case: '{missing}'",
            "param": "id",
            "doc_url": response.json()["error"]["doc_url"],
        }

    @pytest.mark.parametrize(
        "bad", ["dc_a1b2c3d4", "xx", "dc_" + "g" * 32, "%00", "dc_'--", "dc_" + "a" * 32 + "%0A"]
    )
    async def test_malformed_id_404(self, client, account, bad):
        response = await client.get(f"{URL}/{bad}", headers=account.headers)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "resource_not_found"

    async def test_foreign_id_looks_exactly_like_missing(self, client, account, other_account):
        case = await make_case(client, other_account)
        foreign = await client.get(f"{URL}/{case['id']}", headers=account.headers)
        # Same id, never created anywhere: the body must be identical.
        assert foreign.status_code == 404
        missing_id = case["id"][:-4] + ("0000" if case["id"][-4:] != "0000" else "1111")
        missing = await client.get(f"{URL}/{missing_id}", headers=account.headers)
        assert foreign.json()["error"] == {
            **missing.json()["error"],
            "message": missing.json()["error"]["message"].replace(missing_id, case["id"]),
        }

    async def test_test_key_cannot_see_live_case_and_back(self, client, account):
        live = await make_case(client, account, key=account.sk_live)
        test = await make_case(client, account)
        assert (await client.get(f"{URL}/{live['id']}", headers=account.headers)).status_code == 404
        assert (
            await client.get(f"{URL}/{test['id']}", headers=auth(account.sk_live))
        ).status_code == 404
        assert (
            await client.get(f"{URL}/{live['id']}", headers=auth(account.sk_live))
        ).status_code == 200


class TestRetrieveByReference:
    async def test_by_reference(self, client, account):
        case = await make_case(client, account)
        response = await client.get(f"{URL}/ref/{case['reference']}", headers=account.headers)
        assert response.status_code == 200
        assert response.json() == case

    async def test_case_insensitive(self, client, account):
        case = await make_case(client, account)
        response = await client.get(
            f"{URL}/ref/{case['reference'].lower()}", headers=account.headers
        )
        assert response.json()["id"] == case["id"]

    @pytest.mark.parametrize("ref", ["ZZZZZZZZ", "short", "TOO-LONG-REF", "AB%27CD12"])
    async def test_unknown_reference_404(self, client, account, ref):
        response = await client.get(f"{URL}/ref/{ref}", headers=account.headers)
        assert response.status_code == 404
        assert response.json()["error"]["param"] == "reference"

    async def test_foreign_reference_404(self, client, account, other_account):
        case = await make_case(client, other_account)
        response = await client.get(f"{URL}/ref/{case['reference']}", headers=account.headers)
        assert response.status_code == 404
        live = await client.get(
            f"{URL}/ref/{case['reference']}", headers=auth(other_account.sk_live)
        )
        assert live.status_code == 404


async def _set_created(engine, case_id: str, when: datetime) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE collection_cases SET created_at=:t WHERE id=:i"),
            {"t": when, "i": ids.decode("dc", case_id)},
        )


async def _all_pages(client, headers, params, *, backwards=False):
    """Walk every page; return the ids in the order seen."""
    seen: list[str] = []
    cursor = None
    for _ in range(100):
        query = dict(params)
        if cursor:
            query["ending_before" if backwards else "starting_after"] = cursor
        response = await client.get(URL, params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        ids_ = [c["id"] for c in page["data"]]
        seen = ids_ + seen if backwards else seen + ids_
        if not page["has_more"]:
            return seen
        cursor = ids_[0] if backwards else ids_[-1]
    raise AssertionError("pagination did not end")


class TestList:
    async def test_envelope_newest_first(self, client, account):
        first = await make_case(client, account)
        second = await make_case(client, account)
        response = await client.get(URL, headers=account.headers)
        assert response.status_code == 200
        body = response.json()
        assert body["object"] == "list"
        assert body["url"] == "/v1/collection_cases"
        assert body["has_more"] is False
        assert [c["id"] for c in body["data"]] == [second["id"], first["id"]]
        assert body["data"][0] == second

    async def test_documented_query(self, client, account):
        active = await make_case(client, account)
        await make_case(client, account, debtor__email=DELETE, debtor__phone=DELETE)
        response = await client.get(f"{URL}?status=active&limit=10", headers=account.headers)
        assert [c["id"] for c in response.json()["data"]] == [active["id"]]

    async def test_default_limit_is_10(self, client, account):
        for _ in range(11):
            await make_case(client, account)
        body = (await client.get(URL, headers=account.headers)).json()
        assert len(body["data"]) == 10
        assert body["has_more"] is True

    async def test_pagination_both_ways_with_filter(self, client, account, engine):
        # 12 active DE cases and 5 needs_details ones interleaved, equal timestamps in pairs
        # so the id tiebreak is exercised across page boundaries.
        base = datetime(2025, 1, 1, tzinfo=UTC)
        active = []
        for i in range(17):
            if i % 3 == 2:
                case = await make_case(client, account, debtor__email=DELETE, debtor__phone=DELETE)
            else:
                case = await make_case(client, account)
                active.append(case["id"])
            await _set_created(engine, case["id"], base + timedelta(seconds=i // 2))
        expected = list(reversed(active))  # newest first; uuid7 ids rise with creation
        forward = await _all_pages(client, account.headers, {"status": "active", "limit": 5})
        assert forward == expected
        # Backwards from past the oldest: ending_before walks toward the newest.
        oldest = expected[-1]
        page = await client.get(
            URL,
            params={"status": "active", "limit": 5, "ending_before": oldest},
            headers=account.headers,
        )
        assert [c["id"] for c in page.json()["data"]] == expected[-6:-1]
        assert page.json()["has_more"] is True
        backward = await _all_pages(
            client,
            account.headers,
            {"status": "active", "limit": 5, "ending_before": oldest},
            backwards=True,
        )
        assert backward == expected[:-1]

    async def test_filters(self, client, account):
        de = await make_case(client, account)
        fr = await make_case(
            client, account, debtor__address__country="FR", debtor__phone="+33 1 23 45 67 89"
        )
        company = await make_case(
            client, account, debtor__type="company", debtor__contact_person="Jane Roe"
        )

        async def listed(**params):
            r = await client.get(URL, params=params, headers=account.headers)
            assert r.status_code == 200, r.text
            return {c["id"] for c in r.json()["data"]}

        assert await listed(debtor_country="FR") == {fr["id"]}
        assert await listed(debtor_country="de") == {de["id"], company["id"]}
        assert await listed(debtor_type="company") == {company["id"]}
        assert await listed(debtor_type="private", debtor_country="DE") == {de["id"]}
        assert await listed(status="paused") == set()

    async def test_created_filters(self, client, account, engine):
        cases = []
        for day in range(4):
            case = await make_case(client, account)
            await _set_created(engine, case["id"], datetime(2025, 3, 1 + day, tzinfo=UTC))
            cases.append(case["id"])
        t = int(datetime(2025, 3, 2, tzinfo=UTC).timestamp())

        async def listed(**params):
            r = await client.get(URL, params=params, headers=account.headers)
            assert r.status_code == 200, r.text
            return [c["id"] for c in r.json()["data"]]

        assert await listed(**{"created[gte]": t}) == cases[:0:-1]
        assert await listed(**{"created[gt]": t}) == cases[:1:-1]
        assert await listed(**{"created[lte]": t}) == [cases[1], cases[0]]
        assert await listed(**{"created[lt]": t}) == [cases[0]]
        assert await listed(**{"created[gte]": t, "created[lte]": t}) == [cases[1]]

    async def test_isolated_by_account_and_mode(self, client, account, other_account):
        mine = await make_case(client, account)
        await make_case(client, account, key=account.sk_live)
        await make_case(client, other_account)
        body = (await client.get(URL, headers=account.headers)).json()
        assert [c["id"] for c in body["data"]] == [mine["id"]]

    @pytest.mark.parametrize(
        ("params", "status", "code", "param"),
        [
            ({"limit": 0}, 422, "parameter_invalid", "limit"),
            ({"limit": 101}, 422, "parameter_invalid", "limit"),
            ({"limit": "abc"}, 400, "parameter_invalid", "limit"),
            ({"limit": "1e9"}, 400, "parameter_invalid", "limit"),
            ({"limit": "99999999999999999999999"}, 422, "parameter_invalid", "limit"),
            ({"status": "open"}, 422, "parameter_invalid", "status"),
            ({"debtor_type": "person"}, 422, "parameter_invalid", "debtor_type"),
            ({"debtor_country": "XX"}, 422, "parameter_invalid", "debtor_country"),
            ({"created[gte]": "yesterday"}, 400, "parameter_invalid", "created[gte]"),
            ({"created[gte]": str(10**20)}, 422, "parameter_invalid", "created[gte]"),
            ({"created[lt]": -1}, 422, "parameter_invalid", "created[lt]"),
            ({"color": "red"}, 400, "parameter_unknown", "color"),
            ({"created[eq]": 1}, 400, "parameter_unknown", "created[eq]"),
            ({"starting_after": "dc_nope"}, 400, "resource_not_found", "starting_after"),
            ({"ending_before": "' OR 1=1 --"}, 400, "resource_not_found", "ending_before"),
            (
                {"starting_after": "dc_" + "a" * 32 + "\n"},
                400,
                "resource_not_found",
                "starting_after",
            ),
            (
                {"starting_after": "x", "ending_before": "y"},
                400,
                "parameter_invalid",
                "ending_before",
            ),
        ],
    )
    async def test_bad_parameters(self, client, account, params, status, code, param):
        response = await client.get(URL, params=params, headers=account.headers)
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code
        assert response.json()["error"]["param"] == param

    async def test_created_filters_on_real_subsecond_timestamps(self, client, account):
        # A client filters on the `created` it just read: that object is on the boundary.
        case = await make_case(client, account)
        created = case["created"]

        async def listed(op: str) -> list[str]:
            r = await client.get(URL, params={f"created[{op}]": created}, headers=account.headers)
            return [c["id"] for c in r.json()["data"]]

        assert await listed("lte") == [case["id"]]
        assert await listed("gte") == [case["id"]]
        assert await listed("gt") == []
        assert await listed("lt") == []

    async def test_unknown_parameter_needs_authentication_first(self, client):
        response = await client.get(URL, params={"color": "red"})
        assert response.status_code == 401

    async def test_cursor_that_left_the_filter_still_pages(self, client, account):
        """A client pages through status=active; the case its cursor names closes meanwhile:
        the next page starts where it would have, as Stripe's lists do."""
        made = [(await make_case(client, account))["id"] for _ in range(5)]
        first = await client.get(
            URL, params={"status": "active", "limit": 2}, headers=account.headers
        )
        page1 = [c["id"] for c in first.json()["data"]]
        assert page1 == list(reversed(made))[:2]
        closed = await client.post(f"{URL}/{page1[-1]}/close", headers=account.headers)
        assert closed.json()["status"] == "closed"
        nxt = await client.get(
            URL,
            params={"status": "active", "limit": 2, "starting_after": page1[-1]},
            headers=account.headers,
        )
        assert nxt.status_code == 200, nxt.text
        assert [c["id"] for c in nxt.json()["data"]] == list(reversed(made))[2:4]

    async def test_cursor_of_another_account_refused(self, client, account, other_account):
        foreign = await make_case(client, other_account)
        response = await client.get(
            URL, params={"starting_after": foreign["id"]}, headers=account.headers
        )
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "starting_after"
