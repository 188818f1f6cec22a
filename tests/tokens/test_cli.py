"""`collection-cases keys create|list|revoke`: the same tokens as the API."""

from __future__ import annotations

import asyncio
import time

import pytest

from collection_cases import cli
from collection_cases.accounts.permissions import ALL_READ
from collection_cases.config import get_settings
from tests.factories import auth


@pytest.fixture
def cli_env(monkeypatch, database_url):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def arun(capsys, *argv: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    # The CLI runs its own event loop: give it a thread, as a separate process would.
    code = await asyncio.to_thread(cli.main, list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def test_cli_tokens_are_api_tokens(cli_env, capsys, client, account):
    # An operator's key for the account the fixture made through the same service.
    code, out, err = await arun(
        capsys, "keys", "create", "--account", account.name, "--read-only", "--name", "Dashboard"
    )
    assert code == 0
    key = out.strip()
    assert key.startswith("rk_test_")
    token_id = err.split()[1].rstrip(",")
    assert token_id.startswith("tok_")
    shown = await client.get(f"/v1/tokens/{token_id}", headers=account.headers)
    assert shown.status_code == 200
    token = shown.json()
    assert (token["name"], token["type"], token["key_prefix"]) == (
        "Dashboard",
        "restricted",
        key[:8],
    )
    assert token["permissions"] == list(ALL_READ)
    assert (await client.get("/v1/collection_cases", headers=auth(key))).status_code == 200

    await client.get("/v1/events", headers=auth(key))
    code, listing, _ = await arun(capsys, "keys", "list", "--account", account.name)
    assert code == 0
    line = next(x for x in listing.splitlines() if x.startswith(token_id))
    assert key not in listing
    assert f'{account.name}  "Dashboard"  restricted  test  {key[:12]}...  active' in line
    assert "last used 20" in line
    assert "last used never" in listing  # the account's other keys

    # Revoked through the API, seen by the CLI; revoked by the CLI, seen by the API.
    await client.post(f"/v1/tokens/{token_id}/revoke", headers=account.headers)
    code, listing, _ = await arun(capsys, "keys", "list", "--account", account.name)
    assert "  revoked  " in next(x for x in listing.splitlines() if x.startswith(token_id))
    code, _, err = await arun(capsys, "keys", "revoke", token_id)
    assert code == 1
    assert f"The token {token_id} is already revoked." in err
    code, _, err = await arun(capsys, "keys", "revoke", "tok_" + "0" * 24)
    assert code == 1
    assert "No such token" in err
    assert "`collection-cases keys list` shows the ids" in err


async def test_cli_revoke_by_id(cli_env, capsys, client, account):
    code, out, err = await arun(capsys, "keys", "create", "--account", account.name, "--live")
    key = out.strip()
    assert key.startswith("sk_live_")
    token_id = err.split()[1].rstrip(",")
    assert (await client.get("/v1/tokens", headers=auth(key))).status_code == 200
    code, out, _ = await arun(capsys, "keys", "revoke", token_id)
    assert (code, out.strip()) == (0, f"revoked {token_id}")
    assert (await client.get("/v1/tokens", headers=auth(key))).status_code == 401


async def test_cli_expiry(cli_env, capsys, client, account):
    later = int(time.time()) + 3600
    code, out, err = await arun(
        capsys, "keys", "create", "--account", account.name, "--expires-at", str(later)
    )
    assert code == 0
    token_id = err.split()[1].rstrip(",")
    shown = (await client.get(f"/v1/tokens/{token_id}", headers=account.headers)).json()
    assert shown["expires_at"] == later
    code, out, err = await arun(
        capsys, "keys", "create", "--account", account.name, "--expires-at", "2099-01-01"
    )
    assert code == 0
    token_id = err.split()[1].rstrip(",")
    shown = (await client.get(f"/v1/tokens/{token_id}", headers=account.headers)).json()
    assert shown["expires_at"] == 4070908800
    code, listing, _ = await arun(capsys, "keys", "list", "--account", account.name)
    line = next(x for x in listing.splitlines() if x.startswith(token_id))
    assert "expires 2099-01-01T00:00:00Z" in line
    code, out, err = await arun(
        capsys, "keys", "create", "--account", account.name, "--expires-at", "2020-01-01"
    )
    assert (code, out) == (2, "")
    assert "expires_at" in err
    assert "future" in err
    for beyond in ("99999999999999", "10000-01-01"):
        with pytest.raises(SystemExit) as exit_:
            await arun(capsys, "keys", "create", "--account", account.name, "--expires-at", beyond)
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert "--expires-at" in err
        assert "Traceback" not in err


async def test_cli_refuses_a_bad_name(cli_env, capsys, account):
    code, out, err = await arun(
        capsys, "keys", "create", "--account", account.name, "--name", "x" * 201
    )
    assert (code, out) == (2, "")
    assert "--name" in err
