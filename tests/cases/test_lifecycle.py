"""The state machine: every allowed transition, every refused one, and races."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from tests.factories import DELETE, auth, event_types, helper, make_case

URL = "/v1/collection_cases"


async def act(client, account, case_id, action, **body):  # type: ignore[no-untyped-def]
    return await client.post(
        f"{URL}/{case_id}/{action}", json=body or None, headers=account.headers
    )


async def case_in(client, account, status):  # type: ignore[no-untyped-def]
    """A case in `status`, reached through the API."""
    if status == "pending_verification":
        return await make_case(
            client, account, debtor__address__country="US", debtor__phone="+1 212 555 0100"
        )
    if status == "needs_details":
        return await make_case(client, account, debtor__email=DELETE, debtor__phone=DELETE)
    case = await make_case(client, account)
    if status == "paused":
        case = (await act(client, account, case["id"], "pause")).json()
    if status == "closed":
        case = (await act(client, account, case["id"], "close")).json()
    assert case["status"] == status
    return case


STATUSES = ["pending_verification", "needs_details", "active", "paused", "closed"]
ALLOWED = {
    "pause": {"active": "paused"},
    "resume": {"paused": "active"},
    "close": {s: "closed" for s in STATUSES if s != "closed"},
}


class TestCreditorActions:
    @pytest.mark.parametrize("action", list(ALLOWED))
    @pytest.mark.parametrize("status", STATUSES)
    async def test_transition_table(self, client, account, action, status):
        case = await case_in(client, account, status)
        response = await act(client, account, case["id"], action)
        if status in ALLOWED[action]:
            assert response.status_code == 200, response.text
            assert response.json()["status"] == ALLOWED[action][status]
        else:
            assert response.status_code == 400
            error = response.json()["error"]
            assert error["code"] == "state_invalid"
            assert f"'{status}'" in error["message"]

    async def test_close_is_withdrawn_and_final(self, client, account, engine):
        case = await make_case(client, account)
        closed = (await act(client, account, case["id"], "close")).json()
        assert closed["close_code"] == "withdrawn"
        update = await client.post(
            f"{URL}/{case['id']}", json={"metadata": {"a": "b"}}, headers=account.headers
        )
        assert update.status_code == 400
        assert update.json()["error"]["code"] == "state_invalid"
        types = await event_types(engine, account)
        assert types[-2:] == ["collection_case.updated", "collection_case.closed"]

    async def test_creditor_cannot_use_partner_close_codes(self, client, account):
        case = await make_case(client, account)
        r = await act(client, account, case["id"], "close", close_code="paid")
        assert r.status_code == 422

    async def test_actions_need_a_secret_key_and_an_own_case(self, client, account, other_account):
        case = await make_case(client, account)
        r = await client.post(f"{URL}/{case['id']}/pause", headers=auth(account.rk_test))
        assert r.status_code == 403
        r = await client.post(f"{URL}/{case['id']}/pause", headers=other_account.headers)
        assert r.status_code == 404
        r = await client.post(f"{URL}/{case['id']}/pause", headers=auth(account.sk_live))
        assert r.status_code == 404

    async def test_pause_resume_events(self, client, account, engine):
        case = await make_case(client, account)
        await act(client, account, case["id"], "pause")
        await act(client, account, case["id"], "resume")
        types = await event_types(engine, account)
        assert types[-4:] == [
            "collection_case.updated",
            "collection_case.paused",
            "collection_case.updated",
            "collection_case.active",
        ]
        async with engine.connect() as conn:
            data = (
                await conn.execute(
                    text(
                        "SELECT data FROM events WHERE account_id=:a "
                        "AND type='collection_case.updated' ORDER BY created_at, id LIMIT 1"
                    ),
                    {"a": account.id},
                )
            ).scalar_one()
        assert data["previous_attributes"] == {"status": "active"}
        assert data["object"]["status"] == "paused"


class TestUpdate:
    async def test_metadata_stripe_semantics(self, client, account):
        case = await make_case(client, account, metadata={"a": "1", "b": "2"})
        r = await client.post(
            f"{URL}/{case['id']}", json={"metadata": {"b": "", "c": "3"}}, headers=account.headers
        )
        assert r.status_code == 200
        assert r.json()["metadata"] == {"a": "1", "c": "3"}
        again = await client.get(f"{URL}/{case['id']}", headers=account.headers)
        assert again.json() == r.json()

    async def test_creditor_reference_set_and_unset(self, client, account):
        case = await make_case(client, account)
        r = await client.post(
            f"{URL}/{case['id']}", json={"creditor_reference": "NEW-1"}, headers=account.headers
        )
        assert r.json()["creditor_reference"] == "NEW-1"
        r = await client.post(
            f"{URL}/{case['id']}", json={"creditor_reference": ""}, headers=account.headers
        )
        assert r.json()["creditor_reference"] is None

    async def test_supplying_missing_details_verifies_again(self, client, account, engine):
        case = await case_in(client, account, "needs_details")
        r = await client.post(
            f"{URL}/{case['id']}",
            json={"debtor": {"email": "john@example.com"}},
            headers=account.headers,
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "active"
        assert body["debtor"]["email"] == "john@example.com"
        assert body["collection_partner"]["name"] == "CollectMax GmbH"
        assert body["requirements"] == []
        assert (await event_types(engine, account))[-1] == "collection_case.active"

    async def test_partial_details_keep_needs_details(self, client, account):
        case = await make_case(
            client, account, debtor__type="company", debtor__email=DELETE, debtor__phone=DELETE
        )
        assert case["requirements"] == ["debtor.email_or_phone", "debtor.contact_person"]
        r = await client.post(
            f"{URL}/{case['id']}",
            json={"debtor": {"phone": "+49 30 123456"}},
            headers=account.headers,
        )
        assert r.json()["status"] == "needs_details"
        assert r.json()["requirements"] == ["debtor.contact_person"]

    @pytest.mark.parametrize(
        ("body", "status", "param"),
        [
            ({"debtor": {"email": "nope"}}, 422, "debtor.email"),
            ({"debtor": {"name": "X"}}, 400, "debtor.name"),
            ({"amount_to_recover": 5}, 400, "amount_to_recover"),
            ({"metadata": {"k": 1}}, 400, "metadata.k"),
            ({"metadata": {"k" * 41: "v"}}, 422, "metadata"),
        ],
    )
    async def test_update_validation(self, client, account, body, status, param):
        case = await make_case(client, account)
        r = await client.post(f"{URL}/{case['id']}", json=body, headers=account.headers)
        assert r.status_code == status, r.text
        assert r.json()["error"]["param"] == param

    async def test_contact_person_only_for_companies(self, client, account):
        case = await make_case(client, account)
        r = await client.post(
            f"{URL}/{case['id']}", json={"debtor": {"contact_person": "X"}}, headers=account.headers
        )
        assert r.status_code == 400
        assert r.json()["error"]["param"] == "debtor.contact_person"


class TestHelpers:
    async def test_verify_pending_active_and_paused_cases(self, client, account, engine):
        case = await case_in(client, account, "pending_verification")
        r = await helper(client, account, case["id"], "verify")
        assert r.json()["status"] == "pending_verification"  # still no partner for US
        active = await case_in(client, account, "active")
        r = await helper(client, account, active["id"], "verify")
        assert (r.status_code, r.json()) == (200, active)  # nothing to do
        paused = await case_in(client, account, "paused")
        r = await helper(client, account, paused["id"], "verify")
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "state_invalid"

    async def test_request_details_then_update_then_active(self, client, account):
        case = await make_case(client, account)
        r = await helper(
            client, account, case["id"], "request_details", requirements=["debtor.email_or_phone"]
        )
        assert r.json()["status"] == "needs_details"
        assert r.json()["requirements"] == ["debtor.email_or_phone"]
        r = await client.post(
            f"{URL}/{case['id']}",
            json={"debtor": {"phone": "+49 30 9999"}},
            headers=account.headers,
        )
        assert r.json()["status"] == "active"

    @pytest.mark.parametrize("code", ["settled", "uncollectible", "debtor_insolvent"])
    async def test_partner_close_codes(self, client, account, code):
        case = await make_case(client, account)
        r = await helper(client, account, case["id"], "close", close_code=code)
        assert r.status_code == 200
        assert (r.json()["status"], r.json()["close_code"]) == ("closed", code)

    async def test_live_keys_get_404(self, client, account):
        case = await make_case(client, account, key=account.sk_live)
        for action in (
            "verify",
            "request_details",
            "close",
            "record_payment",
            "send_partner_message",
        ):
            r = await helper(client, account, case["id"], action, key=account.sk_live)
            assert r.status_code == 404, action
            assert r.json()["error"]["code"] == "url_invalid"


class TestRaces:
    async def test_two_closes_exactly_one_wins(self, client, account, engine):
        case = await make_case(client, account)
        results = await asyncio.gather(
            *(act(client, account, case["id"], "close") for _ in range(2))
        )
        assert sorted(r.status_code for r in results) == [200, 400]
        assert (await event_types(engine, account)).count("collection_case.closed") == 1

    async def test_pause_racing_close_one_outcome(self, client, account):
        case = await make_case(client, account)
        pause, close = await asyncio.gather(
            act(client, account, case["id"], "pause"), act(client, account, case["id"], "close")
        )
        final = (await client.get(f"{URL}/{case['id']}", headers=account.headers)).json()
        assert final["status"] == "closed"
        assert close.status_code == 200
        # Either pause went first (then close closed a paused case) or it lost.
        assert pause.status_code in (200, 400)
