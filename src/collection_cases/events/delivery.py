"""Webhook delivery from the outbox: at least once, in order per endpoint, never lost.

A worker claims due deliveries with one statement (`FOR UPDATE SKIP LOCKED`, so workers never
share a row) that also leases them: their next attempt moves `lease` seconds ahead. The
claiming statement commits at once; the HTTP POSTs happen outside any transaction; each result
is written back guarded by the attempt number. A worker that dies mid-delivery simply lets
the lease run out, and the delivery is attempted again.

Only the oldest pending delivery of each endpoint is ever due, so an endpoint receives its
events in order, and a dead endpoint holds back only its own queue:

- an attempt has one deadline, `timeout`, for all of it (resolving, connecting to each of the
  name's addresses in turn, sending, the answer's status line and headers), however slowly
  the receiver trickles its answer: then it is `no_response`;
- only the status counts: the answer's body is never read (the connection is closed once
  the head is in), so an answer without end costs nothing;
- each delivery runs on its own: `run_forever` keeps up to `batch` in flight and claims again
  as soon as one ends, so a slow receiver holds one slot for at most the deadline;
- the lease outlasts an attempt's deadline (checked at construction), so a delivery still
  being sent is never due again, never claimed by another worker, and the endpoint's next
  delivery never goes before it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import random
import ssl
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
from psycopg.types.json import Jsonb

from collection_cases import db, egress, metrics, secret_key
from collection_cases.config import check_webhook_lease
from collection_cases.events import partitions
from collection_cases.events.service import render as render_event

log = logging.getLogger("collection_cases.webhooks")
SIGNATURE_HEADER = "X-CasaPay-Signature"
GIVE_UP_AFTER = 3 * 24 * 3600  # seconds since the event: then the delivery is failed
LOG_KEEP = 20
PURGE_EVERY = 300.0  # seconds between housekeeping rounds
# The worker serves every account: it claims what is due wherever it is, and writes back
# to the very rows it claimed.
WORKER = db.Unscoped("the delivery worker serves every account")

# Rows are named by their whole key (id, partition key, account): each join and write-back
# reads one partition through its primary key.
_CLAIM = """
    WITH heads AS (
        -- Each endpoint's oldest pending delivery (only that one may go: order per endpoint),
        -- if it is due: one index probe per endpoint, however long the queues behind them.
        -- Nothing due anywhere (one probe of the due index): no endpoint is looked at.
        SELECT h.id, h.event_created_at, h.account_id, h.next_attempt_at
        FROM webhook_endpoints we
        CROSS JOIN LATERAL (
            SELECT d.id, d.event_created_at, d.account_id, d.next_attempt_at
            FROM webhook_deliveries d
            WHERE d.account_id = we.account_id AND d.endpoint_id = we.id
              AND d.status = 'pending'
            ORDER BY d.created_at, d.id
            LIMIT 1
        ) h
        WHERE EXISTS (
                SELECT 1 FROM webhook_deliveries x
                WHERE x.status = 'pending' AND x.next_attempt_at <= now()
            )
          AND h.next_attempt_at <= now()
        ORDER BY h.next_attempt_at
        LIMIT %(batch)s
    ),
    due AS (
        -- Each head by its key, locked, or skipped while another worker claims it. Checked
        -- again once locked: a worker that just leased it moved next_attempt_at ahead.
        SELECT d.id, d.event_created_at, d.account_id
        FROM webhook_deliveries d
        JOIN heads h ON d.id = h.id AND d.event_created_at = h.event_created_at
             AND d.account_id = h.account_id
        WHERE d.status = 'pending' AND d.next_attempt_at = h.next_attempt_at
        FOR UPDATE OF d SKIP LOCKED
    )
    UPDATE webhook_deliveries d
    SET attempts = d.attempts + 1,
        next_attempt_at = now() + %(lease)s * interval '1 second'
    FROM due, events ev, webhook_endpoints we, accounts a
    WHERE d.id = due.id AND d.event_created_at = due.event_created_at
      AND d.account_id = due.account_id
      AND ev.id = d.event_id AND ev.created_at = d.event_created_at
      AND ev.account_id = d.account_id
      AND we.id = d.endpoint_id AND we.account_id = d.account_id AND a.id = d.account_id
    RETURNING d.id, d.event_created_at, d.account_id, d.attempts,
        d.created_at AS delivery_created, we.url,
        we.id AS endpoint_id, we.secret_encrypted,
        we.status AS endpoint_status, ev.id AS event_id, ev.type, ev.is_test, ev.data,
        ev.request_id, ev.idempotency_key, ev.created_at,
        coalesce(we.api_version, a.api_version) AS api_version,
        (SELECT count(*) FROM webhook_deliveries p
         JOIN webhook_endpoints pw ON pw.id = p.endpoint_id AND pw.account_id = p.account_id
         WHERE p.event_id = ev.id AND p.event_created_at = ev.created_at
           AND p.account_id = ev.account_id AND p.status = 'pending' AND pw.status = 'enabled'
        ) AS pending_webhooks
