"""Every list query the API runs is served by an index (EXPLAIN on a seeded table)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from collection_cases.accounts.service import Principal
from collection_cases.cases import service as cases
from collection_cases.pagination import ListParams, page_query

ROWS = 30_000


@pytest.fixture(scope="module")
async def seeded(engine):  # type: ignore[no-untyped-def]
    from tests.factories import make_account

    account = await make_account(engine)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                """
                INSERT INTO collection_cases (id, account_id, is_test, reference, status,
                    amount_to_recover, remainder, currency, debtor, debtor_type, debtor_country,
                    due_date, created_at)
                SELECT gen_random_uuid(), :a, i % 2 = 0, 'P' || lpad(upper(to_hex(i)), 7, '0'),
                    CASE WHEN i % 1000 = 0 THEN 'paused' ELSE 'active' END,
                    100, 100, 'eur', '{}'::jsonb,
                    CASE WHEN i % 3 = 0 THEN 'company' ELSE 'private' END,
                    CASE WHEN i % 7 = 0 THEN 'FR' ELSE 'DE' END,
                    DATE '2024-01-01', now() - i * interval '1 minute'
                FROM generate_series(1, :n) AS i
                """
            ),
            {"a": account.id, "n": ROWS},
        )
        await conn.execute(text("ANALYZE collection_cases"))
        cursor = (
            await conn.execute(
                text(
                    "SELECT created_at, id FROM collection_cases WHERE account_id = :a "
                    "AND is_test ORDER BY created_at ASC LIMIT 1 OFFSET 50"
                ),
                {"a": account.id},
            )
        ).one()
    return Principal(account.id, True, "secret", "key_x"), tuple(cursor)


def _params(**kw: object) -> ListParams:
    base = dict(
        limit=10,
        starting_after=None,
        ending_before=None,
        created_gt=None,
        created_gte=None,
        created_lt=None,
        created_lte=None,
    )
    return ListParams(**{**base, **kw})  # type: ignore[arg-type]


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
async def test_list_query_uses_an_index(seeded, engine, name):
    principal, cursor = seeded
    params_kw, filters, direction = CASES[name]
    where, args = cases.list_filters(principal, _params(**params_kw), **filters)
    sql, args = page_query(
        select=cases.SELECT,
        where=where,
        args=args,
        limit=10,
        after=cursor if direction == "after" else None,
        before=cursor if direction == "before" else None,
    )
    async with engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        cur = await raw.execute("EXPLAIN " + sql, args)
        plan = "\n".join(r[0] for r in await cur.fetchall())
    assert "Seq Scan" not in plan, plan
    assert "ix_collection_cases_" in plan, plan
    # The index yields rows in page order: no sort of the whole filtered set.
    assert "Sort" not in plan, plan
