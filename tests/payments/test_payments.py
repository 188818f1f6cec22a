"""Debt payments: fees, types, remainder, closing as paid, races, listing, isolation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import auth, event_types, helper, make_case

# Due ten days ago: no age surcharge, so the fee is CollectMax's base 12.5 %.
RECENT = (datetime.now(UTC).date() - timedelta(days=10)).isoformat()


async def pay(client, account, case, amount, **kw):  # type: ignore[no-untyped-def]
    return await helper(client, account, case["id"], "record_payment", amount=amount, **kw)


class TestRecordPayment:
    async def test_installments_then_full_payment_closes_paid(self, client, account, engine):
        case = await make_case(client, account, due_date=RECENT)  # < 90 days: fee 12.5%
        first = await pay(client, account, case, 100_000, type="installment")
        assert first.status_code == 201, first.text
        p = first.json()
        assert p["object"] == "debt_payment"
        assert p["id"].startswith("dp_")
        assert (p["type"], p["amount"], p["currency"]) == ("installment", 100_000, "eur")
        assert p["fee_amount"] == 12_500
        assert p["net_amount"] == 87_500
        assert p["payout"].startswith("po_")
        assert p["case"] == case["id"]
        second = (await pay(client, account, case, 100_000, type="installment")).json()
        assert second["type"] == "installment"
        last = (await pay(client, account, case, 160_000)).json()
        assert last["type"] == "full_payment"
        final = (
            await client.get(f"/v1/collection_cases/{case['id']}", headers=account.headers)
        ).json()
        assert (final["status"], final["close_code"], final["remainder"]) == ("closed", "paid", 0)
        types = await event_types(engine, account)
        assert types.count("debt_payment.created") == 3
        assert types[-1] == "collection_case.closed"

    @pytest.mark.parametrize(
        ("amount", "fee"),
        [
            (12345, 1543),  # 12.5% = 1543.125
            (12375, 1547),  # 1546.875
            (1054, 132),  # 131.75
            (21, 3),  # 2.625
            (205, 26),  # 25.625
            (120, 15),  # 15.00
            (1, 0),  # 0.125
            (4, 1),  # 0.50: half rounds up
            (3, 0),  # 0.375
        ],
    )
    async def test_fee_is_case_percentage_rounded_half_up(self, client, account, amount, fee):
        case = await make_case(client, account, due_date=RECENT)  # fee 12.5%, no surcharge
        p = (await pay(client, account, case, amount)).json()
        assert p["fee_amount"] == fee
        assert p["net_amount"] == amount - fee

    async def test_the_documented_installment(self, client, account, engine):
        """The debt-payments page: 120000 on a 14.5 % case -> fee 17400, net 102600, a payout;
        the event page shows the case's remainder at 240000 afterwards."""
        from sqlalchemy import text

        due = (datetime.now(UTC).date() - timedelta(days=100)).isoformat()  # +2.0 surcharge
        case = await make_case(client, account, due_date=due)
        p = (await pay(client, account, case, 120_000, type="installment")).json()
        assert (p["type"], p["fee_amount"], p["net_amount"]) == ("installment", 17_400, 102_600)
        async with engine.connect() as conn:
            payout = (
                await conn.execute(
                    text(
                        "SELECT amount, currency, is_test, debt_payment_id FROM payouts "
                        "WHERE id = :id AND account_id = :a"
                    ),
                    {"id": p["payout"], "a": account.id},
                )
            ).one()
        assert tuple(payout) == (102_600, "eur", True, p["id"])
        again = await client.get(f"/v1/debt_payments/{p['id']}", headers=account.headers)
        assert again.json()["payout"] == p["payout"]
        case_now = await client.get(f"/v1/collection_cases/{case['id']}", headers=account.headers)
        assert case_now.json()["remainder"] == 240_000

    async def test_half_rounds_up(self, client, account, engine):
        from sqlalchemy import text

        from collection_cases import ids

        case = await make_case(client, account)
        async with engine.begin() as conn:  # 12.50%: 4 x 12.5% = 0.50 exactly
            await conn.execute(
                text("UPDATE collection_cases SET success_fee_pct = 12.5 WHERE id = :i"),
                {"i": ids.decode("dc", case["id"])},
            )
        assert (await pay(client, account, case, 4)).json()["fee_amount"] == 1
        assert (await pay(client, account, case, 12)).json()["fee_amount"] == 2  # 1.5 -> 2

    async def test_cannot_exceed_remainder(self, client, account):
        case = await make_case(client, account)
        r = await pay(client, account, case, 360_001)
        assert r.status_code == 400
        assert r.json()["error"]["param"] == "amount"

    async def test_closed_case_refuses_payments(self, client, account):
        case = await make_case(client, account)
        await helper(client, account, case["id"], "close", close_code="settled")
        r = await pay(client, account, case, 10)
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "state_invalid"

    @pytest.mark.parametrize("amount", [0, -1, "100", 1.5])
    async def test_amount_validation(self, client, account, amount):
        case = await make_case(client, account)
        r = await pay(client, account, case, amount)
        assert r.status_code in (400, 422)
        assert r.json()["error"]["param"] == "amount"

    async def test_racing_payments_never_overdraw(self, client, account):
        case = await make_case(client, account)
        results = await asyncio.gather(*(pay(client, account, case, 50_000) for _ in range(10)))
        ok = [r for r in results if r.status_code == 201]
        assert len(ok) == 7  # 7 x 50,000 = 350,000 <= 360,000 < 400,000
        assert all(r.status_code == 400 for r in results if r.status_code != 201)
        final = (
            await client.get(f"/v1/collection_cases/{case['id']}", headers=account.headers)
        ).json()
        assert final["remainder"] == 10_000


