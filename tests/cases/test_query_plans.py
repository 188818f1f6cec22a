"""Every list query the API runs is served by an index (EXPLAIN on a seeded table)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from collection_cases import db, ids
from collection_cases.accounts.service import Principal
from collection_cases.cases import service as cases
from collection_cases.db import Scope
from collection_cases.events import partitions
from collection_cases.pagination import ListParams
from tests.conftest import new_database

ROWS = 30_000


# The plans depend on the statistics of whole tables: this module seeds and analyzes a
# database of its own, so what other tests wrote before (on the same test process) cannot
# change them.
@pytest.fixture(scope="module")
def plans_database(pg_server_url):  # type: ignore[no-untyped-def]
    with new_database(pg_server_url, "cc_plans") as url:
        yield url


@pytest.fixture(scope="module")
async def pool(plans_database):  # type: ignore[no-untyped-def]
    pool = await db.open_pool(plans_database, size=2, timeout=5, wait=True, name="plans")
    yield pool
    await pool.close()


@pytest.fixture(scope="module")
async def engine(plans_database):  # type: ignore[no-untyped-def]
    engine = create_async_engine(db.sqlalchemy_url(plans_database))
    yield engine
    await engine.dispose()


@pytest.fixture(scope="module")
async def seeded(engine, pool):  # type: ignore[no-untyped-def]
    from tests.factories import make_account

    account = await make_account(pool)
    # The cases' events go back ROWS minutes (about three weeks): their months' partitions,
    # which the migrations (this month and the ones ahead) do not make early in a month.
    now = datetime.now(UTC)
    async with pool.connection() as conn:
        await partitions.ensure(conn, now - timedelta(minutes=ROWS + 1), now)
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


# Events and webhook deliveries: partitioned by month --------------------------------------

EVENT_ROWS = 30_000
# Seeded over this many days back from now: five or six monthly partitions hold rows.
EVENT_DAYS = 150
# Not a Seq Scan on these: small (tests) tables read by primary key in production.
SMALL_TABLES = {"webhook_endpoints", "accounts"}
SMALL_PARTITION = 500  # rows


@pytest.fixture(scope="module")
async def seeded_events(engine, pool):  # type: ignore[no-untyped-def]
    """EVENT_ROWS events of one account over EVENT_DAYS (ids carrying their times, as the
    service makes them), each delivered to one endpoint; every tenth delivery failed, every
    hundredth pending but not due for years (no worker of another test may pick it up)."""
    from tests.factories import make_account

    account = await make_account(pool)
    endpoint = "we_" + "5e" * 12
    now = datetime.now(UTC)
    async with pool.connection() as conn:
        await partitions.ensure(conn, now - timedelta(days=EVENT_DAYS + 1), now)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO webhook_endpoints (id, account_id, is_test, url, enabled_events, "
                "secret_encrypted, status) VALUES (:e, :a, true, 'https://hooks.example.com', "
                "'[\"*\"]', 'sealed', 'disabled')"
            ),
            {"e": endpoint, "a": account.id},
        )
        await conn.execute(
            text(
                """
                INSERT INTO events (id, account_id, is_test, type, data, created_at)
                SELECT 'evt_' || lpad(to_hex((extract(epoch FROM at) * 1000)::bigint), 12, '0')
                       || '7' || substr(md5(i::text), 1, 3) || '8'
                       || substr(md5(i::text), 4, 15),
                    :a, i % 7 <> 0,
                    CASE WHEN i % 1000 = 0 THEN 'case_file.uploaded'
                         WHEN i % 1000 = 500 THEN 'case_chat.created'
                         ELSE (ARRAY['collection_case.created', 'collection_case.updated',
                                     'collection_case.active', 'debt_payment.created'])[i % 4 + 1]
                    END,
                    '{"object": {}}'::jsonb, at
                FROM generate_series(1, :n) AS i,
                     LATERAL (SELECT date_trunc('milliseconds',
                                  now() - i * (:days * interval '1 day') / :n) AS at) t
                """
            ),
            {"a": account.id, "n": EVENT_ROWS, "days": EVENT_DAYS},
        )
        await conn.execute(
            text(
                """
                INSERT INTO webhook_deliveries (id, account_id, is_test, event_id,
                    event_created_at, endpoint_id, status, next_attempt_at, created_at)
                SELECT 'whd_' || md5(id), account_id, is_test, id, created_at, :e,
                    CASE WHEN n % 100 = 0 THEN 'pending' WHEN n % 10 = 0 THEN 'failed'
                         ELSE 'delivered' END,
                    now() + interval '100 years', created_at + interval '2 milliseconds'
                FROM (SELECT e.*, row_number() OVER () AS n FROM events e
                      WHERE account_id = :a) e
                """
            ),
            {"a": account.id, "e": endpoint},
        )
        await conn.execute(text("ANALYZE events"))
        await conn.execute(text("ANALYZE webhook_deliveries"))
        # Two thirds down (months back), among all events and among those of one type.
        cursors = {}
        for types in (None, ("collection_case.active",)):
            cursors[types] = (
                await conn.execute(
                    text(
                        "SELECT id FROM events WHERE account_id = :a AND is_test AND "
                        "(CAST(:types AS text[]) IS NULL OR type = ANY(CAST(:types AS text[]))) "
                        "ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET :deep"
                    ),
                    {
                        "a": account.id,
                        "types": list(types) if types else None,
                        "deep": EVENT_ROWS * 2 // 3 // (4 if types else 1),
                    },
                )
            ).scalar_one()
        delivery = (
            await conn.execute(
                text(
                    "SELECT id FROM webhook_deliveries WHERE account_id = :a AND is_test "
                    "ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET :deep"
                ),
                {"a": account.id, "deep": EVENT_ROWS * 2 // 3},
            )
        ).scalar_one()
    principal = Principal(Scope(account.id, True), "secret", "key_x")
    return principal, endpoint, cursors, delivery


def plan_nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    """Every node of an EXPLAIN (FORMAT JSON) plan, subplans included."""
    return [node, *(n for child in node.get("Plans", []) for n in plan_nodes(child))]


async def explain(conn, sql: str, args: object, *, analyze: bool = False) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    options = "ANALYZE, BUFFERS, FORMAT JSON" if analyze else "FORMAT JSON"
    cur = await conn.execute(f"EXPLAIN ({options}) {sql}", args)
    return (await cur.fetchone())[0][0]["Plan"]  # type: ignore[no-any-return]


@dataclass
class Catalog:
    parents: dict[str, str]  # each partition's index -> the partitioned index it belongs to
    small: set[str]  # partitions with (next to) no rows: the months ahead, a month's first day


async def catalog(conn) -> Catalog:  # type: ignore[no-untyped-def]
    cur = await conn.execute(
        "SELECT c.relname, p.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE c.relkind = 'i'"
    )
    parents = dict(await cur.fetchall())
    cur = await conn.execute(
        "SELECT relname FROM pg_class WHERE relispartition AND relkind = 'r' "
        "AND reltuples < %(rows)s",
        {"rows": SMALL_PARTITION},
    )
    return Catalog(parents, {r[0] for r in await cur.fetchall()})


def check_index_driven(plan: dict[str, Any], known: Catalog, *, sort: bool = False) -> set[str]:
    """No Seq Scan but on a partition with next to no rows (a month ahead: the planner knows
    there is nothing to read) or a small table; no Sort (unless `sort`: of what index scans
    yield). The indexes read, a partition's by its partitioned index's name."""
    nodes = plan_nodes(plan)
    text_plan = outline(plan)
    seq = [n["Relation Name"] for n in nodes if n["Node Type"] == "Seq Scan"]
    assert set(seq) <= SMALL_TABLES | known.small, text_plan
    if not sort:
        assert not [n for n in nodes if n["Node Type"] in {"Sort", "Incremental Sort"}], text_plan
    return {known.parents.get(n["Index Name"], n["Index Name"]) for n in nodes if "Index Name" in n}


def outline(node: dict[str, Any], depth: int = 0) -> str:
    """A plan as EXPLAIN's text shows it, one node a line (for failure messages)."""
    line = "  " * depth + node["Node Type"]
    if "Index Name" in node:
        line += f" using {node['Index Name']}"
    if "Relation Name" in node:
        line += f" on {node['Relation Name']}"
    for key in ("Index Cond", "Filter", "Subplans Removed"):
        if key in node:
            line += f"  [{key}: {node[key]}]"
    return "\n".join([line, *(outline(c, depth + 1) for c in node.get("Plans", []))])