"""
_ROW = (
    "id = %(id)s AND event_created_at = %(event_created_at)s AND account_id = %(account_id)s "
    "AND attempts = %(attempts)s AND status = 'pending'"
)
_APPEND_LOG = (
    "CASE WHEN jsonb_array_length(attempt_log) >= %(keep)s THEN (attempt_log - 0) "
    "ELSE attempt_log END || %(entry)s"
)
_DELIVERED = f"""
    UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now(),
        attempt_log = {_APPEND_LOG}
    WHERE {_ROW}
"""
_RETRY = f"""
    UPDATE webhook_deliveries SET
        status = CASE WHEN %(give_up)s OR created_at < now() - %(max_age)s * interval '1 second'
                      THEN 'failed' ELSE 'pending' END,
        next_attempt_at = to_timestamp(%(started)s) + %(delay)s * interval '1 second',
        attempt_log = {_APPEND_LOG}
    WHERE {_ROW}
"""


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The signature header value: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def backoff(attempt: int) -> float:
    """Seconds before the next attempt: 10 s doubling to 6 h, with +-20 % jitter; about
    eighteen attempts spread over three days."""
    base = min(10.0 * 2.0 ** (attempt - 1), 6.0 * 3600)
    return base * random.uniform(0.8, 1.2)


class DeliveryWorker:
    def __init__(
        self,
        pool: db.Pool,
        *,
        batch: int = 20,
        lease: float = 60.0,
        timeout: float = 10.0,
        poll: float = 1.0,
        max_age: float = GIVE_UP_AFTER,
        retry_delay: Callable[[int], float] = backoff,
        policy: egress.EgressPolicy | None = None,
        resolver: egress.Resolver = egress.system_resolver,
        verify: ssl.SSLContext | bool = True,
        keys: secret_key.Keyring | None = None,
        event_retention_days: int = partitions.DEFAULT_RETENTION_DAYS,
    ) -> None:
        """`timeout`: the deadline of one attempt, all of it. `lease`: how long a claimed
        delivery is not due again; longer than `timeout` by a margin (ValueError, see
        `config.check_webhook_lease`). `batch`: deliveries in flight at most."""
        if timeout <= 0 or batch < 1:
            raise ValueError("the webhook timeout must be positive and the batch at least 1")
        check_webhook_lease(lease, timeout)
        self.event_retention_days = event_retention_days
        self.keys = keys or secret_key.keyring()
        self.retry_delay = retry_delay
        self.pool = pool
        self.batch, self.lease, self.timeout, self.poll = batch, lease, timeout, poll
        self.max_age = max_age
        # Every connection goes through the egress policy, to the address it checked.
        transport = egress.EgressTransport(
            policy or egress.default_policy(), resolver=resolver, verify=verify
        )
        self.http = httpx.AsyncClient(
            transport=transport,
            # The attempt's own deadline bounds the whole of it (`_send`); a connection gets
            # a share of it, so that a name's next address is still tried when one of them
            # does not answer at all.
            timeout=httpx.Timeout(timeout, connect=timeout / egress.MAX_ADDRESSES_TRIED),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": "collection-cases-webhooks/1"},
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def claim(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Lease up to `limit` (default: `batch`) due deliveries, at most one per endpoint."""
        async with self.pool.connection() as conn:
            return await db.fetch_all(
                conn, _CLAIM, {"batch": limit or self.batch, "lease": self.lease}, scope=WORKER
            )

    async def _send(self, job: dict[str, Any]) -> tuple[bool, dict[str, Any], str | None]:
        """POST one delivery: (ok, the attempt as stored, detail for the server log only)."""
        started = time.monotonic()
        entry: dict[str, Any] = {"at": int(time.time()), "attempt": job["attempts"]}
        if job["endpoint_status"] != "enabled":
            entry["outcome"] = "endpoint_disabled"
            return False, entry, None
        try:
            secret = self.keys.unseal(
                job["secret_encrypted"],
                context=secret_key.webhook_secret_context(job["endpoint_id"]),
            )
        except secret_key.CannotUnseal as exc:
            # An operator problem (key removed from COLLECTION_CASES_SECRET_KEYS_OLD too
            # soon?): retried, so restoring the key resumes delivery.
            log.error(
                "webhook secret cannot be decrypted",
                extra={"fields": {"endpoint": job["endpoint_id"], "error": str(exc)}},
            )
            entry["outcome"] = "internal_error"
            return False, entry, str(exc)
        # Rendered with the endpoint's version (else the account's), as the endpoint expects.
        body = orjson.dumps(render_event({**job, "id": job["event_id"]}, job["api_version"]))
        detail = None
        ok = False
        try:
            # One deadline for the whole attempt: httpx's timeouts bound each read, and a
            # receiver sending a byte at a time would never meet them.
            async with asyncio.timeout(self.timeout):
                async with self.http.stream(
                    "POST",
                    job["url"],
                    content=body,
                    headers={
                        "Content-Type": "application/json",
                        SIGNATURE_HEADER: sign(secret, body),
                    },
                    extensions={egress.TEST_MODE: bool(job["is_test"])},
                ) as response:
                    # The status is all that counts: the body is never read (leaving closes
                    # the connection, none is kept alive), however long it would be.
                    status = response.status_code
                    duration_ms = round((time.monotonic() - started) * 1000)
            ok = 200 <= status < 300
            entry["outcome"] = "delivered" if ok else "http_error"
            entry["status_code"] = status
            entry["duration_ms"] = duration_ms
        except egress.DestinationBlocked as exc:
            entry["outcome"] = "blocked_destination"
            detail = str(exc)
        except httpx.HTTPError as exc:
            entry["outcome"] = "no_response"
            detail = type(exc).__name__
        except TimeoutError:
            entry["outcome"] = "no_response"
            detail = "deadline"
        return ok, entry, detail

    async def _record(self, job: dict[str, Any], ok: bool, entry: dict[str, Any]) -> None:
        args = {
            "id": job["id"],
            "event_created_at": job["event_created_at"],
            "account_id": job["account_id"],
            "attempts": job["attempts"],
            "entry": Jsonb([entry]),
            "keep": LOG_KEEP,
        }
        async with self.pool.connection() as conn:
            if ok:
                await db.execute(conn, _DELIVERED, args, scope=WORKER)
            else:
                await db.execute(
                    conn,
                    _RETRY,
                    {
                        **args,
                        "started": entry.get("at", time.time()),
                        "delay": self.retry_delay(job["attempts"]),
                        "max_age": self.max_age,
                        "give_up": entry.get("outcome") == "endpoint_disabled",
                    },
                    scope=WORKER,
                )

    async def deliver(self, job: dict[str, Any]) -> None:
        """Send one claimed delivery and record its outcome. Never raises: a failure to record
        is logged, and the lease brings the delivery back."""
        try:
            tracer = db.tracer()
            if tracer is None:
                ok, entry, detail = await self._send(job)
            else:
                with tracer.start_as_current_span(
                    "webhook deliver",
                    attributes={
                        "webhook.delivery": job["id"],
                        "webhook.endpoint": job["endpoint_id"],
                        "webhook.event_type": job["type"],
                        "webhook.attempt": job["attempts"],
                    },
                ) as span:
                    ok, entry, detail = await self._send(job)
                    span.set_attribute("webhook.outcome", entry.get("outcome", "unknown"))
            await self._record(job, ok, entry)
        except Exception:
            log.exception("webhook delivery failed", extra={"fields": {"delivery": job["id"]}})
            return
        metrics.DELIVERY_ATTEMPTS.labels(entry.get("outcome", "unknown")).inc()
        fields = {"delivery": job["id"], "event": job["event_id"], "ok": ok, **entry}
        if detail:
            fields["detail"] = detail  # operators only: never in the tenant's attempt log
        log.info("webhook delivery", extra={"fields": fields})

    async def run_once(self) -> int:
        """Claim one batch of what is due, deliver it, record the outcomes; how many were
        attempted. Waits for the slowest of them (each ends within the deadline): for tests
        and one-off runs; `run_forever` does not wait like this."""
        jobs = await self.claim()
        await asyncio.gather(*(self.deliver(job) for job in jobs))
        return len(jobs)

    async def purge(self) -> None:
        """Housekeeping that any worker may do: idempotency keys past their 24 hours, spent
        rate-limit windows, and the event partitions (months ahead created, months past the
        retention dropped)."""
        from collection_cases import ratelimit
        from collection_cases.idempotency.service import purge

        async with self.pool.connection() as conn:
            await purge(conn)
            await ratelimit.purge(conn)
            await partitions.maintain(conn, retention_days=self.event_retention_days)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set, then let the deliveries in flight finish (each within
        the deadline). Up to `batch` deliveries are in flight, each on its own: whenever one
        ends, its slot is claimed again at once (the endpoint's next delivery may be due),
        otherwise every `poll` seconds. Housekeeping every five minutes."""
        in_flight: set[asyncio.Task[None]] = set()
        wake = asyncio.Event()

        def ended(task: asyncio.Task[None]) -> None:
            in_flight.discard(task)
            wake.set()

        stopping = asyncio.create_task(stop.wait())
        stopping.add_done_callback(lambda _: wake.set())
        next_purge = 0.0
        try:
            while not stop.is_set():
                wake.clear()
                try:
                    if time.monotonic() >= next_purge:
                        next_purge = time.monotonic() + PURGE_EVERY
                        await self.purge()
                    free = self.batch - len(in_flight)
                    if free > 0:
                        for job in await self.claim(free):
                            task = asyncio.create_task(self.deliver(job))
                            in_flight.add(task)
                            task.add_done_callback(ended)
                except Exception:  # keep the loop alive through outages; logged
                    log.exception("webhook worker iteration failed")
                # Until a delivery ends (a free slot, maybe a next delivery due), the poll
                # interval passes, or the worker is stopped.
                try:
                    async with asyncio.timeout(self.poll):
                        await wake.wait()
                except TimeoutError:
                    pass
        except asyncio.CancelledError:
            for task in in_flight:
                task.cancel()  # the lease brings them back
            raise
        finally:
            stopping.cancel()
            if in_flight:
                await asyncio.gather(*in_flight, return_exceptions=True)
