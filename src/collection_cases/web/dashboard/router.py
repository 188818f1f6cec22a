"""Routes of the dashboard: sign in, overview, cases, a case, developers.

Thin like the API's routes: each page calls the same service functions with the signed-in
key's principal, and each view or action first checks the requirement of the API operation it
stands for (read from the API's own route table, so the two cannot drift apart). Forms post
back here with a CSRF token; success answers 303 to the page (post/redirect/get).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from collection_cases import db, ids, ratelimit
from collection_cases.accounts.dependencies import Requirement, api_routes, requirement_of
from collection_cases.accounts.permissions import RESOURCES
from collection_cases.accounts.service import Principal, authenticate
from collection_cases.cases import lifecycle
from collection_cases.cases import service as cases
from collection_cases.cases.models import STATUSES
from collection_cases.cases.schemas import CollectionCaseUpdate
from collection_cases.chat import service as chat
from collection_cases.chat.schemas import ChatMessageCreate
from collection_cases.errors import (
    ApiError,
    PermissionDenied,
    from_validation_errors,
    printable,
)
from collection_cases.events import service as events
from collection_cases.events import webhooks
from collection_cases.events.types import EVENT_TYPES
from collection_cases.files import service as files
from collection_cases.idempotency import service as idempotency
from collection_cases.idempotency.service import (
    Idempotency,
    IdempotencyInFlight,
    IdempotencyMismatch,
    Replay,
)
from collection_cases.pagination import ListParams
from collection_cases.payments import service as payments
from collection_cases.tokens import service as tokens
from collection_cases.tokens.schemas import TokenCreate
from collection_cases.validation import country_code, safe_text
from collection_cases.web.dashboard import chart, forms, sessions
from collection_cases.web.dashboard.errors import PREFIX
from collection_cases.web.dashboard.format import Formatter, negotiate
from collection_cases.web.dashboard.sessions import Session

PAGE_SIZE = 25

# The API operation each view and action stands for: it needs what that operation needs.
OPERATIONS: dict[str, tuple[str, str]] = {
    "cases.list": ("GET", "/v1/collection_cases"),
    "cases.retrieve": ("GET", "/v1/collection_cases/{case_id}"),
    "cases.update": ("POST", "/v1/collection_cases/{case_id}"),
    "cases.pause": ("POST", "/v1/collection_cases/{case_id}/pause"),
    "cases.resume": ("POST", "/v1/collection_cases/{case_id}/resume"),
    "cases.close": ("POST", "/v1/collection_cases/{case_id}/close"),
    "files.list": ("GET", "/v1/collection_cases/{case_id}/files"),
    "files.download": ("GET", "/v1/case_files/{file_id}/contents"),
    "chat.list": ("GET", "/v1/collection_cases/{case_id}/chat"),
    "chat.send": ("POST", "/v1/collection_cases/{case_id}/chat"),
    "payments.list": ("GET", "/v1/debt_payments"),
    "events.list": ("GET", "/v1/events"),
    "tokens.list": ("GET", "/v1/tokens"),
    "tokens.create": ("POST", "/v1/tokens"),
    "tokens.revoke": ("POST", "/v1/tokens/{token_id}/revoke"),
    "webhooks.list": ("GET", "/v1/webhook_endpoints"),
    "webhooks.deliveries": ("GET", "/v1/webhook_endpoints/{endpoint_id}/deliveries"),
}
OPEN_STATUSES = ("pending_verification", "needs_details", "active", "paused")
STATUS_LABELS = {
    "pending_verification": "Pending verification",
    "needs_details": "Needs details",
    "active": "Active",
    "paused": "Paused",
    "closed": "Closed",
}
REQUIREMENT_LABELS = {
    "debtor.email_or_phone": "the debtor's e-mail or phone",
    "debtor.contact_person": "a contact person at the debtor company",
}
# What a successful action says on the page it leads back to (?done=...).
DONE = {
    "paused": "The case is paused.",
    "resumed": "The case is active again.",
    "closed": "The case is closed (withdrawn).",
    "updated": "Contact details saved.",
    "sent": "Message sent to the partner.",
    "revoked": "The key is revoked: it no longer works.",
    "signed_out": "You are signed out.",
}


def requirements(app: FastAPI) -> dict[str, Requirement]:
    """Each operation's requirement, as the API's routes declare it (computed once per app)."""
    found: dict[str, Requirement] | None = getattr(app.state, "dashboard_requirements", None)
    if found is None:
        declared = {}
        for route in api_routes(app.routes):
            requirement = requirement_of(route)
            for method in route.methods or ():
                if requirement is not None:
                    declared[(method, route.path_format)] = requirement
        found = {name: declared[operation] for name, operation in OPERATIONS.items()}
        app.state.dashboard_requirements = found
    return found


class SignInRequired(Exception):
    """No session (or an ended one): the answer is the sign-in page."""


class FormRefused(PermissionDenied):
    """A form post without this session's CSRF token, or from another origin."""