def scanned(plan: dict[str, Any], table: str) -> set[str]:
    """The partitions of `table` the plan reads."""
    return {
        n["Relation Name"]
        for n in plan_nodes(plan)
        if n.get("Relation Name", "").startswith(table + "_")
    }


DAY = 86400
EVENT_CASES: dict[str, tuple[dict[str, int], dict[str, Any], str | None]] = {
    "first page": ({}, {}, None),
    "type": ({}, {"types": ["collection_case.updated"]}, None),
    "rare type": ({}, {"types": ["case_file.uploaded"]}, None),
    "types": ({}, {"types": ["collection_case.created", "debt_payment.created"]}, None),
    "rare types": ({}, {"types": ["case_file.uploaded", "case_chat.created"]}, None),
    "delivery_success": ({}, {"delivery_success": True}, None),
    "not delivered": ({}, {"delivery_success": False}, None),
    "created range": ({"created_gte": -45 * DAY, "created_lt": -44 * DAY}, {}, None),
    "deep cursor": ({}, {}, "after"),
    "backwards": ({}, {}, "before"),
    "type, deep": ({}, {"types": ["collection_case.active"]}, "after"),
    "created range, deep": ({"created_lt": -10 * DAY}, {}, "after"),
}


def _relative(params: dict[str, int]) -> dict[str, int]:
    """created[...] bounds given relative to today's UTC midnight (negative seconds), made
    absolute: a one-day window is one calendar day, never across a month's end."""
    midnight = int(datetime.now(UTC).timestamp()) // DAY * DAY
    return {k: midnight + v for k, v in params.items()}


