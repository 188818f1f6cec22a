"""The data layer's rules: one way to run SQL, and tenant tables only ever under a Scope."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest

from collection_cases import db
from collection_cases.db import Scope, Unscoped, UnscopedQuery

SRC = Path(__file__).resolve().parents[1] / "src" / "collection_cases"
# Outside the request path and before any pool exists: the migration lock (SQLAlchemy, under
# Alembic) and creating the embedded server's database (psycopg, once at start).
DIRECT_SQL_ALLOWED = {"db.py", "migrate.py", "embedded.py"}


def _direct_sql_calls(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"execute", "executemany", "cursor"}
            and not (isinstance(node.func.value, ast.Name) and node.func.value.id in {"db", "pipe"})
        ):
            found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    return found


def test_every_statement_goes_through_the_row_helpers() -> None:
    """No module runs SQL on a connection itself: the helpers (which enforce the tenant
    scope) are the only way in."""
    offenders = [
        site
        for path in sorted(SRC.rglob("*.py"))
        if path.name not in DIRECT_SQL_ALLOWED
        for site in _direct_sql_calls(path)
    ]
    assert offenders == []


def test_tenant_tables_are_read_from_the_schema() -> None:
    assert {
        "collection_cases",
        "case_files",
        "chat_messages",
        "debt_payments",
        "events",
        "webhook_endpoints",
        "webhook_deliveries",
        "idempotency_keys",
        "api_keys",
    } <= db.tenant_tables()
    assert "collection_partners" not in db.tenant_tables()


class TestScopeGuard:
    async def test_tenant_query_without_scope_is_refused(self, pool) -> None:  # type: ignore[no-untyped-def]
        async with pool.connection() as conn:
            with pytest.raises(UnscopedQuery):
                await db.fetch_all(conn, "SELECT id FROM collection_cases LIMIT 1")
            with pytest.raises(UnscopedQuery):
                await db.execute(conn, "UPDATE events SET type = type WHERE false")
            with pytest.raises(UnscopedQuery):
                await db.fetch_all(
                    conn,
                    "SELECT 1 FROM collection_partners p JOIN case_files f ON true LIMIT 1",
                )

    async def test_scoped_statement_must_carry_the_condition(self, pool) -> None:  # type: ignore[no-untyped-def]
        async with pool.connection() as conn:
            with pytest.raises(UnscopedQuery):
                await db.fetch_all(
                    conn, "SELECT id FROM collection_cases LIMIT 1", scope=Scope(1, True)
                )
            with pytest.raises(UnscopedQuery):
                await db.fetch_all(
                    conn,
                    "SELECT id FROM collection_cases WHERE {scope}",
                    scope=Unscoped("a wildcard is not a scope"),
                )

    @pytest.mark.parametrize(
        "sql",
        [
            "SELECT 1 FROM collection_partners p, collection_cases c LIMIT 1",  # comma join
            'SELECT 1 FROM "collection_cases" LIMIT 1',  # a quoted name
            "SELECT 1 WHERE EXISTS (SELECT 1 FROM public.events)",  # schema-qualified
            "DELETE FROM collection_partners USING case_files f WHERE false",
            # a quote in a comment does not open a literal that hides what follows
            "SELECT 1 FROM -- the case's row\ncollection_cases LIMIT 1",
            "SELECT 1 /* it's */ FROM events LIMIT 1",
        ],
    )
    async def test_every_way_of_naming_a_tenant_table_is_seen(self, pool, sql) -> None:  # type: ignore[no-untyped-def]
        async with pool.connection() as conn:
            with pytest.raises(UnscopedQuery):
                await db.fetch_all(conn, sql)

    @pytest.mark.parametrize(
        "sql",
        [
            # account_id alone leaves the mode open: live rows would show to a test key
            "SELECT id FROM collection_cases WHERE account_id = %(account_id)s",
            "UPDATE collection_cases SET status = status WHERE account_id = %(account_id)s",
            # an INSERT names its row's owner completely, or not at all
            "INSERT INTO idempotency_keys (account_id, key) VALUES (%(account_id)s, 'k')",
            # ... and reads no other tenant's rows on the way
            "INSERT INTO events (id, account_id, is_test, type, data) SELECT id, "
            "%(account_id)s, %(is_test)s, 'x', '{}' FROM collection_cases WHERE id = %(id)s",
            # a {scope} in a comment scopes nothing
            "SELECT id FROM collection_cases /* {scope} */ LIMIT 1",
        ],
    )
    async def test_a_partial_owner_is_not_a_scope(self, pool, sql) -> None:  # type: ignore[no-untyped-def]
        async with pool.connection() as conn:
            with pytest.raises(UnscopedQuery):
                await db.fetch_all(conn, sql, scope=Scope(1, True))

    async def test_the_scope_condition_is_one_term(self, pool, client, account) -> None:  # type: ignore[no-untyped-def]
        """`x OR {scope}` must not widen to every account's rows of the other mode."""
        from tests.factories import make_case

        await make_case(client, account)
        async with pool.connection() as conn:
            n = await db.fetch_value(
                conn,
                "SELECT count(*) FROM collection_cases WHERE false OR {scope} AND false",
                scope=Scope(account.id, True),
            )
        assert n == 0

    async def test_literals_and_parameters_are_not_table_names(self, pool) -> None:  # type: ignore[no-untyped-def]
        async with pool.connection() as conn:
            got = await db.fetch_value(
                conn, "SELECT 'events' || %(collection_cases)s", {"collection_cases": "!"}
            )
        assert got == "events!"

    async def test_scope_limits_rows_to_account_and_mode(
        self, pool, client, account, other_account
    ) -> None:  # type: ignore[no-untyped-def]
        from tests.factories import make_case

        mine = await make_case(client, account)
        await make_case(client, other_account)
        await make_case(client, account, key=account.sk_live)
        async with pool.connection() as conn:
            rows = await db.fetch_all(
                conn,
                "SELECT reference FROM collection_cases c WHERE {scope:c} ORDER BY created_at",
                scope=Scope(account.id, True),
            )
            count = await db.fetch_value(
                conn,
                "SELECT count(*) FROM collection_cases WHERE {scope}",
                scope=Scope(account.id, False),
            )
        assert [r["reference"] for r in rows] == [mine["reference"]]
        assert count == 1

    async def test_non_tenant_tables_need_no_scope(self, pool) -> None:  # type: ignore[no-untyped-def]
        async with pool.connection() as conn:
            assert await db.fetch_value(conn, "SELECT count(*) FROM collection_partners") >= 9