class TestPricingTiers:
    @pytest.mark.parametrize(
        ("days", "surcharge"),
        [(0, 0), (90, 0), (91, 2), (180, 2), (181, 5), (365, 5), (366, 8), (730, 8), (731, 12)],
    )
    def test_tier_boundaries(self, days, surcharge):
        from decimal import Decimal

        from collection_cases.partners.pricing import age_surcharge

        assert age_surcharge(days) == Decimal(surcharge)

    async def test_created_case_keeps_its_fee(self, client, account, engine):
        from sqlalchemy import text

        case = await make_case(client, account, due_date="2024-11-01")  # > 730 days: +12
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE collection_partners SET base_success_fee_pct = 30 "
                    "WHERE id = 'cp_partner_de_01'"
                )
            )
        try:
            p = (await pay(client, account, case, 100_000)).json()
        finally:
            async with engine.begin() as conn:
                await conn.execute(
                    text(
                        "UPDATE collection_partners SET "
                        "base_success_fee_pct = 12.5 WHERE id = 'cp_partner_de_01'"
                    )
                )
        assert p["fee_amount"] == 24_500  # (12.5 + 12)% at creation, not 30 + 12


class TestListPayments:
    async def test_list_filter_paginate_and_isolation(self, client, account, other_account):
        a = await make_case(client, account)
        b = await make_case(client, account)
        made = [(await pay(client, account, c, 1000)).json() for c in (a, b, a, b, a)]
        await pay(client, other_account, await make_case(client, other_account), 1000)
        listed = (
            await client.get("/v1/debt_payments", params={"limit": 2}, headers=account.headers)
        ).json()
        assert listed["url"] == "/v1/debt_payments"
        assert [p["id"] for p in listed["data"]] == [made[4]["id"], made[3]["id"]]
        nxt = (
            await client.get(
                "/v1/debt_payments",
                params={"limit": 10, "starting_after": listed["data"][-1]["id"]},
                headers=account.headers,
            )
        ).json()
        assert [p["id"] for p in nxt["data"]] == [m["id"] for m in made[2::-1]]
        only_a = (
            await client.get("/v1/debt_payments", params={"case": a["id"]}, headers=account.headers)
        ).json()
        assert {p["id"] for p in only_a["data"]} == {made[0]["id"], made[2]["id"], made[4]["id"]}
        one = await client.get(f"/v1/debt_payments/{made[0]['id']}", headers=account.headers)
        assert one.json() == made[0]
        foreign = await client.get(
            f"/v1/debt_payments/{made[0]['id']}", headers=other_account.headers
        )
        assert foreign.status_code == 404
        live = await client.get("/v1/debt_payments", headers=auth(account.sk_live))
        assert live.json()["data"] == []