@dataclass
class View:
    """A signed-in request: its connection, session and what its key may do."""

    request: Request
    conn: db.Connection
    session: Session
    form: FormData | None = None
    _requirements: dict[str, Requirement] = field(default_factory=dict)

    @property
    def principal(self) -> Principal:
        return self.session.principal

    def need(self, operation: str) -> None:
        """403 (or 404) unless the key may do `operation`, exactly as the API would answer."""
        self._requirements[operation].check(self.request, self.principal)

    def can(self, operation: str) -> bool:
        try:
            self.need(operation)
        except ApiError:
            return False
        return True

    def field(self, name: str) -> str:
        value = self.form.get(name) if self.form is not None else None
        return value if isinstance(value, str) else ""


def _same_origin(request: Request) -> bool:
    """A browser's Origin header, when it sends one, names this host (a form posted from
    another site, or from a page that hides its origin, is refused; the CSRF token is checked
    either way)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return origin != "null" and urlsplit(origin).netloc == request.headers.get("host", "")


@asynccontextmanager
async def signed_in(request: Request, *, post: bool = False) -> AsyncIterator[View]:
    """The request's view, or SignInRequired. A post must carry the session's CSRF token and
    come from this origin (else 403, before anything is done)."""
    form = None
    if post:
        forms.check_type(request)  # before anything is read or looked up
        if not sessions.signed(request):
            raise SignInRequired()
        # Read before a connection is taken: a slow client holds none while it sends. A post
        # from another origin is refused on its headers: its body is never read.
        if _same_origin(request):
            form = await forms.read_form(request)
    async with request.app.state.pool.connection() as conn:
        session = await sessions.current(conn, request)
        if session is None:
            raise SignInRequired()
        view = View(request, conn, session, _requirements=requirements(request.app))
        request.state.dashboard_view = view
        state = request.app.state
        # Pages count against the key's rate limit like the API requests they stand for.
        await ratelimit.check(
            state.rate_limiter,
            state.settings.rate_limit_per_second,
            conn,
            session.principal.key_id,
            state.rate_grants,
        )
        if post:
            if form is None or not sessions.csrf_ok(session, form.get("csrf_token")):
                raise FormRefused(
                    "This form did not come from this dashboard session (its security token "
                    "is missing, wrong or from an earlier sign-in). Reload the page and try again."
                )
            view.form = form
        yield view


# Rendering -------------------------------------------------------------------------------------


def _fmt(request: Request) -> Formatter:
    return Formatter(negotiate(request.headers.get("accept-language", "")))


def render(
    request: Request, template: str, *, status: int = 200, view: View | None = None, **context: Any
) -> Response:
    from collection_cases.web.router import page

    view = view or getattr(request.state, "dashboard_view", None)
    fmt = _fmt(request)
    context.setdefault("done", DONE.get(request.query_params.get("done", "")))
    response = page(
        request,
        template,
        fmt=fmt,
        lang=fmt.lang,
        view=view,
        principal=view.principal if view else None,
        csrf=view.session.csrf if view else None,
        status_labels=STATUS_LABELS,
        requirement_labels=REQUIREMENT_LABELS,
        **context,
    )
    response.status_code = status
    # Account data: never kept by a browser cache or a proxy.
    response.headers["Cache-Control"] = "no-store"
    # Our own form posts carry our origin (with no-referrer they would say "null"); other
    # sites still learn nothing.
    response.headers["Referrer-Policy"] = "same-origin"
    return response


ERROR_TITLES = {
    401: "Not signed in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    408: "Too slow",
    409: "Already done",
    413: "Too large",
    415: "Not a form",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Not available right now",
}


def error_page(request: Request, exc: ApiError) -> Response:
    """An error as a dashboard page: its status, its message, its headers (Retry-After...)."""
    response = render(
        request,
        "dashboard/error.html",
        status=exc.status_code,
        title=ERROR_TITLES.get(exc.status_code, "Something is not right"),
        message=exc.message,
        # A notice of the page's query (?done=...) is not this answer's.
        done=None,
    )
    for name, value in exc.headers.items():
        response.headers[name] = value
    return response


def _sign_in_redirect() -> Response:
    response = RedirectResponse(f"{PREFIX}/sign-in", status_code=303)
    sessions.forget(response)
    return response


class DashboardRoute(APIRoute):
    """Answers in HTML: no session -> the sign-in page; an API error -> a page saying it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                return _sign_in_redirect()
            except ApiError as exc:
                return error_page(request, exc)

        return route


