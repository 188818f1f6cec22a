"""Every list query the API runs is served by an index (EXPLAIN on a seeded table)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from collection_cases import ids
from collection_cases.accounts.service import Principal
from collection_cases.cases import service as cases
from collection_cases.db import Scope
from collection_cases.pagination import ListParams

ROWS = 30_000


@pytest.fixture(scope="module")
async def seeded(engine, pool):  # type: ignore[no-untyped-def]
    from tests.factories import make_account

    account = await make_account(pool)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                """
                INSERT INTO collection_cases (id, account_id, is_test, reference, status,
                    amount_to_recover, remainder, currency, debtor, debtor_type, debtor_country,
                    creditor_reference, due_date, created_at)
                SELECT gen_random_uuid(), :a, i % 2 = 0, 'P' || lpad(upper(to_hex(i)), 7, '0'),
                    CASE WHEN i % 1000 = 0 THEN 'paused' ELSE 'active' END,
                    100, 100, 'eur', '{}'::jsonb,
                    CASE WHEN i % 3 = 0 THEN 'company' ELSE 'private' END,
                    CASE WHEN i % 7 = 0 THEN 'FR' ELSE 'DE' END, 'INV-' || (i % 20000),
                    DATE '2024-01-01', now() - i * interval '1 minute'
                FROM generate_series(1, :n) AS i
                """
            ),
            {"a": account.id, "n": ROWS},
        )
        # Events of those cases (a case's own and its payments'), for the timeline's plan.
        await conn.execute(
            text(
                """
                INSERT INTO events (id, account_id, is_test, type, data, created_at)
                SELECT 'evt_' || md5(c.id::text || k), c.account_id, c.is_test,
                    CASE k WHEN 1 THEN 'collection_case.created' ELSE 'debt_payment.created' END,
                    CASE k WHEN 1
                        THEN jsonb_build_object('object', jsonb_build_object(
                            'id', 'dc_' || replace(c.id::text, '-', '')))
                        ELSE jsonb_build_object('object', jsonb_build_object(
                            'id', 'dp_' || k, 'case', 'dc_' || replace(c.id::text, '-', '')))
                    END,
                    c.created_at + k * interval '1 second'
                FROM collection_cases c, generate_series(1, 2) AS k WHERE c.account_id = :a
                """
            ),
            {"a": account.id},
        )
        await conn.execute(text("ANALYZE collection_cases"))
        await conn.execute(text("ANALYZE events"))
        cursor = (
            await conn.execute(
                text(
                    "SELECT created_at, id FROM collection_cases WHERE account_id = :a "
                    "AND is_test ORDER BY created_at ASC LIMIT 1 OFFSET 50"
                ),
                {"a": account.id},
            )
        ).one()
    return Principal(Scope(account.id, True), "secret", "key_x"), ids.encode("dc", cursor[1])


async def _plan(pool, run, marker: str = "ORDER BY") -> str:  # type: ignore[no-untyped-def]
    """EXPLAIN of the statement (containing `marker`) that `run(connection)` sends."""
    async with pool.connection() as conn:
        recording = Recording(conn)
        await run(recording)
        (sql, args), *_ = [s for s in recording.statements if marker in s[0]]
        cur = await conn.execute("EXPLAIN " + sql, args)
        return "\n".join(r[0] for r in await cur.fetchall())


class Recording:
    """The real connection, noting every statement the code under test runs on it."""

    def __init__(self, conn):  # type: ignore[no-untyped-def]
        self.conn = conn
        self.statements: list[tuple[str, object]] = []

    def cursor(self, **kw):  # type: ignore[no-untyped-def]
        cur = self.conn.cursor(**kw)
        statements = self.statements

        class Cursor:
            async def execute(self, query, args=None):  # type: ignore[no-untyped-def]
                statements.append((query, args))
                return await cur.execute(query, args)

            async def fetchone(self):  # type: ignore[no-untyped-def]
                return await cur.fetchone()

            async def fetchall(self):  # type: ignore[no-untyped-def]
                return await cur.fetchall()

        return Cursor()

    async def execute(self, query, args=None):  # type: ignore[no-untyped-def]
        self.statements.append((query, args))
        return await self.conn.execute(query, args)


T = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())
CASES = {
    "first page": ({}, {}, None),
    "status": ({}, {"status": "paused"}, None),
    "country": ({}, {"debtor_country": "FR"}, None),
    "debtor type": ({}, {"debtor_type": "company"}, None),
    "created range": ({"created_gte": T, "created_lt": T + 86400}, {}, None),
    "deep page": ({}, {}, "after"),
    "backwards": ({}, {}, "before"),
    "status deep": ({}, {"status": "active"}, "after"),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_list_query_uses_an_index(seeded, pool, name):
    principal, cursor = seeded
    params_kw, filters, direction = CASES[name]
    params = ListParams(
        starting_after=cursor if direction == "after" else None,
        ending_before=cursor if direction == "before" else None,
        **params_kw,  # type: ignore[arg-type]
    )
    async with pool.connection() as conn:
        recording = Recording(conn)
        await cases.list_cases(recording, principal=principal, params=params, **filters)
        (sql, args), *_ = [s for s in recording.statements if "ORDER BY" in s[0]]
        cur = await conn.execute("EXPLAIN " + sql, args)
        plan = "\n".join(r[0] for r in await cur.fetchall())
    assert "Seq Scan" not in plan, plan
    assert "ix_collection_cases_" in plan, plan
    # The index yields rows in page order: no sort of the whole filtered set.
    assert "Sort" not in plan, plan


@pytest.mark.parametrize(
    ("search", "filters", "index"),
    [
        ("INV-123", {}, "ix_collection_cases_creditor_reference"),
        ("inv-123", {"status": "active"}, "ix_collection_cases_creditor_reference"),
        ("P0000123", {}, "uq_collection_cases_reference"),
    ],
)
async def test_dashboard_search_uses_an_index(seeded, pool, search, filters, index):
    principal, _ = seeded

    async def run(conn):  # type: ignore[no-untyped-def]
        await cases.list_cases(
            conn, principal=principal, params=ListParams(), search=search, **filters
        )

    plan = await _plan(pool, run)
    assert "Seq Scan" not in plan, plan
    assert index in plan, plan


async def test_case_timeline_uses_its_index(seeded, pool):
    from collection_cases.events import service as events

    principal, cursor = seeded

    async def run(conn):  # type: ignore[no-untyped-def]
        rows = await events.case_events(conn, principal=principal, case_id=cursor)
        assert [r["type"] for r in rows] == ["debt_payment.created", "collection_case.created"]

    plan = await _plan(pool, run)
    assert "Seq Scan" not in plan, plan
    assert "ix_events_case" in plan, plan


async def test_totals_read_no_cases(seeded, pool):
    principal, _ = seeded

    async def run(conn):  # type: ignore[no-untyped-def]
        rows = await cases.case_totals(conn, principal=principal)
        assert sum(r["cases"] for r in rows) == ROWS // 2

    plan = await _plan(pool, run, marker="case_totals")
    assert "collection_cases" not in plan, plan
