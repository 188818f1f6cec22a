"""Idempotency-Key: a retried POST gets the first response instead of a second effect.

The whole protocol runs inside the request's own transaction:
1. `pg_try_advisory_xact_lock` on (account, mode, key): if another request holds it, the same
   key is in flight -> 409 at once (no waiting);
2. a stored response for the key: same fingerprint -> replay it (`Idempotent-Replayed: true`),
   another fingerprint -> 400 idempotency_error;
3. otherwise the request runs, and its response is stored by the same transaction as its
   effect. A request that fails stores nothing (its transaction rolls back), so a corrected
   retry works; a crash releases the lock with the connection.

Stored responses are sealed with the secret key (bound to their row): some carry a secret shown
once (a new token's key, a webhook endpoint's signing secret), and none should sit in clear.
Responses stored before sealing (plain JSON) still replay.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from collection_cases import db, secret_key
from collection_cases.accounts.service import Principal
from collection_cases.errors import ApiError, InvalidRequestError

log = logging.getLogger("collection_cases.idempotency")
HEADER = "idempotency-key"
MAX_LENGTH = 255
RETENTION_HOURS = 24
# The key of the request being handled (events record it).
current_key: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "idempotency_key", default=None
)


class IdempotencyMismatch(ApiError):
    status_code = 400
    type = "idempotency_error"
    code = "idempotency_key_reused"


class IdempotencyInFlight(ApiError):
    status_code = 409
    type = "idempotency_error"
    code = "idempotency_key_in_use"


class IdempotencyUnreadable(ApiError):
    status_code = 500
    type = "api_error"
    code = "idempotency_response_unreadable"


class Replay(Exception):
    """Raised to answer with a stored response instead of running the request."""

    def __init__(self, response: Response) -> None:
        self.response = response


@dataclass(slots=True)
class Idempotency:
    key: str
    fingerprint: str


def key_from(request: Request) -> str | None:
    if request.method != "POST":
        return None  # ignored on GET and DELETE
    value = request.headers.get(HEADER)
    if value is None:
        return None
    if not value or len(value) > MAX_LENGTH or not value.isprintable() or not value.isascii():
        raise InvalidRequestError(
            f"Idempotency-Key must be 1 to {MAX_LENGTH} printable ASCII characters.",
            param="Idempotency-Key",
        )
    return value


def fingerprint(request: Request, body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode() + b" " + request.url.path.encode() + b"\n")
    digest.update(body)
    return digest.hexdigest()


_LOCK = "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))"
_FIND = (
    "SELECT fingerprint, response_status, response_body FROM idempotency_keys "
    "WHERE key = %(key)s AND {scope}"
)
_STORE = (
    "INSERT INTO idempotency_keys (account_id, is_test, key, fingerprint, response_status, "
    "response_body) VALUES (%(account_id)s, %(is_test)s, %(key)s, %(fingerprint)s, "
    "%(status)s, %(body)s)"
)


async def begin(conn: db.Connection, principal: Principal, idem: Idempotency) -> None:
    """Take the key for this transaction, or raise Replay / a conflict."""
    lock_name = f"{principal.account_id}:{int(principal.is_test)}:{idem.key}"
    if not await db.fetch_value(conn, _LOCK, (lock_name,)):
        raise IdempotencyInFlight(
            "A request with this Idempotency-Key is still being processed; retry later.",
            param="Idempotency-Key",
        )
    row = await db.fetch_one(conn, _FIND, {"key": idem.key}, scope=principal.scope)
    if row is None:
        current_key.set(idem.key)
        return
    if row["fingerprint"] != idem.fingerprint:
        raise IdempotencyMismatch(
            "This Idempotency-Key was used with different parameters; use a new key.",
            param="Idempotency-Key",
        )
    try:
        body = opened(principal, idem.key, row)
    except secret_key.CannotUnseal:
        log.error(
            "stored idempotent response cannot be opened",
            extra={"fields": {"account_id": principal.account_id, "is_test": principal.is_test}},
        )
        raise IdempotencyUnreadable(
            "The response stored for this Idempotency-Key cannot be read; the first request did "
            "take effect: look the object up instead of retrying.",
            param="Idempotency-Key",
        ) from None
    raise Replay(
        Response(
            body,
            status_code=row["response_status"],
            media_type="application/json",
            headers={"Idempotent-Replayed": "true"},
        )
    )


async def store(
    conn: db.Connection, principal: Principal, idem: Idempotency, status: int, body: bytes
) -> None:
    await db.execute(
        conn,
        _STORE,
        {
            "key": idem.key,
            "fingerprint": idem.fingerprint,
            "status": status,
            "body": secret_key.keyring().seal_bytes(
                body,
                context=context(
                    principal.account_id, principal.is_test, idem.key, idem.fingerprint, status
                ),
            ),
        },
        scope=principal.scope,
    )


def context(account_id: int, is_test: bool, key: str, fingerprint: str, status: int) -> str:
    """Where a stored response lives and what it answers: its row, the request's fingerprint
    and status (a sealed body copied elsewhere, or its row altered, does not open)."""
    return (
        f"idempotency_keys.response_body:{account_id}:{int(is_test)}:{key}:{fingerprint}:{status}"
    )


def open_stored(keys: secret_key.Keyring, stored: bytes, where: str) -> bytes:
    """A stored response's bytes: unsealed (CannotUnseal if no key opens them), or as they
    are for one stored before sealing."""
    return keys.unseal_bytes(stored, context=where) if keys.is_sealed_bytes(stored) else stored


def opened(principal: Principal, key: str, row: db.Row) -> bytes:
    """The response stored in `row`, the caller's (see `open_stored`)."""
    where = context(
        principal.account_id, principal.is_test, key, row["fingerprint"], row["response_status"]
    )
    return open_stored(secret_key.keyring(), bytes(row["response_body"]), where)


async def purge(conn: db.Connection, batch: int = 10_000) -> int:
    """Drop keys older than the retention period (run periodically by the workers)."""
    return await db.execute(
        conn,
        "DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(SELECT ctid FROM idempotency_keys "
        f"WHERE created_at < now() - interval '{RETENTION_HOURS} hours' LIMIT %s))",
        (batch,),
        scope=db.Unscoped("retention: every account's expired keys"),
    )