@pytest.mark.parametrize("name", list(EVENT_CASES))
async def test_events_list_uses_its_indexes_across_partitions(seeded_events, pool, name):  # type: ignore[no-untyped-def]
    from collection_cases.events import service as events

    principal, _, cursors, _ = seeded_events
    params_kw, filters, direction = EVENT_CASES[name]
    cursor = cursors[tuple(filters["types"]) if "types" in filters else None] if direction else None
    bounds = _relative(params_kw)
    params = ListParams(
        starting_after=cursor if direction == "after" else None,
        ending_before=cursor if direction == "before" else None,
        **bounds,  # type: ignore[arg-type]
    )
    async with pool.connection() as conn:
        recording = Recording(conn)
        filters = {"types": None, **filters}
        page = await events.list_events(recording, principal=principal, params=params, **filters)
        assert page.rows  # the query reads rows, not an empty corner
        known = await catalog(conn)
        plans = [await explain(conn, sql, args) for sql, args in recording.statements]
    *cursor_plans, (list_plan) = plans
    for plan in cursor_plans:  # the cursor's own row, by primary key
        assert check_index_driven(plan, known) == {"pk_events"}
    # Several types: each type's range of ix_events_type, the page a top-N sort of what those
    # ranges hold (bounded by how many events have these types, not by the table; a common
    # family is read from the list's index instead, as "types" shows).
    used = check_index_driven(list_plan, known, sort=name == "rare types")
    # A rare type is read from its own index; a common one may be too, or the list's index
    # yields a page of it after a few rows.
    listed = {"ix_events_type"} if name.startswith("rare") else {"ix_events_list"}
    if filters["types"] and not name.startswith("rare"):
        listed.add("ix_events_type")
    # The list's index, and for pending_webhooks (and delivery_success) an event's
    # deliveries by their index, their endpoint by an index of its (small) table.
    assert used <= {
        *listed,
        "ix_webhook_deliveries_event",
        "pk_webhook_endpoints",
        "ix_webhook_endpoints_list",
    }, outline(list_plan)
    assert used & listed, outline(list_plan)
    if "created_gte" in params_kw:  # one day: its month's partition alone
        day = datetime.fromtimestamp(bounds["created_gte"], UTC)
        assert scanned(list_plan, "events") == {f"events_{day:%Y_%m}"}, list_plan
    elif not direction:
        assert len(scanned(list_plan, "events")) >= 5  # a Merge Append over the months


