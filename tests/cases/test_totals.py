"""Totals the database keeps (case_totals, payment_totals), the search, the timeline and the
fee: the service functions the dashboard reads."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import text

from collection_cases.accounts.service import Principal
from collection_cases.cases import service as cases
from collection_cases.db import Scope
from collection_cases.events import service as events
from collection_cases.pagination import ListParams
from collection_cases.payments import service as payments
from tests.factories import helper, make_account, make_case


def principal(account, *, is_test: bool = True) -> Principal:  # type: ignore[no-untyped-def]
    return Principal(Scope(account.id, is_test), "secret", "tok_x")


async def totals(pool, account, *, is_test: bool = True) -> dict[tuple[str, str], tuple]:  # type: ignore[no-untyped-def]
    async with pool.connection() as conn:
        rows = await cases.case_totals(conn, principal=principal(account, is_test=is_test))
    return {
        (r["status"], r["currency"]): (r["cases"], r["amount_to_recover"], r["remainder"])
        for r in rows
    }


async def aggregated(engine, account) -> dict[tuple[str, str], tuple]:  # type: ignore[no-untyped-def]
    """The same figures computed from the cases themselves (what the totals must equal)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT status, currency, count(*), sum(amount_to_recover), sum(remainder) "
                "FROM collection_cases WHERE account_id = :a AND is_test GROUP BY 1, 2"
            ),
            {"a": account.id},
        )
        return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows}


class TestCaseTotals:
    async def test_follow_every_change(self, client, account, pool, engine):
        assert await totals(pool, account) == {}
        one = await make_case(client, account)
        two = await make_case(client, account, amount_to_recover=100000)
        await make_case(client, account, currency="usd", debtor__email=None, debtor__phone=None)
        await make_case(client, account, key=account.sk_live)  # live: counted apart
        assert await totals(pool, account) == {
            ("active", "eur"): (2, 460000, 460000),
            ("needs_details", "usd"): (1, 360000, 360000),
        }
        await client.post(f"/v1/collection_cases/{two['id']}/pause", headers=account.headers)
        await helper(client, account, one["id"], "record_payment", amount=60000)
        await client.post(
            f"/v1/collection_cases/{one['id']}",
            headers=account.headers,
            json={"metadata": {"a": "b"}},
        )
        assert await totals(pool, account) == {
            ("active", "eur"): (1, 360000, 300000),
            ("paused", "eur"): (1, 100000, 100000),
            ("needs_details", "usd"): (1, 360000, 360000),
        }
        await helper(client, account, one["id"], "record_payment", amount=300000)  # closes it
        assert (await totals(pool, account))[("closed", "eur")] == (1, 360000, 0)
        assert await totals(pool, account) == await aggregated(engine, account)
        assert await totals(pool, account, is_test=False) == {
            ("active", "eur"): (1, 360000, 360000)
        }

    async def test_many_rows_in_one_statement(self, pool, engine):
        account = await make_account(pool)
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO collection_cases (id, account_id, is_test, reference, status, "
                    "amount_to_recover, remainder, currency, debtor, debtor_type, "
                    "debtor_country, due_date) SELECT gen_random_uuid(), :a, true, "
                    "'T' || lpad(to_hex(i + :a * 1000), 7, '0'), "
                    "CASE WHEN i % 3 = 0 THEN 'paused' ELSE 'active' END, 100, 100 - i, 'eur', "
                    "'{}', 'private', 'DE', DATE '2024-01-01' FROM generate_series(1, 90) i"
                ),
                {"a": account.id},
            )
            await conn.execute(
                text(
                    "UPDATE collection_cases SET status = 'closed' "
                    "WHERE account_id = :a AND status = 'paused'"
                ),
                {"a": account.id},
            )
            await conn.execute(
                text("DELETE FROM collection_cases WHERE account_id = :a AND remainder < 50"),
                {"a": account.id},
            )
        assert await totals(pool, account) == await aggregated(engine, account)

    async def test_an_account_deleted_takes_its_totals(self, client, pool, engine):
        account = await make_account(pool)
        await make_case(client, account)
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM accounts WHERE id = :a"), {"a": account.id})
            left = await conn.execute(
                text("SELECT count(*) FROM case_totals WHERE account_id = :a"), {"a": account.id}
            )
        assert left.scalar_one() == 0


