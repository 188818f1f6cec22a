"""Regressions found in review: hostile CSV, odd ids, lock upgrades, kept fees, helpers' 404."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from collection_cases.files.sniff import detect
from tests.factories import DELETE, auth, case_body, helper, make_case
from tests.files.conftest import PDF


async def test_hostile_csv_is_sniffed_without_backtracking():
    line = b',"' * 16_000
    head = (line + b"\n" + line + b"\n")[:65536]
    # A hang guard (the old csv.Sniffer took ~40 s here), not a speed assertion.
    result = await asyncio.wait_for(
        asyncio.to_thread(detect, head, "x.txt", complete=False), timeout=20
    )
    assert result is not None


@pytest.mark.parametrize(
    "path",
    [
        "/v1/case_files/file_%00",
        "/v1/case_files/file_%00/contents",
        "/v1/collection_partners/cp_%00",
        "/v1/debt_payments/dp_%00",
        "/v1/events/evt_%00",
        "/v1/webhook_endpoints/we_%00",
        "/v1/webhook_endpoints/we_%00/deliveries",
    ],
)
async def test_nul_in_ids_is_not_found(client, account, path):
    r = await client.get(path, headers=account.headers)
    assert r.status_code == 404


@pytest.mark.parametrize("what", ["debt_payments", "events", "webhook_endpoints", "chat", "files"])
async def test_nul_in_cursors_is_a_clean_400(client, account, what):
    case = await make_case(client, account)
    url = {
        "chat": f"/v1/collection_cases/{case['id']}/chat",
        "files": f"/v1/collection_cases/{case['id']}/files",
    }.get(what, f"/v1/{what}")
    r = await client.get(url, params={"starting_after": "x_\x00"}, headers=account.headers)
    assert r.status_code == 400


async def test_nul_in_chat_attachments(client, account):
    case = await make_case(client, account)
    r = await client.post(
        f"/v1/collection_cases/{case['id']}/chat",
        json={"message": "hi", "attachments": ["file_\u0000x"]},
        headers=account.headers,
    )
    assert r.status_code in (400, 422)


async def test_concurrent_uploads_to_a_needs_details_case(client, account, engine):
    case = await make_case(client, account, debtor__type="company")  # no contact person
    assert case["status"] == "needs_details"
    results = await asyncio.gather(
        *(
            client.post(
                f"/v1/collection_cases/{case['id']}/files",
                files={"file": ("t.pdf", PDF)},
                data={"document_type": "miscellaneous"},
                headers=account.headers,
            )
            for _ in range(8)
        )
    )
    assert [r.status_code for r in results] == [201] * 8


async def test_reverification_keeps_partner_and_fee(client, account, engine):
    today = datetime.now(UTC).date()
    case = await make_case(client, account, due_date=(today - timedelta(days=10)).isoformat())
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO collection_partners (id, name, email, phone, site, countries, "
                "debtor_types, success_rate, avg_resolution_days, "
                "base_success_fee_pct, min_amount, max_amount) VALUES ('cp_zz_better', 'Better', "
                "'b@example.com', '+49 30 1', 'https://b.example', '{DE}', '{private,company}', "
                "0.99, 10, 40, 1, 999999999999)"
            )
        )
    try:
        r = await helper(client, account, case["id"], "request_details")
        assert r.json()["status"] == "needs_details"
        r = await client.post(
            f"/v1/collection_cases/{case['id']}",
            json={"debtor": {"phone": "+49 171 7654321"}},
            headers=account.headers,
        )
        assert r.json()["status"] == "active"
        assert r.json()["collection_partner"]["id"] == "cp_partner_de_01"
        pay = await helper(client, account, case["id"], "record_payment", amount=1000)
        assert pay.json()["fee_amount"] == 125  # still 12.5 %, not 40 %
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM collection_partners WHERE id='cp_zz_better'"))


async def test_paused_case_cannot_be_asked_for_details(client, account):
    case = await make_case(client, account)
    await client.post(f"/v1/collection_cases/{case['id']}/pause", headers=account.headers)
    r = await helper(client, account, case["id"], "request_details")
    assert r.status_code == 400


async def test_assign_partner_only_for_pending(client, account):
    from collection_cases.cases import lifecycle

    assert lifecycle.TRANSITIONS["assign_partner"] == frozenset({"pending_verification"})
    case = await make_case(client, account, debtor__email=DELETE, debtor__phone=DELETE)
    assert case["status"] == "needs_details"


async def test_restricted_live_key_gets_404_from_test_helpers(client, account):
    case = await make_case(client, account, key=account.sk_live)
    r = await helper(client, account, case["id"], "verify", key=account.rk_live)
    assert r.status_code == 404
    r = await helper(client, account, case["id"], "verify", key=account.rk_test)
    assert r.status_code == 403


async def test_allow_header_lists_every_method(client, account):
    r = await client.request("PUT", "/v1/collection_cases", headers=account.headers)
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, POST"


class TestRacesWithABarrier:
    """Both requests are made to wait on the case's row lock, then released together."""

    async def _race(self, client, engine, case, requests):  # type: ignore[no-untyped-def]
        from collection_cases import ids

        async with engine.connect() as conn:
            trans = await conn.begin()
            await conn.execute(
                text("SELECT 1 FROM collection_cases WHERE id = :i FOR UPDATE"),
                {"i": ids.decode("dc", case["id"])},
            )
            tasks = [asyncio.create_task(r) for r in requests]
            await asyncio.sleep(0.5)  # both are now queued on the lock
            assert not any(t.done() for t in tasks)
            await trans.rollback()
            return await asyncio.gather(*tasks)

    async def test_two_closes(self, client, account, engine):
        case = await make_case(client, account)
        url = f"/v1/collection_cases/{case['id']}/close"
        results = await self._race(
            client, engine, case, [client.post(url, headers=account.headers) for _ in range(2)]
        )
        assert sorted(r.status_code for r in results) == [200, 400]

    async def test_pause_and_close(self, client, account, engine):
        case = await make_case(client, account)
        base = f"/v1/collection_cases/{case['id']}"
        pause, close = await self._race(
            client,
            engine,
            case,
            [
                client.post(f"{base}/pause", headers=account.headers),
                client.post(f"{base}/close", headers=account.headers),
            ],
        )
        assert close.status_code == 200
        final = (await client.get(base, headers=account.headers)).json()
        assert final["status"] == "closed"
        assert pause.status_code in (200, 400)


