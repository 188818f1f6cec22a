"""Dashboard sessions and CSRF tokens.

A session is a row in `dashboard_sessions` (PostgreSQL is the truth, so any API process
serves any request, and signing out or revoking the key ends it everywhere at once). The
browser holds only a cookie: a random secret and an HMAC of it under a subkey of the server's
secret key (`secret_key.derive`). The row's id is the secret's SHA-256, so the table alone opens
nothing; the signature lets a forged or tampered cookie be refused without a query. The API key
is never stored, in the cookie or the row: the row names the key's token, and each request
checks that token is still valid (not revoked, not expired) in the same query that finds the
session.

Every form carries a CSRF token: an HMAC of the session secret (another subkey), so it needs
no storage and changes with every sign-in. The sign-in form, before any session exists, is
tied the same way to a short-lived random cookie of its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response

from collection_cases import db, secret_key
from collection_cases.accounts.service import Principal, principal_of

COOKIE = "cc_dashboard_session"
SIGN_IN_COOKIE = "cc_dashboard_sign_in"
COOKIE_PATH = "/dashboard"
# A session ends 8 hours after sign-in, or after an hour without a request.
LIFETIME = timedelta(hours=8)
IDLE_SECONDS = 3600
# last_seen_at is written at most once a minute per session, not on every page view.
TOUCH_EVERY_SECONDS = 60
SIGN_IN_SECONDS = 3600

_LOOKUP = db.Unscoped("dashboard session: the cookie's hash finds its session and key")
_HOUSEKEEPING = db.Unscoped("dashboard sessions past their end, of every account")
_FIND = """
    SELECT s.last_seen_at < now() - make_interval(secs => %(touch)s) AS stale,
           k.id, k.account_id, k.is_test, k.kind, k.permissions, k.expires_at, a.api_version
    FROM dashboard_sessions s
    JOIN api_keys k ON k.id = s.key_id
    JOIN accounts a ON a.id = k.account_id
    WHERE s.id = %(id)s AND s.expires_at > now()
      AND s.last_seen_at > now() - make_interval(secs => %(idle)s)
      AND k.account_id = s.account_id AND k.is_test = s.is_test
      AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())
"""
_TOUCH = (
    "UPDATE dashboard_sessions SET last_seen_at = now() WHERE id = %(id)s AND {scope} "
    "AND last_seen_at < now() - make_interval(secs => %(touch)s)"
)
_INSERT = (
    "INSERT INTO dashboard_sessions (id, account_id, is_test, key_id, expires_at) "
    "VALUES (%(id)s, %(account_id)s, %(is_test)s, %(key_id)s, %(expires_at)s)"
)
_DELETE = "DELETE FROM dashboard_sessions WHERE id = %(id)s AND {scope}"
_PURGE = "DELETE FROM dashboard_sessions WHERE expires_at < now()"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _mac(key: bytes, purpose: str, value: str) -> str:
    return _b64(hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).digest())


def _keys(request: Request) -> tuple[bytes, bytes]:
    settings = request.app.state.settings
    return (
        secret_key.derive("dashboard-sessions", settings),
        secret_key.derive("dashboard-csrf", settings),
    )


def _same(submitted: str, expected: str) -> bool:
    """Constant-time equality of a value the browser sent and the one we expect, as bytes
    (hmac.compare_digest raises TypeError on a str that is not ASCII: a hostile cookie or
    form field would be a 500 instead of a refusal)."""
    return hmac.compare_digest(
        submitted.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def _session_id(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser: who it acts as, and the CSRF token its forms carry."""

    id: str
    principal: Principal
    csrf: str


def _unsign(request: Request, name: str, purpose: str) -> str | None:
    """The secret of a cookie whose signature is right, else None."""
    value = request.cookies.get(name)
    # Ours are base64url: anything else is refused here, before any query.
    if not value or not value.isascii():
        return None
    secret, _, signature = value.partition(".")
    signing, _ = _keys(request)
    if not secret or not _same(signature, _mac(signing, purpose, secret)):
        return None
    return secret