class TestRecoveredByMonth:
    async def test_payments_per_month_and_currency(self, client, account, pool):
        case = await make_case(client, account)
        undated = await helper(client, account, case["id"], "record_payment", amount=1000)
        await helper(
            client, account, case["id"], "record_payment", amount=2000, payment_date="2025-03-14"
        )
        await helper(
            client, account, case["id"], "record_payment", amount=500, payment_date="2025-03-01"
        )
        async with pool.connection() as conn:
            rows = await payments.recovered_by_month(
                conn, principal=principal(account), since=date(2025, 1, 1)
            )
            later = await payments.recovered_by_month(
                conn, principal=principal(account), since=date(2025, 4, 1)
            )
        # The month the server dated the payment in (today's, read from the payment itself:
        # a month may turn between the request and this line).
        stamped = datetime.fromtimestamp(undated.json()["payment_date"], UTC).date()
        this_month = stamped.replace(day=1)
        assert [(r["month"], r["currency"], r["amount"], r["payments"]) for r in rows] == [
            (date(2025, 3, 1), "eur", 2500, 2),
            (this_month, "eur", 1000, 1),
        ]
        assert [r["month"] for r in later] == [this_month]


class TestSearch:
    async def test_by_reference_or_creditor_reference(self, client, account, pool):
        a = await make_case(client, account, creditor_reference="INV-1")
        b = await make_case(client, account, creditor_reference="inv-1")
        c = await make_case(client, account, creditor_reference="INV-10")

        async def found(search: str, **filters: str) -> list[str]:
            async with pool.connection() as conn:
                page = await cases.list_cases(
                    conn,
                    principal=principal(account),
                    params=ListParams(),
                    search=search,
                    **filters,
                )
            return [cases.render(r)["reference"] for r in page.rows]

        assert await found("INV-1") == [b["reference"], a["reference"]]
        assert await found(a["reference"].lower()) == [a["reference"]]
        assert await found(c["reference"], status="paused") == []
        assert await found("INV") == []  # exact, not a prefix


class TestTimeline:
    async def test_the_events_of_one_case_newest_first(self, client, account, pool):
        case = await make_case(client, account)
        other = await make_case(client, account)
        await client.post(f"/v1/collection_cases/{case['id']}/pause", headers=account.headers)
        await helper(client, account, case["id"], "record_payment", amount=100)
        async with pool.connection() as conn:
            rows = await events.case_events(conn, principal=principal(account), case_id=case["id"])
            theirs = await events.case_events(
                conn, principal=principal(account, is_test=False), case_id=case["id"]
            )
        assert [r["type"] for r in rows] == [
            "collection_case.updated",
            "debt_payment.created",
            "collection_case.paused",
            "collection_case.updated",
            "collection_case.active",
            "collection_case.created",
        ]
        assert other["id"] not in str([r["data"] for r in rows])
        assert theirs == []


class TestSuccessFee:
    async def test_kept_on_the_case(self, client, account, pool):
        case = await make_case(client, account)
        pending = await make_case(client, account, debtor__address__country="JP")
        assert pending["status"] == "pending_verification"
        async with pool.connection() as conn:
            fee = await cases.success_fee_pct(
                conn, principal=principal(account), case_id=case["id"]
            )
            none = await cases.success_fee_pct(
                conn, principal=principal(account), case_id=pending["id"]
            )
        paid = (await helper(client, account, case["id"], "record_payment", amount=10000)).json()
        assert fee is not None
        assert paid["fee_amount"] == int(fee * 100)
        assert none is None