def test_operator_commands_validate_input(monkeypatch, database_url, capsys):
    from collection_cases import cli
    from collection_cases.config import get_settings

    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        base = ["cases", "record-payment", "dc_" + "0" * 32, "--account", "x"]
        assert cli.main([*base, "--amount", "-5"]) == 2
        assert cli.main([*base, "--amount", "5", "--date", "2099-01-01"]) == 2
        assert (
            cli.main(["cases", "send-message", "dc_" + "0" * 32, "--account", "x", "--message", ""])
            == 2
        )
    finally:
        get_settings.cache_clear()
    assert '"param": "amount"' in capsys.readouterr().out


async def test_documented_body_helper_still_valid(client, account):
    r = await client.post("/v1/collection_cases", json=case_body(), headers=auth(account.sk_test))
    assert r.status_code == 201


@pytest.mark.parametrize("op", ["gt", "gte", "lt", "lte"])
async def test_the_last_representable_second_filters_without_overflow(client, account, op):
    made = await make_case(client, account)
    r = await client.get(
        "/v1/collection_cases", params={f"created[{op}]": 253402300799}, headers=account.headers
    )
    assert r.status_code == 200, r.text
    ids = [c["id"] for c in r.json()["data"]]
    assert ids == ([made["id"]] if op in ("lt", "lte") else [])


@pytest.mark.parametrize(
    "event_id",
    ["evt_ffffffffffff70008000000000000000", "evt_e677d21f66cf70008000000000000000"],
)
async def test_an_event_id_from_beyond_the_calendar_is_not_found(client, account, event_id):
    r = await client.get(f"/v1/events/{event_id}", headers=account.headers)
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == "resource_not_found"
