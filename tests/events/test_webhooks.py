"""Webhook endpoints and delivery, against a real receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time

import pytest
from sqlalchemy import text

from collection_cases.events.delivery import DeliveryWorker, sign
from tests.events.receiver import HugeReceiver, Receiver, SlowReceiver
from tests.factories import auth, make_case

EP = "/v1/webhook_endpoints"


async def endpoint(client, account, url, events=("*",), key=None):  # type: ignore[no-untyped-def]
    r = await client.post(
        EP, json={"url": url, "enabled_events": list(events)}, headers=auth(key or account.sk_test)
    )
    assert r.status_code == 201, r.text
    return r.json()


async def forget(client, account, *endpoints):  # type: ignore[no-untyped-def]
    """Delete endpoints (and so their pending deliveries): workers claim from every account,
    so a test must not leave deliveries due for the next one's worker."""
    for we in endpoints:
        for key in (account.sk_test, account.sk_live):  # whichever mode it lives in
            await client.delete(f"{EP}/{we['id']}", headers=auth(key))


def worker(pool, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("retry_delay", lambda attempt: 0.05)
    kw.setdefault("timeout", 2.0)
    return DeliveryWorker(pool, **kw)


async def drain(w, rounds=50):  # type: ignore[no-untyped-def]
    for _ in range(rounds):
        await w.run_once()
        await asyncio.sleep(0.06)


async def deliveries(client, account, we, key=None):  # type: ignore[no-untyped-def]
    r = await client.get(
        f"{EP}/{we['id']}/deliveries", params={"limit": 100}, headers=auth(key or account.sk_test)
    )
    return r.json()["data"]


async def wait_for(check, timeout):  # type: ignore[no-untyped-def]
    """Whether `check()` (awaited) came true within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.05)
    return False


class TestEndpoints:
    async def test_crud_and_secret_shown_once(self, client, account):
        we = await endpoint(
            client,
            account,
            "http://localhost:9999/hooks",
            ["collection_case.*", "debt_payment.created"],
        )
        assert we["secret"].startswith("whsec_")
        assert we["object"] == "webhook_endpoint"
        assert we["status"] == "enabled"
        got = (await client.get(f"{EP}/{we['id']}", headers=account.headers)).json()
        assert "secret" not in got
        assert got["enabled_events"] == ["collection_case.*", "debt_payment.created"]
        updated = await client.post(
            f"{EP}/{we['id']}",
            json={
                "url": "https://hooks.example.com/x",
                "enabled_events": ["*"],
                "status": "disabled",
                "description": "main",
                "metadata": {"team": "ops"},
            },
            headers=account.headers,
        )
        body = updated.json()
        assert (body["url"], body["enabled_events"], body["status"]) == (
            "https://hooks.example.com/x",
            ["*"],
            "disabled",
        )
        assert (body["description"], body["metadata"]) == ("main", {"team": "ops"})
        listed = (await client.get(EP, headers=account.headers)).json()
        assert [e["id"] for e in listed["data"]] == [we["id"]]
        deleted = await client.delete(f"{EP}/{we['id']}", headers=account.headers)
        assert deleted.json() == {"id": we["id"], "object": "webhook_endpoint", "deleted": True}
        assert (await client.get(f"{EP}/{we['id']}", headers=account.headers)).status_code == 404

    @pytest.mark.parametrize(
        ("key", "url", "events"),
        [
            ("sk_live", "http://localhost:9000/h", ["*"]),
            ("sk_live", "https://127.0.0.1/h", ["*"]),
            ("sk_live", "https://10.0.0.5/h", ["*"]),
            ("sk_live", "https://localhost/", ["*"]),
            ("sk_live", "https://2130706433/", ["*"]),
            ("sk_live", "https://0x7f000001/", ["*"]),
            ("sk_live", "https://0177.0.0.1/", ["*"]),
            ("sk_live", "https://127.1/", ["*"]),
            ("sk_live", "https://[::ffff:127.0.0.1]/", ["*"]),
            ("sk_live", "https://metadata.google.internal/", ["*"]),
            ("sk_live", "https://169.254.169.254/latest/meta-data/", ["*"]),
            ("sk_test", "https://169.254.169.254/latest/meta-data/", ["*"]),
            ("sk_test", "http://2852039166/", ["*"]),
            ("sk_test", "https://metadata.google.internal/", ["*"]),
            ("sk_test", "https://[fe80::1]/", ["*"]),
            ("sk_test", "http://example.com/h", ["*"]),
            ("sk_test", "ftp://localhost/h", ["*"]),
            ("sk_test", "not a url", ["*"]),
            ("sk_test", "https://hooks.example.com", ["collection_case.exploded"]),
            ("sk_test", "https://hooks.example.com", ["*", "case_file.uploaded"]),
            ("sk_test", "https://hooks.example.com", []),
        ],
    )
    async def test_validation(self, client, account, key, url, events):
        r = await client.post(
            EP, json={"url": url, "enabled_events": events}, headers=auth(getattr(account, key))
        )
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert error["type"] == "validation_error"
        assert error["param"] == ("url" if events == ["*"] else "enabled_events")

    async def test_update_refuses_what_create_refuses(self, client, account):
        we = await endpoint(client, account, "https://hooks.example.com/a", key=account.sk_live)
        for url in (
            "https://localhost/",
            "https://2130706433/",
            "https://metadata.google.internal/",
        ):
            r = await client.post(
                f"{EP}/{we['id']}", json={"url": url}, headers=auth(account.sk_live)
            )
            assert r.status_code == 422, r.text
            assert (r.json()["error"]["type"], r.json()["error"]["param"]) == (
                "validation_error",
                "url",
            )
        got = await client.get(f"{EP}/{we['id']}", headers=auth(account.sk_live))
        assert got.json()["url"] == "https://hooks.example.com/a"

    async def test_test_mode_accepts_local_receivers(self, client, account):
        for url in ("http://localhost:9000/h", "http://127.0.0.1:9000/h", "http://[::1]:9000/h"):
            await endpoint(client, account, url)

    async def test_isolation(self, client, account, other_account):
        we = await endpoint(client, account, "https://hooks.example.com/a")
        for headers in (other_account.headers, auth(account.sk_live)):
            assert (await client.get(f"{EP}/{we['id']}", headers=headers)).status_code == 404
            assert (await client.delete(f"{EP}/{we['id']}", headers=headers)).status_code == 404
        assert (
            await client.post(
                EP,
                json={"url": "https://x.example.com", "enabled_events": ["*"]},
                headers=auth(account.rk_test),
            )
        ).status_code == 403


class TestDelivery:
    async def test_happy_path_signed_and_in_order(
        self, client, account, engine, pool, receiver, verify_signature
    ):
        we = await endpoint(client, account, receiver.url)
        case = await make_case(client, account)
        await client.post(f"/v1/collection_cases/{case['id']}/pause", headers=account.headers)
        await drain(worker(pool), rounds=10)
        types = [r.event["type"] for r in receiver.received]
        assert types == [
            "collection_case.created",
            "collection_case.active",
            "collection_case.updated",
            "collection_case.paused",
        ]
        for r in receiver.received:
            assert verify_signature(r.body, r.signature, we["secret"])
            assert not verify_signature(r.body + b" ", r.signature, we["secret"])
            api = (await client.get(f"/v1/events/{r.event['id']}", headers=account.headers)).json()
            # In flight, the endpoint had not acknowledged it yet; now it has.
            assert (r.event["pending_webhooks"], api["pending_webhooks"]) == (1, 0)
            assert {**api, "pending_webhooks": 1} == r.event
        log = await deliveries(client, account, we)
        assert {d["status"] for d in log} == {"delivered"}

    async def test_receiver_500_then_200_is_retried(self, client, account, engine, pool, receiver):
        receiver.script = [(500, 0.0), (200, 0.0)]
        we = await endpoint(client, account, receiver.url, ["collection_case.created"])
        await make_case(client, account)
        w = worker(pool)
        await w.run_once()
        [d] = await deliveries(client, account, we)
        assert (d["status"], d["attempts"]) == ("pending", 1)
        assert d["attempt_log"][0]["status_code"] == 500
        await asyncio.sleep(0.1)
        await w.run_once()
        [d] = await deliveries(client, account, we)
        assert (d["status"], d["attempts"]) == ("delivered", 2)
        assert [a["status_code"] for a in d["attempt_log"]] == [500, 200]
        assert len(receiver.received) == 1

    async def test_receiver_timeout_is_retried(self, client, account, engine, pool, receiver):
        receiver.script = [(200, 1.5), (200, 0.0)]
        we = await endpoint(client, account, receiver.url, ["collection_case.created"])
        await make_case(client, account)
        await drain(worker(pool, timeout=0.5), rounds=6)
        [d] = await deliveries(client, account, we)
        assert d["status"] == "delivered"
        # No error class, no status, no duration: a timeout looks like any other failure.
        assert d["attempt_log"][0] == {
            "at": d["attempt_log"][0]["at"],
            "attempt": 1,
            "outcome": "no_response",
            "status_code": None,
            "duration_ms": None,
        }
        assert d["attempt_log"][-1]["outcome"] == "delivered"
        assert d["attempt_log"][-1]["status_code"] == 200

    async def test_worker_killed_mid_flight_loses_nothing(
        self, client, account, engine, pool, receiver
    ):
        we = await endpoint(client, account, receiver.url, ["collection_case.created"])
        await make_case(client, account)
        dying = worker(pool, lease=1.5, timeout=0.25)
        # ...and the process dies before sending anything. (Workers serve every account:
        # count only this test's endpoint.)
        claimed = [c for c in await dying.claim() if c["endpoint_id"] == we["id"]]
        assert len(claimed) == 1
        survivor = worker(pool, lease=1.5, timeout=0.25)
        await survivor.run_once()
        [d] = await deliveries(client, account, we)
        assert (d["status"], d["attempts"]) == ("pending", 1)  # leased: nobody may take it yet
        await asyncio.sleep(1.6)
        await survivor.run_once()
        [d] = await deliveries(client, account, we)
        assert (d["status"], d["attempts"]) == ("delivered", 2)
        assert len(receiver.received) == 1
        # The dead worker's late report (if it came back) cannot overwrite the outcome.
        await dying._record(claimed[0], False, {"error": "late"})
        [d] = await deliveries(client, account, we)
        assert d["status"] == "delivered"

    async def test_two_workers_never_claim_the_same_delivery(
        self, client, account, engine, pool, receiver
    ):
        eps = [await endpoint(client, account, f"{receiver.url}/{i}") for i in range(8)]
        for _ in range(3):
            await make_case(client, account)  # 2 events each -> 6 per endpoint, 48 in all
        a, b = worker(pool), worker(pool)
        for _ in range(20):
            await asyncio.gather(a.run_once(), b.run_once())
        seen = [(r.path, r.event["id"]) for r in receiver.received]
        assert len(seen) == 48
        assert len(set(seen)) == 48
        for i, _ in enumerate(eps):  # each endpoint got its events in order
            ids = [r.event["id"] for r in receiver.received if r.path.endswith(f"/{i}")]
            assert ids == sorted(ids)

    async def test_dead_endpoint_does_not_delay_others(
        self, client, account, engine, pool, receiver
    ):
        dead = Receiver(script=[(503, 0.0)])
        dead_url = dead.start()
        try:
            await endpoint(client, account, dead_url)
            await endpoint(client, account, receiver.url)
            await make_case(client, account)
            await drain(worker(pool), rounds=5)
            assert len(receiver.received) == 2
            assert dead.hits >= 2  # retried
        finally:
            dead.stop()

    async def test_disabled_endpoint_gets_nothing(self, client, account, engine, pool, receiver):
        we = await endpoint(client, account, receiver.url)
        await client.post(f"{EP}/{we['id']}", json={"status": "disabled"}, headers=account.headers)
        await make_case(client, account)
        await drain(worker(pool), rounds=3)
        assert receiver.received == []
        assert await deliveries(client, account, we) == []

    async def test_test_and_live_do_not_mix(self, client, account, engine, pool, receiver):
        live = await endpoint(
            client, account, "https://hooks.example.com/live", key=account.sk_live
        )
        await endpoint(client, account, receiver.url)
        await make_case(client, account)  # a test-mode case
        async with engine.connect() as conn:
            n = (
                await conn.execute(
                    text("SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = :e"),
                    {"e": live["id"]},
                )
            ).scalar_one()
        assert n == 0
        await drain(worker(pool), rounds=3)
        assert not any(r.event["livemode"] for r in receiver.received)
        assert len(receiver.received) == 2


class TestHostileReceivers:
    """A receiver may be slow, or answer without end, on purpose: it holds one delivery slot
    of a worker for at most the deadline, and costs it no memory."""

    async def test_a_stalling_receiver_holds_only_its_own_queue(
        self, client, account, other_account, pool, receiver
    ):
        """Its head trickled a byte a second, an attempt ends at the deadline (no_response);
        meanwhile the worker delivers another account's events made after it started, and
        never sends the stalled endpoint's next event."""
        slow = SlowReceiver(part="head", every=1.0)
        stalled = await endpoint(client, account, slow.start())  # two events per case
        fine = await endpoint(client, other_account, receiver.url)
        w = worker(pool, timeout=3.0, poll=0.05, event_retention_days=36500)
        stop = asyncio.Event()
        running = None
        try:
            await make_case(client, account)
            running = asyncio.create_task(w.run_forever(stop))
            assert await asyncio.to_thread(slow.answering.wait, 10)
            answering = time.monotonic()
            await make_case(client, other_account)

            async def others_delivered() -> bool:
                return len(receiver.received) == 2

            assert await wait_for(others_delivered, 2.0), "held behind the stalled delivery"
            assert slow.gone_at is None  # still in flight
            assert [r.event["type"] for r in receiver.received] == [
                "collection_case.created",
                "collection_case.active",
            ]

            async def attempted() -> bool:
                return bool((await deliveries(client, account, stalled))[-1]["attempt_log"])

            assert await wait_for(attempted, 3.0 + 2.0), "no deadline on the attempt"
            assert time.monotonic() - answering < 3.0 + 1.5
            second, first = await deliveries(client, account, stalled)
            assert first["attempt_log"][0]["outcome"] == "no_response"
            assert (first["status"], second["attempts"]) == ("pending", 0)
            assert slow.hits <= 2  # the first again (its retry), never the second
        finally:
            slow.stop()  # (its trickle ends: a worker without a deadline gets to stop too)
            stop.set()
            if running is not None:
                await asyncio.wait_for(running, 10)
            await w.close()
            await forget(client, account, stalled)
            await forget(client, other_account, fine)

    async def test_a_trickled_head_ends_at_the_deadline(self, client, account, pool):
        """A byte of the answer's head every half second meets httpx's timeout on each read:
        the attempt's own deadline ends it, as no_response."""
        slow = SlowReceiver(part="head", every=0.5)
        we = await endpoint(client, account, slow.start(), ["collection_case.created"])
        try:
            await make_case(client, account)
            w = worker(pool, timeout=1.5)
            started = time.monotonic()
            await asyncio.wait_for(w.run_once(), 10)
            assert time.monotonic() - started < 1.5 + 1.0
            [d] = await deliveries(client, account, we)
            assert d["status"] == "pending"
            assert [a["outcome"] for a in d["attempt_log"]] == ["no_response"]
            assert slow.trickled >= 2  # it did trickle, past httpx's own timeouts
            await w.close()
        finally:
            slow.stop()
            await forget(client, account, we)

    async def test_a_body_trickled_after_the_head_holds_nothing(self, client, account, pool):
        """The status is the whole answer: once the head is in, the attempt is over, however
        slowly the body would come."""
        slow = SlowReceiver(part="body", every=1.0)
        we = await endpoint(client, account, slow.start(), ["collection_case.created"])
        try:
            await make_case(client, account)
            w = worker(pool, timeout=5.0)
            started = time.monotonic()
            await asyncio.wait_for(w.run_once(), 15)
            assert time.monotonic() - started < 2.0
            [d] = await deliveries(client, account, we)
            assert (d["status"], d["attempt_log"][0]["status_code"]) == ("delivered", 200)
            assert slow.trickled <= 1
            await w.close()
        finally:
            slow.stop()
            await forget(client, account, we)

    async def test_a_huge_answer_body_is_not_read(self, client, account, pool):
        """200 MiB of chunked body: the worker closes the connection once it has the status
        (the receiver sees it go away); what it took is what the sockets buffer."""
        huge = HugeReceiver()
        we = await endpoint(client, account, huge.start(), ["collection_case.created"])
        try:
            await make_case(client, account)
            w = worker(pool)
            await asyncio.wait_for(w.run_once(), 30)
            [d] = await deliveries(client, account, we)
            assert (d["status"], d["attempt_log"][0]["status_code"]) == ("delivered", 200)

            async def over() -> bool:
                return huge.gone or huge.finished

            assert await wait_for(over, 10)
            assert not huge.finished
            assert huge.sent < 32 * 1024 * 1024, huge.sent
            await w.close()
        finally:
            huge.stop()
            await forget(client, account, we)

    async def test_the_lease_outlasts_an_attempt(self, pool):
        """A delivery in flight is never claimed by another worker: its lease runs longer
        than an attempt can."""
        for lease in (10.0, 10.5):
            with pytest.raises(ValueError, match="lease"):
                DeliveryWorker(pool, timeout=10.0, lease=lease)
        await DeliveryWorker(pool, timeout=10.0, lease=60.0).close()


class StubResolver:
    """Answers from a table, never from real DNS."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list:  # type: ignore[type-arg]
        self.lookups.append(host)
        return [ipaddress.ip_address(a) for a in self.table[host]]


class TestEgress:
    """Where deliveries may go is decided where the connection is made."""

    async def test_live_name_resolving_to_loopback_is_blocked_without_detail(
        self, client, account, engine, pool, receiver
    ):
        port = receiver.server.server_address[1]
        we = await endpoint(
            client, account, f"https://hooks.example.com:{port}/h", key=account.sk_live
        )
        await make_case(client, account, key=account.sk_live)
        resolver = StubResolver({"hooks.example.com": ["127.0.0.1"]})
        await drain(worker(pool, resolver=resolver), rounds=3)
        assert receiver.hits == 0  # nothing was sent to the address the name pointed at
        assert resolver.lookups
        [_, d] = await deliveries(client, account, we, account.sk_live)  # oldest last
        assert (d["status"], d["attempts"]) == ("pending", 3)
        assert len(d["attempt_log"]) == 3
        for attempt in d["attempt_log"]:
            assert attempt == {
                "at": attempt["at"],
                "attempt": attempt["attempt"],
                "outcome": "blocked_destination",
                "status_code": None,
                "duration_ms": None,
            }
        await forget(client, account, we)

    @pytest.mark.parametrize("address", ["169.254.169.254", "fd00:ec2::254", "10.0.0.7"])
    async def test_test_mode_never_reaches_metadata_or_private(
        self, client, account, engine, pool, address
    ):
        we = await endpoint(client, account, "https://hooks.example.com/h")
        await make_case(client, account)
        await worker(pool, resolver=StubResolver({"hooks.example.com": [address]})).run_once()
        [_, d] = await deliveries(client, account, we)
        assert [a["outcome"] for a in d["attempt_log"]] == ["blocked_destination"]
        await forget(client, account, we)

    async def test_stored_url_is_judged_again_at_delivery(
        self, client, account, engine, pool, receiver
    ):
        """A live endpoint saved before these rules (pointing at loopback) is not delivered to."""
        we = await endpoint(client, account, "https://hooks.example.com/h", key=account.sk_live)
        port = receiver.server.server_address[1]
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE webhook_endpoints SET url = :u WHERE id = :id"),
                {"u": f"http://127.0.0.1:{port}/hooks", "id": we["id"]},
            )
        await make_case(client, account, key=account.sk_live)
        await worker(pool).run_once()
        assert receiver.hits == 0
        [_, d] = await deliveries(client, account, we, account.sk_live)
        assert [a["outcome"] for a in d["attempt_log"]] == ["blocked_destination"]
        await forget(client, account, we)

    async def test_old_attempt_entries_show_no_network_detail(self, client, account, engine):
        we = await endpoint(client, account, "https://hooks.example.com/h")
        await make_case(client, account)
        legacy = [
            {"at": 1, "attempt": 1, "error": "ConnectError", "duration_ms": 3},
            {"at": 2, "attempt": 2, "status_code": 502, "duration_ms": 40},
        ]
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE webhook_deliveries SET attempt_log = CAST(:log AS jsonb) "
                    "WHERE endpoint_id = :id"
                ),
                {"log": json.dumps(legacy), "id": we["id"]},
            )
        [d, _] = await deliveries(client, account, we)  # both deliveries hold the legacy log
        assert d["attempt_log"] == [
            {
                "at": 1,
                "attempt": 1,
                "outcome": "no_response",
                "status_code": None,
                "duration_ms": None,
            },
            {"at": 2, "attempt": 2, "outcome": "http_error", "status_code": 502, "duration_ms": 40},
        ]
        await forget(client, account, we)


class TestSignature:
    def test_tolerance_and_tampering(self, verify_signature):
        body, secret = b'{"id": "evt_1"}', "whsec_test"
        now = int(time.time())
        assert verify_signature(body, sign(secret, body, now), secret)
        assert verify_signature(body, sign(secret, body, now - 298), secret)  # a second may pass
        assert not verify_signature(body, sign(secret, body, now - 301), secret)
        assert not verify_signature(body, sign(secret, body, now), "whsec_other")
        assert not verify_signature(b'{"id": "evt_2"}', sign(secret, body, now), secret)
        assert not verify_signature(body, "garbage", secret)
