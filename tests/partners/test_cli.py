"""The operator CLI: partners list/add/remove and keys list/revoke, on the test database."""

from __future__ import annotations

import asyncio

import pytest

from collection_cases import cli
from collection_cases.config import get_settings
from tests.factories import auth


@pytest.fixture
def cli_env(monkeypatch, database_url):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run(capsys, *argv: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    code = cli.main(list(argv))
    return code, capsys.readouterr().out


async def arun(capsys, *argv: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    # The CLI runs its own event loop: give it a thread, as a separate process would.
    code = await asyncio.to_thread(cli.main, list(argv))
    return code, capsys.readouterr().out


def test_partners_list_shows_shipped_registry(cli_env, capsys):
    code, out = run(capsys, "partners", "list", "--country", "at")
    assert code == 0
    assert "cp_partner_de_01  CollectMax GmbH  countries=DE,AT,CH" in out
    assert "cp_partner_fr_01" not in out


async def test_added_partner_is_used_by_verification_then_removed(cli_env, capsys, client, account):
    from tests.factories import case_body

    body = case_body(debtor__address__country="JP", debtor__phone="+81 3 1234 5678")
    before = await client.post("/v1/collection_cases", json=body, headers=account.headers)
    assert before.json()["status"] == "pending_verification"
    code, out = await arun(
        capsys,
        "partners",
        "add",
        "--id",
        "cp_partner_jp_01",
        "--name",
        "Tokyo Kaishu KK",
        "--email",
        "cases@kaishu.jp",
        "--phone",
        "+81 3 9876 5432",
        "--site",
        "https://kaishu.jp",
        "--countries",
        "jp",
        "--success-rate",
        "0.9",
    )
    assert (code, out.strip()) == (0, "saved cp_partner_jp_01")
    try:
        after = await client.post("/v1/collection_cases", json=body, headers=account.headers)
        assert after.json()["status"] == "active"
        assert after.json()["collection_partner"]["name"] == "Tokyo Kaishu KK"
    finally:
        code, out = await arun(capsys, "partners", "remove", "cp_partner_jp_01")
    assert code == 0
    assert (await arun(capsys, "partners", "remove", "cp_partner_jp_01"))[0] == 1
    again = await client.post("/v1/collection_cases", json=body, headers=account.headers)
    assert again.json()["status"] == "pending_verification"


async def test_keys_create_list_revoke(cli_env, capsys, client):
    code, key = await arun(capsys, "keys", "create", "--account", "cli-acct", "--read-only")
    key = key.strip()
    assert code == 0
    assert key.startswith("rk_test_")
    response = await client.get("/v1/collection_cases", headers=auth(key))
    assert response.status_code == 200
    code, listing = await arun(capsys, "keys", "list", "--account", "cli-acct")
    assert key not in listing  # only a prefix is ever shown
    assert key[:12] in listing
    key_id = listing.split()[0]
    assert (await arun(capsys, "keys", "revoke", key_id))[0] == 0
    response = await client.get("/v1/collection_cases", headers=auth(key))
    assert response.status_code == 401


async def test_operator_commands_act_on_live_cases(cli_env, capsys, client, account):
    import json

    from tests.factories import case_body

    pending = await client.post(
        "/v1/collection_cases",
        json=case_body(debtor__address__country="US", debtor__phone="+1 212 555 0100"),
        headers=auth(account.sk_live),
    )
    case_id = pending.json()["id"]
    code, out = await arun(
        capsys,
        "cases",
        "assign-partner",
        case_id,
        "--account",
        account.name,
        "--partner",
        "cp_partner_gb_01",
    )
    assert code == 0, out
    assert json.loads(out)["status"] == "active"
    code, out = await arun(
        capsys,
        "cases",
        "record-payment",
        case_id,
        "--account",
        account.name,
        "--amount",
        "60000",
        "--type",
        "installment",
    )
    assert code == 0, out
    assert json.loads(out)["type"] == "installment"
    fetched = await client.get(f"/v1/collection_cases/{case_id}", headers=auth(account.sk_live))
    assert fetched.json()["remainder"] == 300000
    assert fetched.json()["collection_partner"]["id"] == "cp_partner_gb_01"
    # A test-mode key cannot see it; the operator acting in test mode cannot either.
    code, out = await arun(
        capsys,
        "cases",
        "close",
        case_id,
        "--account",
        account.name,
        "--test",
        "--close-code",
        "settled",
    )
    assert code == 1
    assert json.loads(out)["code"] == "resource_not_found"
    code, out = await arun(
        capsys, "cases", "close", case_id, "--account", account.name, "--close-code", "settled"
    )
    assert json.loads(out)["close_code"] == "settled"
    code, out = await arun(
        capsys,
        "cases",
        "send-message",
        case_id,
        "--account",
        account.name,
        "--message",
        "closed now",
    )
    assert code == 1
    assert json.loads(out)["code"] == "state_invalid"