router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=DashboardRoute)


def _redirect(path: str, **query: str) -> Response:
    suffix = f"?{urlencode(query)}" if query else ""
    return RedirectResponse(f"{PREFIX}{path}{suffix}", status_code=303)


# Sign in and out -------------------------------------------------------------------------------


def _sign_in_form(request: Request, *, status: int = 200, error: str | None = None) -> Response:
    token, fresh = sessions.sign_in_token(request)
    response = render(
        request, "dashboard/sign_in.html", status=status, error=error, sign_in_csrf=token
    )
    if fresh is not None:
        sessions.set_sign_in_cookie(request, response, fresh)
    return response


@router.get("/sign-in")
async def sign_in_page(request: Request) -> Response:
    async with request.app.state.pool.connection() as conn:
        if await sessions.current(conn, request) is not None:
            return _redirect("")
    return _sign_in_form(request)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    refused = FormRefused(
        "This sign-in form has expired or did not come from this dashboard. Open the "
        "sign-in page again."
    )
    forms.check_type(request)
    # Without the sign-in page's cookie, or from another origin, the body is never read.
    if not _same_origin(request) or not sessions.sign_in_started(request):
        raise refused
    form = await forms.read_form(request)
    if not sessions.sign_in_csrf_ok(request, form.get("csrf_token")):
        raise refused
    raw = form.get("key")
    key = raw.strip() if isinstance(raw, str) else ""
    if not key:
        return _sign_in_form(request, status=400, error="Paste an API key to sign in.")
    async with request.app.state.pool.connection() as conn:
        principal = await authenticate(conn, key)
        if principal is None:
            return _sign_in_form(
                request, status=401, error="That key is not valid: unknown, revoked or expired."
            )
        if principal.kind == "publishable":
            return _sign_in_form(
                request,
                status=403,
                error="Publishable keys cannot open the dashboard (they may not see cases). "
                "Use a restricted key with collection_cases:read, or a secret key.",
            )
        try:
            requirements(request.app)["cases.list"].check(request, principal)
        except ApiError as exc:
            return _sign_in_form(request, status=exc.status_code, error=exc.message)
        response = _redirect("")
        async with conn.transaction():
            await sessions.open_session(conn, request, response, principal)
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    async with signed_in(request, post=True) as view:
        response = _redirect("/sign-in", done="signed_out")
        await sessions.close_session(view.conn, view.session, response)
    return response


# Overview --------------------------------------------------------------------------------------


@dataclass
class Money:
    currency: str
    placed: int = 0
    outstanding: int = 0
    recovered: int = 0