def _set_cookie(
    request: Request, response: Response, name: str, purpose: str, secret: str, max_age: int
) -> None:
    signing, _ = _keys(request)
    response.set_cookie(
        name,
        f"{secret}.{_mac(signing, purpose, secret)}",
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        # The scheme the browser used: behind a proxy that ends TLS, uvicorn's proxy headers
        # (X-Forwarded-Proto from an address in COLLECTION_CASES_FORWARDED_ALLOW_IPS) make it https.
        secure=request.url.scheme == "https",
    )


def _csrf(request: Request, purpose: str, secret: str) -> str:
    _, csrf_key = _keys(request)
    return _mac(csrf_key, purpose, secret)


def signed(request: Request) -> bool:
    """The request carries a session cookie this server signed (not yet looked up: it may
    have been closed)."""
    return _unsign(request, COOKIE, "session") is not None


async def current(conn: db.Connection, request: Request) -> Session | None:
    """The session the request's cookie names, if it is signed, open, and its key still
    valid; brings its last use up to date (at most once a minute)."""
    secret = _unsign(request, COOKIE, "session")
    if secret is None:
        return None
    session_id = _session_id(secret)
    row = await db.fetch_one(
        conn,
        _FIND,
        {"id": session_id, "idle": IDLE_SECONDS, "touch": TOUCH_EVERY_SECONDS},
        scope=_LOOKUP,
    )
    if row is None:
        return None
    principal = principal_of(row)
    if row["stale"]:
        await db.execute(
            conn,
            _TOUCH,
            {"id": session_id, "touch": TOUCH_EVERY_SECONDS},
            scope=principal.scope,
        )
    return Session(session_id, principal, _csrf(request, "session", secret))


async def open_session(
    conn: db.Connection, request: Request, response: Response, principal: Principal
) -> None:
    """Start a session for `principal` (a fresh secret at every sign-in) and set its cookie."""
    await db.execute(conn, _PURGE, scope=_HOUSEKEEPING)
    secret = secrets.token_urlsafe(32)
    ends = datetime.now(UTC) + LIFETIME
    if principal.expires_at is not None:
        ends = min(ends, datetime.fromtimestamp(principal.expires_at, UTC))
    await db.execute(
        conn,
        _INSERT,
        {"id": _session_id(secret), "key_id": principal.key_id, "expires_at": ends},
        scope=principal.scope,
    )
    _set_cookie(request, response, COOKIE, "session", secret, int(LIFETIME.total_seconds()))
    response.delete_cookie(SIGN_IN_COOKIE, path=COOKIE_PATH)


async def close_session(conn: db.Connection, session: Session, response: Response) -> None:
    """End the session (its row goes: the cookie opens nothing anywhere) and drop the cookie."""
    await db.execute(conn, _DELETE, {"id": session.id}, scope=session.principal.scope)
    forget(response)


def forget(response: Response) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH)


def csrf_ok(session: Session, submitted: object) -> bool:
    return isinstance(submitted, str) and _same(submitted, session.csrf)


# The sign-in form ------------------------------------------------------------------------------


def sign_in_token(request: Request) -> tuple[str, str | None]:
    """The sign-in form's CSRF token, tied to the browser's sign-in cookie; and the secret of
    a new such cookie when it has none (set it with `set_sign_in_cookie`)."""
    secret = _unsign(request, SIGN_IN_COOKIE, "sign-in")
    fresh = None
    if secret is None:
        secret = fresh = secrets.token_urlsafe(32)
    return _csrf(request, "sign-in", secret), fresh


def set_sign_in_cookie(request: Request, response: Response, secret: str) -> None:
    _set_cookie(request, response, SIGN_IN_COOKIE, "sign-in", secret, SIGN_IN_SECONDS)


def sign_in_started(request: Request) -> bool:
    """The browser holds a sign-in cookie of ours (it has loaded the sign-in page)."""
    return _unsign(request, SIGN_IN_COOKIE, "sign-in") is not None


def sign_in_csrf_ok(request: Request, submitted: object) -> bool:
    secret = _unsign(request, SIGN_IN_COOKIE, "sign-in")
    if secret is None or not isinstance(submitted, str):
        return False
    return _same(submitted, _csrf(request, "sign-in", secret))