DELIVERY_CASES: dict[str, tuple[dict[str, int], str | None]] = {
    "first page": ({}, None),
    "created range": ({"created_gte": -45 * DAY, "created_lt": -44 * DAY}, None),
    "deep cursor": ({}, "after"),
    "backwards": ({}, "before"),
}


@pytest.mark.parametrize("name", list(DELIVERY_CASES))
async def test_deliveries_list_uses_its_index_across_partitions(seeded_events, pool, name):  # type: ignore[no-untyped-def]
    """An endpoint's deliveries, newest first: each month's partition of
    ix_webhook_deliveries_endpoint, merged in order. (A delivery lives in its event's month,
    and its own created[...] does not name that month, so every month is looked at: one
    index descent each.)"""
    from collection_cases.events import webhooks

    principal, endpoint, _, cursor = seeded_events
    params_kw, direction = DELIVERY_CASES[name]
    params = ListParams(
        starting_after=cursor if direction == "after" else None,
        ending_before=cursor if direction == "before" else None,
        **_relative(params_kw),  # type: ignore[arg-type]
    )
    async with pool.connection() as conn:
        recording = Recording(conn)
        page = await webhooks.list_deliveries(
            recording, principal=principal, endpoint_id=endpoint, params=params
        )
        assert page.rows
        known = await catalog(conn)
        _, *cursor_statements, (sql, args) = recording.statements  # the endpoint, the cursor
        for cursor_sql, cursor_args in cursor_statements:
            plan = await explain(conn, cursor_sql, cursor_args)
            assert check_index_driven(plan, known) == {"pk_webhook_deliveries"}, outline(plan)
        plan = await explain(conn, sql, args)
    assert check_index_driven(plan, known) == {"ix_webhook_deliveries_endpoint"}, outline(plan)
    assert len(scanned(plan, "webhook_deliveries")) >= 5


async def test_webhook_claim_is_index_driven(seeded_events, pool):  # type: ignore[no-untyped-def]
    """The worker's claim over a backlog (every pending delivery due, twenty endpoints):
    due rows from the partial index of pending rows, each checked for an older pending one
    of its endpoint (through the other partial index, or a hash of the pending rows: the
    planner's choice, PostgreSQL 15 and 18 differ), then joined to its row, event, endpoint
    and account by their keys. Delivered and failed rows, the bulk of every month, are
    never read. What is sorted is what passed: at most one head per endpoint."""
    from collection_cases.events.delivery import _CLAIM

    principal, _, _, _ = seeded_events
    async with pool.connection() as conn, conn.transaction(force_rollback=True):
        await conn.execute(
            "INSERT INTO webhook_endpoints (id, account_id, is_test, url, enabled_events, "
            "secret_encrypted) SELECT 'we_' || lpad(to_hex(i), 24, '0'), %(a)s, true, "
            "'https://hooks.example.com', '[\"*\"]', 'sealed' FROM generate_series(1, 20) i",
            {"a": principal.scope.account_id},
        )
        await conn.execute(
            "UPDATE webhook_deliveries SET next_attempt_at = created_at + interval '1 minute', "
            "endpoint_id = 'we_' || lpad(to_hex(abs(hashtext(id)) %% 20 + 1), 24, '0') "
            "WHERE account_id = %(a)s AND status = 'pending'",
            {"a": principal.scope.account_id},
        )
        await conn.execute("ANALYZE webhook_deliveries")
        known = await catalog(conn)
        plan = await explain(conn, _CLAIM, {"batch": 20, "lease": 60})
    used = check_index_driven(plan, known, sort=True)
    assert used >= {"ix_webhook_deliveries_due", "pk_webhook_deliveries"}, outline(plan)
    assert used & {"pk_events", "ix_events_list"}, outline(plan)
    assert used <= {
        "ix_webhook_deliveries_due",
        "ix_webhook_deliveries_endpoint_pending",
        "ix_webhook_deliveries_event",
        "pk_webhook_deliveries",
        "pk_events",
        "ix_events_list",  # the event by account and time: PostgreSQL 18 may choose it
        "pk_webhook_endpoints",
        "ix_webhook_endpoints_list",
        "pk_accounts",
    }, outline(plan)