def _summaries(totals: list[db.Row]) -> tuple[dict[str, int], list[Money]]:
    counts = dict.fromkeys(STATUSES, 0)
    money: dict[str, Money] = {}
    for row in totals:
        counts[row["status"]] = counts.get(row["status"], 0) + row["cases"]
        entry = money.setdefault(row["currency"], Money(row["currency"]))
        entry.placed += row["amount_to_recover"]
        entry.recovered += row["amount_to_recover"] - row["remainder"]
        if row["status"] in OPEN_STATUSES:
            entry.outstanding += row["remainder"]
    ordered = sorted(money.values(), key=lambda m: (-m.placed, m.currency))
    return counts, ordered


@router.get("")
async def overview(request: Request) -> Response:
    async with signed_in(request) as view:
        view.need("cases.list")
        principal = view.principal
        counts, money = _summaries(await cases.case_totals(view.conn, principal=principal))
        attention = {
            status: (
                await cases.list_cases(
                    view.conn, principal=principal, params=ListParams(limit=10), status=status
                )
            ).rows
            for status in ("needs_details", "pending_verification")
        }
        charts: list[chart.Chart] | None = None
        months = chart.last_months(datetime.now(UTC).date())
        if view.can("payments.list"):
            rows = await payments.recovered_by_month(
                view.conn, principal=principal, since=months[0]
            )
            by_currency: dict[str, dict[date, int]] = {}
            for row in rows:
                by_currency.setdefault(row["currency"], {})[row["month"]] = row["amount"]
            currencies = [m.currency for m in money if m.currency in by_currency]
            currencies += sorted(set(by_currency) - set(currencies))
            if not currencies:
                currencies = [m.currency for m in money[:1]] or ["eur"]
            charts = [chart.build(c, months, by_currency.get(c, {})) for c in currencies[:4]]
        return render(
            request,
            "dashboard/overview.html",
            counts=counts,
            open_total=sum(counts[s] for s in OPEN_STATUSES),
            money=money,
            attention={s: [cases.render(r) for r in rows] for s, rows in attention.items()},
            charts=charts,
        )


# Cases -----------------------------------------------------------------------------------------


@dataclass
class CaseFilters:
    status: str | None = None
    debtor_country: str | None = None
    debtor_type: str | None = None
    created_from: date | None = None
    created_to: date | None = None
    search: str | None = None
    problems: list[str] = field(default_factory=list)
    # A search no case can match (NUL, not valid Unicode): the list is not searched at all.
    refused: str | None = None

    def query(self) -> dict[str, str]:
        """The filters as the list's query string (for the next/previous links)."""
        out = {
            "status": self.status,
            "debtor_country": self.debtor_country,
            "debtor_type": self.debtor_type,
            "created_from": self.created_from.isoformat() if self.created_from else None,
            "created_to": self.created_to.isoformat() if self.created_to else None,
            "q": self.search,
        }
        return {k: v for k, v in out.items() if v}

    @property
    def only_status(self) -> bool:
        return not (
            self.debtor_country
            or self.debtor_type
            or self.created_from
            or self.created_to
            or self.search
        )


def _filters(query: Mapping[str, str]) -> CaseFilters:
    """The list's filters from the query string; a value that cannot be one is reported and
    left out (the page still shows)."""
    f = CaseFilters()
    status = query.get("status", "")
    if status in STATUSES:
        f.status = status
    elif status:
        f.problems.append(f"Unknown status '{printable(status, 40)}'.")
    country = query.get("debtor_country", "").strip()
    if country:
        try:
            f.debtor_country = country_code(country)
        except ValueError as exc:
            f.problems.append(f"Debtor country: {exc}.")
    debtor_type = query.get("debtor_type", "")
    if debtor_type in ("company", "private"):
        f.debtor_type = debtor_type
    for name in ("created_from", "created_to"):
        value = query.get(name, "").strip()
        if value:
            try:
                setattr(f, name, date.fromisoformat(value))
            except ValueError:
                f.problems.append(f"'{printable(value, 20)}' is not a date (YYYY-MM-DD).")
    search = query.get("q", "").strip()
    if search:
        try:
            f.search = safe_text(search[:255])
        except ValueError as exc:
            f.refused = f"The search {exc}: nothing was searched."
    return f