class TestHeldConnections:
    """A read's connection (`db.hold`) goes back to the pool once the request is answered
    (`db.release`), whatever happened to the request."""

    async def test_an_idle_connection_goes_back_at_once(self, database_url) -> None:  # type: ignore[no-untyped-def]
        pool = await db.open_pool(database_url, size=1, timeout=5, wait=True, name="release")
        try:
            state: dict[str, object] = {}
            conn = await db.hold(pool, state)
            await db.release(state)
            assert pool.get_stats()["pool_available"] == 1
            async with pool.connection() as again:
                assert again is conn
            await db.release(state)  # nothing held any more: nothing to do
        finally:
            await pool.close()

    async def test_a_cancelled_release_still_returns_the_connection(self, database_url) -> None:  # type: ignore[no-untyped-def]
        pool = await db.open_pool(database_url, size=1, timeout=5, wait=True, name="release")
        try:
            state: dict[str, object] = {}
            conn = await db.hold(pool, state)
            # A transaction left open: the pool rolls it back first, so the return waits on
            # the database, and the request is cancelled while it does.
            await db.execute(conn, "BEGIN")
            releasing = asyncio.ensure_future(db.release(state))
            await asyncio.sleep(0)
            assert not releasing.done()
            releasing.cancel()
            with pytest.raises(asyncio.CancelledError):
                await releasing
            async with asyncio.timeout(5), pool.connection() as again:
                assert again is conn
                assert await db.fetch_value(again, "SELECT 1") == 1
        finally:
            await pool.close()