async def test_webhook_claim_reads_the_heads_not_the_queues(seeded_events, pool):  # type: ignore[no-untyped-def]
    """With every endpoint's head in flight (leased), a claim over a backlog finds nothing
    to do, and reads about one row per endpoint to know it: never the queues behind them (a
    backlog would otherwise make every claim cost as much as the backlog is long)."""
    from collection_cases.events.delivery import _CLAIM

    principal, _, _, _ = seeded_events
    async with pool.connection() as conn, conn.transaction(force_rollback=True):
        await conn.execute(
            "INSERT INTO webhook_endpoints (id, account_id, is_test, url, enabled_events, "
            "secret_encrypted) SELECT 'we_' || lpad(to_hex(i), 24, '0'), %(a)s, true, "
            "'https://hooks.example.com', '[\"*\"]', 'sealed' FROM generate_series(1, 20) i",
            {"a": principal.scope.account_id},
        )
        # A long backlog: the failed deliveries too are pending again, all due.
        backlog = (
            await conn.execute(
                "UPDATE webhook_deliveries SET next_attempt_at = created_at, status = 'pending', "
                "endpoint_id = 'we_' || lpad(to_hex(abs(hashtext(id)) %% 20 + 1), 24, '0') "
                "WHERE account_id = %(a)s AND status IN ('pending', 'failed')",
                {"a": principal.scope.account_id},
            )
        ).rowcount
        assert backlog >= 3000
        partitions = (
            await (
                await conn.execute(
                    "SELECT count(*) FROM pg_inherits WHERE inhparent = "
                    "'webhook_deliveries'::regclass"
                )
            ).fetchone()
        )[0]
        await conn.execute("ANALYZE webhook_deliveries")
        first = await conn.execute(_CLAIM, {"batch": 100, "lease": 60})
        assert len(await first.fetchall()) == 20  # one head per endpoint, no more
        plan = await explain(conn, _CLAIM, {"batch": 100, "lease": 60}, analyze=True)
    assert plan.get("Actual Rows") == 0, outline(plan)  # every head is in flight
    read = sum(
        n.get("Actual Rows", 0) * n.get("Actual Loops", 1)
        for n in plan_nodes(plan)
        if n.get("Relation Name", "").startswith("webhook_deliveries")
    )
    # A head is the first row of a merge over the months' partitions: up to one row per
    # partition per endpoint, whatever the length of the queues.
    assert read <= 20 * (partitions + 1), (read, outline(plan))
    assert backlog >= 10 * read


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
    """A case's timeline reads ix_events_case in every month's partition (none of a month
    ahead holds rows: the planner may scan those empty ones)."""
    from collection_cases.events import service as events

    principal, cursor = seeded
    async with pool.connection() as conn:
        recording = Recording(conn)
        rows = await events.case_events(recording, principal=principal, case_id=cursor)
        assert [r["type"] for r in rows] == ["debt_payment.created", "collection_case.created"]
        (sql, args), *_ = [s for s in recording.statements if "ORDER BY" in s[0]]
        plan = await explain(conn, sql, args)
        known = await catalog(conn)
    assert check_index_driven(plan, known, sort=True) == {"ix_events_case"}, outline(plan)


async def test_totals_read_no_cases(seeded, pool):
    principal, _ = seeded

    async def run(conn):  # type: ignore[no-untyped-def]
        rows = await cases.case_totals(conn, principal=principal)
        assert sum(r["cases"] for r in rows) == ROWS // 2

    plan = await _plan(pool, run, marker="case_totals")
    assert "collection_cases" not in plan, plan