def _unix(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


_EPOCH = date(1970, 1, 1)


def _created_range(filters: CaseFilters) -> tuple[int | None, int | None]:
    """created_gte and created_lt for the chosen days: from the start of the first to the start
    of the day after the last, kept within the Unix times the lists take (from 1970 on). Any
    calendar date is fine: before 1970 is the beginning, the last day there is has no end."""
    gte = lt = None
    if filters.created_from is not None:
        gte = _unix(max(filters.created_from, _EPOCH))
    if filters.created_to is not None and filters.created_to < date.max:
        lt = _unix(max(filters.created_to + timedelta(days=1), _EPOCH))
    return gte, lt


@router.get("/cases")
async def case_list(request: Request) -> Response:
    async with signed_in(request) as view:
        view.need("cases.list")
        query = request.query_params
        filters = _filters(query)
        if filters.refused is not None:
            return render(
                request,
                "dashboard/cases.html",
                status=400,
                filters=filters,
                cases=[],
                count=None,
                next_url=None,
                previous_url=None,
                statuses=STATUSES,
                error=filters.refused,
            )
        after = query.get("starting_after") or None
        before = None if after else (query.get("ending_before") or None)
        created_gte, created_lt = _created_range(filters)
        params = ListParams(
            limit=PAGE_SIZE,
            starting_after=after,
            ending_before=before,
            created_gte=created_gte,
            created_lt=created_lt,
        )
        page = await cases.list_cases(
            view.conn,
            principal=view.principal,
            params=params,
            status=filters.status,
            debtor_country=filters.debtor_country,
            debtor_type=filters.debtor_type,
            search=filters.search,
        )
        # A count only where the kept totals give it (no filter but status): never a scan.
        count = None
        if filters.only_status:
            counts, _ = _summaries(await cases.case_totals(view.conn, principal=view.principal))
            count = counts.get(filters.status, 0) if filters.status else sum(counts.values())
        rows = [cases.render(r) for r in page.rows]
        base = filters.query()
        has_next = page.has_more if before is None else True
        has_previous = page.has_more if before is not None else after is not None
        next_url = previous_url = None
        if rows and has_next:
            next_url = f"{PREFIX}/cases?{urlencode({**base, 'starting_after': rows[-1]['id']})}"
        if rows and has_previous:
            previous_url = f"{PREFIX}/cases?{urlencode({**base, 'ending_before': rows[0]['id']})}"
        return render(
            request,
            "dashboard/cases.html",
            filters=filters,
            cases=rows,
            count=count,
            next_url=next_url,
            previous_url=previous_url,
            statuses=STATUSES,
        )


# One case --------------------------------------------------------------------------------------


# An update's changes that another entry already tells (the status event, the payment).
_TOLD_ELSEWHERE = {"status", "remainder", "requirements", "close_code", "collection_partner"}


def _timeline_entry(row: db.Row, fmt: Formatter) -> dict[str, Any] | None:
    """What one event says on the case's timeline (None: nothing another entry does not)."""
    data = row["data"] or {}
    obj = data.get("object") or {}
    previous = data.get("previous_attributes") or {}
    kind = row["type"]
    text = kind
    if kind == "collection_case.created":
        text = "Case created"
    elif kind == "collection_case.active":
        if previous.get("status") == "paused":
            text = "Resumed"
        else:
            partner = (obj.get("collection_partner") or {}).get("name")
            text = f"Verified: {partner} works the case" if partner else "Active"
    elif kind == "collection_case.needs_details":
        wanted = ", ".join(REQUIREMENT_LABELS.get(r, r) for r in obj.get("requirements") or [])
        text = f"Details needed: {wanted}" if wanted else "Details needed"
    elif kind == "collection_case.paused":
        text = "Paused"
    elif kind == "collection_case.closed":
        text = f"Closed ({(obj.get('close_code') or '').replace('_', ' ')})"
    elif kind == "collection_case.updated":
        changed = sorted(k.replace("_", " ") for k in set(previous) - _TOLD_ELSEWHERE)
        if not changed:
            return None
        text = f"Updated: {', '.join(changed)}"
    elif kind == "debt_payment.created":
        amount = fmt.money(obj.get("amount"), obj.get("currency") or "eur")
        text = f"Payment of {amount} ({(obj.get('type') or '').replace('_', ' ')})"
    elif kind == "case_file.uploaded":
        text = f"File uploaded: {obj.get('filename')}"
    elif kind == "case_chat.created":
        text = "Message from the partner"
    return {
        "id": row["id"],
        "type": kind,
        "text": text,
        "created": int(row["created_at"].timestamp()),
        "by": "API request" if row["request_id"] else "the partner",
        "request_id": row["request_id"],
    }


async def _case_page(
    view: View, case_id: str, *, error: str | None = None, status: int = 200
) -> Response:
    view.need("cases.retrieve")
    conn, principal = view.conn, view.principal
    case = await cases.get_case(conn, principal=principal, case_id=case_id)
    fee = await cases.success_fee_pct(conn, principal=principal, case_id=case_id)
    fmt = _fmt(view.request)
    page = ListParams(limit=100)
    timeline = files_ = payments_ = messages = None
    if view.can("events.list"):
        rows = await events.case_events(conn, principal=principal, case_id=case["id"], limit=100)
        timeline = [e for e in (_timeline_entry(r, fmt) for r in rows) if e is not None]
    if view.can("files.list"):
        found = await files.list_files(conn, principal=principal, case_id=case_id, params=page)
        files_ = [files.render(r) for r in found.rows]
    if view.can("payments.list"):
        paid = await payments.list_payments(conn, principal=principal, params=page, case_id=case_id)
        payments_ = [payments.render(r) for r in paid.rows]
    if view.can("chat.list"):
        said = await chat.list_messages(
            conn,
            principal=principal,
            case_id=case_id,
            params=ListParams(limit=50),
            # As the API: only a key that may write to the chat marks the partner's read.
            mark_read=principal.allows("case_chats", "write"),
        )
        messages = [chat.render(r) for r in reversed(said.rows)]
    amount, remainder = case["amount_to_recover"], case["remainder"]
    return render(
        view.request,
        "dashboard/case.html",
        status=status,
        view=view,
        case=case,
        fee=fee,
        recovered=amount - remainder,
        fees_charged=sum(p["fee_amount"] for p in payments_ or []),
        timeline=timeline,
        files=files_,
        payments=payments_,
        messages=messages,
        error=error,
        is_open=case["status"] in OPEN_STATUSES,
    )


@router.get("/cases/{case_id}")
async def case_page(request: Request, case_id: str) -> Response:
    async with signed_in(request) as view:
        return await _case_page(view, case_id)


Action = Callable[[View, str], Coroutine[Any, Any, Any]]


async def _act(request: Request, case_id: str, operation: str, done: str, act: Action) -> Response:
    """Run a case action in one transaction; a refused one shows the case with the reason."""
    async with signed_in(request, post=True) as view:
        view.need(operation)
        try:
            async with view.conn.transaction():
                await act(view, case_id)
        except ApiError as exc:
            if exc.status_code in (401, 403, 404, 429):
                raise
            return await _case_page(view, case_id, error=exc.message, status=exc.status_code)
    return _redirect(f"/cases/{case_id}", done=done)


def _request_id(view: View) -> str | None:
    request_id: str | None = getattr(view.request.state, "request_id", None)
    return request_id


@router.post("/cases/{case_id}/pause")
async def pause(request: Request, case_id: str) -> Response:
    async def act(view: View, case_id: str) -> None:
        await lifecycle.pause(
            view.conn, principal=view.principal, case_id=case_id, request_id=_request_id(view)
        )

    return await _act(request, case_id, "cases.pause", "paused", act)


@router.post("/cases/{case_id}/resume")
async def resume(request: Request, case_id: str) -> Response:
    async def act(view: View, case_id: str) -> None:
        await lifecycle.resume(
            view.conn, principal=view.principal, case_id=case_id, request_id=_request_id(view)
        )

    return await _act(request, case_id, "cases.resume", "resumed", act)


@router.post("/cases/{case_id}/close")
async def close(request: Request, case_id: str) -> Response:
    async def act(view: View, case_id: str) -> None:
        await lifecycle.close(
            view.conn,
            principal=view.principal,
            case_id=case_id,
            close_code="withdrawn",
            request_id=_request_id(view),
        )

    return await _act(request, case_id, "cases.close", "closed", act)


@router.post("/cases/{case_id}/contact")
async def update_contact(request: Request, case_id: str) -> Response:
    async def act(view: View, case_id: str) -> None:
        debtor = {"email": view.field("email").strip(), "phone": view.field("phone").strip()}
        if view.form is not None and "contact_person" in view.form:
            debtor["contact_person"] = view.field("contact_person").strip()
        try:
            params = CollectionCaseUpdate.model_validate({"debtor": debtor})
        except ValidationError as exc:
            raise from_validation_errors(exc.errors(include_url=False)) from None
        assert params.debtor is not None
        await lifecycle.update_case(
            view.conn,
            principal=view.principal,
            case_id=case_id,
            metadata=None,
            creditor_reference=None,
            debtor=params.debtor.model_dump(exclude_unset=True),
            fields_set={"debtor"},
            request_id=_request_id(view),
        )

    return await _act(request, case_id, "cases.update", "updated", act)


@router.post("/cases/{case_id}/chat")
async def send_message(request: Request, case_id: str) -> Response:
    async def act(view: View, case_id: str) -> None:
        try:
            params = ChatMessageCreate.model_validate({"message": view.field("message")})
        except ValidationError as exc:
            raise from_validation_errors(exc.errors(include_url=False)) from None
        await chat.send_message(
            view.conn,
            principal=view.principal,
            case_id=case_id,
            sender="creditor",
            message=params.message,
            attachments=[],
            request_id=_request_id(view),
        )

    return await _act(request, case_id, "chat.send", "sent", act)


@router.get("/files/{file_id}")
async def download(request: Request, file_id: str) -> Response:
    async with signed_in(request) as view:
        view.need("files.download")
        row = await files.get_file_row(view.conn, principal=view.principal, file_id=file_id)
    # The connection is back in the pool before the bytes stream.
    return files.download(request.app.state.file_store, row)


# Developers ------------------------------------------------------------------------------------


async def _developers_page(
    view: View,
    *,
    created: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    conn, principal = view.conn, view.principal
    query = view.request.query_params
    keys = endpoints = event_page = None
    events_next = events_previous = None
    if view.can("tokens.list"):
        keys = [
            tokens.render(r)
            for r in (
                await tokens.list_tokens(conn, principal=principal, params=ListParams(limit=50))
            ).rows
        ]
    if view.can("webhooks.list"):
        found = await webhooks.list_endpoints(
            conn, principal=principal, params=ListParams(limit=20)
        )
        endpoints = []
        for row in found.rows:
            endpoint = webhooks.render(row, default_version=principal.api_version)
            deliveries = None
            if view.can("webhooks.deliveries"):
                recent = await webhooks.list_deliveries(
                    conn, principal=principal, endpoint_id=row["id"], params=ListParams(limit=5)
                )
                deliveries = [webhooks.render_delivery(d) for d in recent.rows]
            endpoints.append({"endpoint": endpoint, "deliveries": deliveries})
    event_type = query.get("event_type", "")
    if event_type not in EVENT_TYPES:
        event_type = ""
    if view.can("events.list"):
        after = query.get("events_after") or None
        before = None if after else (query.get("events_before") or None)
        found = await events.list_events(
            conn,
            principal=principal,
            params=ListParams(limit=20, starting_after=after, ending_before=before),
            types=[event_type] if event_type else None,
        )
        event_page = [events.stored(r) for r in found.rows]
        base = {"event_type": event_type} if event_type else {}
        has_next = found.has_more if before is None else True
        has_previous = found.has_more if before is not None else after is not None
        if event_page and has_next:
            events_next = f"{PREFIX}/developers?" + urlencode(
                {**base, "events_after": event_page[-1]["id"]}
            )
        if event_page and has_previous:
            events_previous = f"{PREFIX}/developers?" + urlencode(
                {**base, "events_before": event_page[0]["id"]}
            )
    return render(
        view.request,
        "dashboard/developers.html",
        status=status,
        view=view,
        keys=keys,
        endpoints=endpoints,
        events=event_page,
        event_types=EVENT_TYPES,
        event_type=event_type,
        events_next=events_next,
        events_previous=events_previous,
        created=created,
        error=error,
        form_id=secrets.token_urlsafe(24),
        resources=RESOURCES,
        case_id_of=_case_id_of,
    )


def _case_id_of(event: dict[str, Any]) -> str | None:
    obj = (event.get("data") or {}).get("object") or {}
    found = obj.get("case") or obj.get("id")
    return found if isinstance(found, str) and ids.decode("dc", found) is not None else None


@router.get("/developers")
async def developers(request: Request) -> Response:
    async with signed_in(request) as view:
        return await _developers_page(view)


# The create-key form's one-time id (secrets.token_urlsafe(24)), and the fingerprint every
# use of it shares: a second use is a replay, whatever the fields.
_FORM_ID = re.compile(r"[A-Za-z0-9_-]{32}")
_CREATE_KEY = hashlib.sha256(b"dashboard: create a key").hexdigest()
_STALE_FORM = "This form is from an older version of the page: reload it and try again."


@router.post("/developers/tokens")
async def create_key(request: Request) -> Response:
    async with signed_in(request, post=True) as view:
        view.need("tokens.create")
        permissions = []
        for resource in RESOURCES:
            level = view.field(f"permission_{resource}")
            if level in ("read", "write"):
                permissions.append(f"{resource}:{level}")
        body: dict[str, Any] = {"name": view.field("name").strip(), "permissions": permissions}
        expires = view.field("expires_on").strip()
        form_id = view.field("form_id")
        if not _FORM_ID.fullmatch(form_id):
            return await _developers_page(view, error=_STALE_FORM, status=400)
        # Each rendering of the form has its own id, taken once: the same form sent again (a
        # reload of this answer, a double click) creates nothing. Its stored "response" names
        # the token, never its key.
        idem = Idempotency(f"dashboard:create-key:{form_id}", _CREATE_KEY)
        try:
            if expires:
                body["expires_at"] = _unix(date.fromisoformat(expires))
            params = TokenCreate.model_validate(body)
            async with view.conn.transaction():
                await idempotency.begin(view.conn, view.principal, idem)
                created = await tokens.create_from_request(
                    view.conn, principal=view.principal, params=params
                )
                made = {"id": created["id"], "name": created["name"]}
                await idempotency.store(view.conn, view.principal, idem, 201, orjson.dumps(made))
        except Replay as replay:
            made = orjson.loads(bytes(replay.response.body))
            error = (
                f"This form was already sent: it created the key {made['name']} ({made['id']}), "
                "shown once then. If you did not copy it, revoke it and create another."
            )
            return await _developers_page(view, error=error, status=409)
        except (IdempotencyInFlight, IdempotencyMismatch):
            error = "This form is being sent already: wait for its answer, then reload the page."
            return await _developers_page(view, error=error, status=409)
        except ValueError as exc:
            # A pydantic ValidationError is a ValueError too: say which field, as the API does.
            error = (
                from_validation_errors(exc.errors(include_url=False)).message
                if isinstance(exc, ValidationError)
                else "Expires on: not a date (YYYY-MM-DD)."
            )
            return await _developers_page(view, error=error, status=400)
        except ApiError as exc:
            if exc.status_code in (401, 403, 404, 429):
                raise
            return await _developers_page(view, error=exc.message, status=exc.status_code)
        # The key is shown in this answer only: no redirect, nothing in a URL, and sending the
        # form again shows no key (above).
        return await _developers_page(view, created=created, status=201)


@router.post("/developers/tokens/{token_id}/revoke")
async def revoke_key(request: Request, token_id: str) -> Response:
    async with signed_in(request, post=True) as view:
        view.need("tokens.revoke")
        try:
            async with view.conn.transaction():
                await tokens.revoke_token(view.conn, token_id=token_id, scope=view.principal.scope)
        except ApiError as exc:
            if exc.status_code in (401, 403, 404, 429):
                raise
            return await _developers_page(view, error=exc.message, status=exc.status_code)
    return _redirect("/developers", done="revoked")
