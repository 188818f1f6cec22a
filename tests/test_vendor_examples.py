"""Every curl example on the vendor's pages, pasted with only the host changed (and the ids of
objects that exist), against a real `collection-cases serve` — checked against what the page
shows: the status, and every documented field at every level with its documented type and,
for enums, a documented value.

The pages are kept in tests/data/vendor_docs/ (see its README). Three kinds of example cannot
run as pasted, and each is handled in the open:
- cut by the end of the stored copy (quickstart step 3, the previews page's curl, the tokens
  revoke): completed the way the page's own pattern shows, or covered by an identical example
  on another page;
- the getting-started pages illustrate the platform with other products' endpoints
  (`/v1/customers`, `/v1/payment_intents`), which this server does not serve: pasted as they
  are they get a 404 that says so, and the same example is then run on this API's own resource
  to show the behaviour the page teaches (auth, versioning, pagination, metadata, idempotency);
- the pagination page's URL is unquoted, so a shell runs `curl ...?limit=10` in the background
  and `starting_after=cus_124` as a command: it is run quoted.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from collection_cases.config import DEMO_ACCOUNT, DEMO_KEY
from tests.test_e2e import free_port, serve, stop, wait_healthy

pytestmark = pytest.mark.e2e

PAGES = Path(__file__).parent / "data" / "vendor_docs"
HOST = "https://api.casapay.com"


# Reading the pages --------------------------------------------------------------------------


@dataclass
class Example:
    command: str
    cut: bool  # the stored copy ends inside it
    response: Any  # the JSON the page prints after it, if any


def _json_at(text: str, start: int) -> tuple[Any, int] | None:
    """The JSON object starting at text[start] ("{"), and where it ends."""
    depth, in_string, escape = 0, False, False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            escape = not escape and ch == "\\"
            if ch == '"' and not escape:
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                try:
                    return json.loads(text[start : i + 1]), i + 1
                except json.JSONDecodeError:
                    return None
    return None


def page(name: str) -> str:
    return (PAGES / f"{name}.txt").read_text()


def samples(name: str) -> list[Any]:
    """Every complete JSON object printed on the page, in order (the object sample first)."""
    text, found, i = page(name), [], 0
    while (i := text.find("{", i)) != -1:
        line_start = text.rfind("\n", 0, i) + 1
        parsed = _json_at(text, i) if not text[line_start:i].strip(" ") else None
        if parsed is None:
            i += 1
            continue
        found.append(parsed[0])
        i = parsed[1]
    return found


def examples(name: str) -> list[Example]:
    """Every curl command on the page (continuations joined), as a shell would read it."""
    text, found = page(name), []
    for match in re.finditer(r"(?m)^curl ", text):
        i, quote, out = match.start(), None, []
        while i < len(text):
            ch = text[i]
            if quote:
                out.append(ch)
                if ch == quote:
                    quote = None
            elif ch in "'\"":
                quote = ch
                out.append(ch)
            elif ch == "\\" and text[i + 1 : i + 2] == "\n":
                out.append(" ")
                i += 1
            elif ch == "\n":
                break
            else:
                out.append(ch)
            i += 1
        command = "".join(out).strip()
        rest = text[i:].lstrip()
        response = None
        if rest.startswith("{"):
            parsed = _json_at(rest, 0)
            response = parsed[0] if parsed else None
        found.append(Example(command, quote is not None or "[[" in command, response))
    return found


def enums(name: str) -> dict[str, set[str]]:
    """The documented values of every enum attribute on the page ("a, b, c" or "a or b")."""
    values: dict[str, set[str]] = {}
    for attr, text in re.findall(r"(?m)^\|? ?([\w.\[\]]+) \| enum \| (.+?) \|", page(name)):
        values[attr.replace("[]", "")] = {v.strip() for v in re.split(r",| or ", text)}
    return values


# Checking an answer against a page --------------------------------------------------------


# Timestamps the pages show with a value that are null until the thing happens.
NULL_UNTIL_IT_HAPPENS = {"last_used_at"}


def problems(actual: Any, sample: Any, enum: dict[str, set[str]], path: str = "") -> list[str]:
    """How `actual` falls short of `sample`: a documented field missing, of another type, or an
    enum outside its documented values. A documented null says only that the field exists."""
    where = path or "(top)"
    if sample is None or (actual is None and path.rsplit(".", 1)[-1] in NULL_UNTIL_IT_HAPPENS):
        return []
    if isinstance(sample, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {actual!r}"]
        found = []
        for key, value in sample.items():
            if key == "...":
                continue
            if key not in actual:
                found.append(f"{path}.{key}: missing")
                continue
            found += problems(actual[key], value, enum, f"{path}.{key}" if path else key)
        return found
    if isinstance(sample, list):
        if not isinstance(actual, list):
            return [f"{where}: expected an array, got {actual!r}"]
        if sample and isinstance(sample[0], dict):
            return [p for item in actual for p in problems(item, sample[0], enum, path)]
        if sample:
            return [p for item in actual for p in problems(item, sample[0], {}, f"{path}[]")]
        return []
    kinds = {bool: (bool,), int: (int,), float: (int, float), str: (str,)}[type(sample)]
    if isinstance(actual, bool) != isinstance(sample, bool) or not isinstance(actual, kinds):
        return [f"{where}: expected {type(sample).__name__}, got {actual!r}"]
    documented = enum.get(path)
    if documented and actual not in documented:
        return [f"{where}: {actual!r} is not one of {sorted(documented)}"]
    return []


def conforms(actual: Any, sample: Any, enum: dict[str, set[str]] | None = None) -> None:
    found = problems(actual, sample, enum or {})
    assert not found, "\n".join(found)


def listed(body: Any, item_sample: Any, enum: dict[str, set[str]], url: str) -> None:
    """A list envelope as the pagination page documents it, each item as the object sample."""
    conforms(body, {"object": "list", "data": [], "has_more": True, "url": "/v1/x"})
    assert body["object"] == "list"
    assert body["url"] == url
    for item in body["data"]:
        conforms(item, item_sample, enum)


# Running them -----------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


class Server:
    def __init__(self, base: str, cwd: Path) -> None:
        self.base = base
        self.cwd = cwd
        self.ids: dict[str, str] = {}

    def curl(self, command: str, **replace: str) -> Answer:
        """Run a command as a shell would, after the host (and the page's ids) are replaced."""
        command = command.replace(HOST, self.base)
        for old, new in {**self.ids, **replace}.items():
            command = command.replace(old, new)
        headers_file = self.cwd / "headers.txt"
        result = subprocess.run(
            ["bash", "-c", f"{command} -sS -D {headers_file} -w '\\n%{{http_code}}'"],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=self.cwd,
        )
        body, _, status = result.stdout.rpartition("\n")
        raw_headers = headers_file.read_text().splitlines()[1:]
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in raw_headers) if k
        }
        return Answer(int(status), headers, json.loads(body) if body else None)

    def get(self, path: str, **params: Any) -> Any:
        r = httpx.get(
            self.base + path, params=params, headers={"Authorization": f"Bearer {DEMO_KEY}"}
        )
        assert r.status_code == 200, r.text
        return r.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        r = httpx.post(self.base + path, json=body, headers={"Authorization": f"Bearer {DEMO_KEY}"})
        assert r.status_code in (200, 201), r.text
        return r.json()


def not_served(server: Server, example: Example) -> None:
    """An example on another product's endpoint, pasted as it is: a 404 saying so."""
    answer = server.curl(example.command)
    assert answer.status == 404, answer.body
    assert answer.body["error"]["code"] == "url_invalid"
    assert "belongs to another product of the platform" in answer.body["error"]["message"]


@pytest.fixture(scope="module")
def server(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real `serve` on a database of its own, with the documented demo key."""
    from collection_cases import db
    from collection_cases.tokens import service as tokens

    name = f"cc_vendor_{secrets.token_hex(4)}"
    admin = db.conninfo(make_url(pg_server_url).set(database="postgres").render_as_string(False))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_url(pg_server_url).set(database=name).render_as_string(hide_password=False)

    async def demo_key() -> None:
        pool = await db.open_pool(url, size=1, timeout=10, wait=True)
        async with pool.connection() as conn, conn.transaction():
            await tokens.ensure_key(conn, account_name=DEMO_ACCOUNT, raw=DEMO_KEY)
        await pool.close()

    env = {**os.environ, "DATABASE_URL": url, "COLLECTION_CASES_LOG_LEVEL": "warning"}
    port = free_port()
    proc = serve(port, env)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        asyncio.run(demo_key())
        yield Server(f"http://127.0.0.1:{port}", tmp_path_factory.mktemp("curl"))
    finally:
        stop(proc)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def case_of(server: Server) -> str:
    """The quickstart's case (created by quickstart step 2 when this test runs alone)."""
    if "dc_a1b2c3d4" not in server.ids:
        create = examples(QUICKSTART)[1]
        answer = server.curl(create.command)
        assert answer.status == 201, answer.body
        server.ids.update({"dc_a1b2c3d4": answer.body["id"], "Q8OAXF3W": answer.body["reference"]})
    return server.ids["dc_a1b2c3d4"]


# The pages, in the order a new user reads them ---------------------------------------------

QUICKSTART = "payments-debt-collection__quickstart"


def test_every_page_has_its_examples() -> None:
    counts = {f.stem: len(examples(f.stem)) for f in PAGES.glob("*.txt")}
    assert sum(counts.values()) == 24, counts
    cut = [(name, i) for name in counts for i, e in enumerate(examples(name)) if e.cut]
    # Exactly the three the stored copies cut, each handled below.
    assert sorted(cut) == [
        ("payments-debt-collection__case-previews", 0),
        ("payments-debt-collection__quickstart", 2),
        ("platform__tokens", 1),
    ]


def test_quickstart_and_case_pages(server: Server) -> None:
    preview, create, upload = examples(QUICKSTART)
    # Step 1, as documented: no address yet.
    answer = server.curl(preview.command)
    assert answer.status == 200, answer.body
    conforms(answer.body, preview.response)
    previews_page = "payments-debt-collection__case-previews"
    conforms(answer.body, samples(previews_page)[0], enums(previews_page))
    assert answer.body["partner_assignment"]["partner_id"] == "cp_partner_de_01"
    # The previews page's own curl is cut after `"country": "D`; what it shows of its body is
    # the quickstart's (without the email line): run that.
    (cut_preview,) = examples(previews_page)
    assert cut_preview.cut
    assert cut_preview.command.startswith(preview.command.split('"country"')[0].split("-d")[0])
    no_email = preview.command.replace('      "email": "john.smith@example.com",\n', "")
    no_email = re.sub(r'"email": "john.smith@example.com",\s*', "", no_email)
    answer = server.curl(no_email)
    assert answer.status == 200
    assert [a["type"] for a in answer.body["required_actions"]] == [
        "provide_address",
        "provide_contact_details",
    ]

    # Step 2: the case is created, active, with CollectMax.
    answer = server.curl(create.command)
    assert answer.status == 201, answer.body
    cases_page = "payments-debt-collection__collection-cases"
    conforms(answer.body, create.response, enums(cases_page))
    case = answer.body
    assert (case["status"], case["collection_partner"]["name"]) == ("active", "CollectMax GmbH")
    assert case["metadata"] == {"property_id": "prop_456", "tenant_id": "ten_789"}
    server.ids.update({"dc_a1b2c3d4": case["id"], "Q8OAXF3W": case["reference"]})
    # Step 3 is cut at `-F "`: the seed page's upload (file, document_type, description) is
    # the same operation and runs in tests/test_e2e.py.
    assert upload.cut
    assert upload.command.startswith(f"curl {HOST}/v1/collection_cases/dc_a1b2c3d4/files")


def test_coverage_and_partners_pages(server: Server) -> None:
    coverage = "payments-debt-collection__coverage"
    listing, one = examples(coverage)
    answer = server.curl(listing.command)
    assert answer.status == 200
    conforms(answer.body, listing.response, enums(coverage))
    listed(answer.body, samples(coverage)[0], enums(coverage), "/v1/collection_coverage")
    shown = {c["country"]: c["status"] for c in listing.response["data"]}
    served = {
        c["country"]: c["status"] for c in server.get("/v1/collection_coverage", limit=100)["data"]
    }
    assert {k: served.get(k) for k in shown} == shown  # the documented countries, as shown
    answer = server.curl(one.command)
    assert answer.status == 200
    conforms(answer.body, samples(coverage)[0], enums(coverage))
    assert (answer.body["country"], answer.body["status"]) == ("DE", "available")

    partners = "payments-debt-collection__collection-partners"
    retrieve, by_country = examples(partners)
    answer = server.curl(retrieve.command)
    assert answer.status == 200
    # The documented object, value for value.
    assert answer.body == samples(partners)[0]
    answer = server.curl(by_country.command)
    assert answer.status == 200
    listed(answer.body, samples(partners)[0], enums(partners), "/v1/collection_partners")
    assert "cp_partner_de_01" in [p["id"] for p in answer.body["data"]]


def test_payment_chat_and_event_pages(server: Server) -> None:
    case_id = case_of(server)
    # The partner records the documented installment (the test helper is its side in test mode).
    payment = server.post(
        f"/v1/test_helpers/collection_cases/{case_id}/record_payment",
        {"amount": 120000, "type": "installment"},
    )
    server.ids["dp_pay_001"] = payment["id"]
    payments = "payments-debt-collection__debt-payments"
    listing, retrieve = examples(payments)
    answer = server.curl(listing.command)
    assert answer.status == 200
    listed(answer.body, samples(payments)[0], enums(payments), "/v1/debt_payments")
    assert [p["id"] for p in answer.body["data"]] == [payment["id"]]
    answer = server.curl(retrieve.command)
    assert answer.status == 200
    conforms(answer.body, samples(payments)[0], enums(payments))
    assert answer.body["payout"].startswith("po_")
    assert answer.body["net_amount"] == 120000 - answer.body["fee_amount"]

    chats = "payments-debt-collection__case-chats"
    send, listing = examples(chats)
    answer = server.curl(send.command)
    assert answer.status == 201, answer.body
    conforms(answer.body, samples(chats)[0], enums(chats))
    assert answer.body["sender"] == "creditor"
    answer = server.curl(listing.command)
    assert answer.status == 200
    listed(answer.body, samples(chats)[0], enums(chats), f"/v1/collection_cases/{case_id}/chat")

    # The debt-collection events page's event object: what GET /v1/events shows for the case.
    events_page = "payments-debt-collection__debt-collection-events"
    (event_sample,) = samples(events_page)
    updated = server.get("/v1/events", type="collection_case.updated")["data"][0]
    conforms(updated, event_sample)
    assert updated["data"]["object"]["remainder"] == 240000  # 360000 - 120000, as shown
    documented = set(re.findall(r"(?m)^([a-z_]+\.[a-z_]+) \|", page(events_page)))
    assert len(documented) == 9
    fired = {e["type"] for e in server.get("/v1/events", limit=100)["data"]}
    assert fired <= documented


def test_getting_started_pages(server: Server) -> None:
    case_id = case_of(server)
    (auth,) = examples("getting-started__authentication")
    not_served(server, auth)
    answer = server.curl(auth.command, **{"/v1/customers": "/v1/collection_cases"})
    assert answer.status == 200
    assert answer.headers["request-id"].startswith("req_")

    # The errors page's body, from a request that leaves out a required parameter.
    errors = "getting-started__errors"
    r = httpx.post(
        server.base + "/v1/collection_cases",
        json={"currency": "eur"},
        headers={"Authorization": f"Bearer {DEMO_KEY}"},
    )
    assert r.status_code == 400
    (error_sample,) = samples(errors)
    conforms(r.json(), error_sample)
    documented_types = set(re.findall(r"(?m)^(\w+_error) \|", page(errors)))
    documented_codes = set(re.findall(r"(?m)^(\w+) \| (?:A|The) ", page(errors)))
    assert r.json()["error"]["type"] in documented_types
    assert r.json()["error"]["code"] == "parameter_missing" in documented_codes

    # Pagination: quoted (as pasted, the shell splits the command at the `&`).
    (paginate,) = examples("getting-started__pagination")
    assert "?limit=10&starting_after=cus_124 " in paginate.command
    quoted = paginate.command.replace(
        f"{HOST}/v1/customers?limit=10&starting_after=cus_124",
        f'"{HOST}/v1/collection_cases?limit=10&starting_after={case_id}"',
    )
    answer = server.curl(quoted)
    assert answer.status == 200
    conforms(answer.body, samples("getting-started__pagination")[0])

    (versioned,) = examples("getting-started__versioning")
    not_served(server, versioned)
    answer = server.curl(versioned.command, **{"/v1/customers": "/v1/collection_cases"})
    assert (answer.status, answer.headers["casapay-version"]) == (200, "2025-01-15")

    set_metadata, remove_metadata = examples("getting-started__metadata")
    not_served(server, set_metadata)
    on_the_case = {"/v1/customers/cus_123456789": f"/v1/collection_cases/{case_id}"}
    answer = server.curl(set_metadata.command, **on_the_case)
    assert answer.status == 200, answer.body
    assert answer.body["metadata"] == {
        "property_id": "prop_456",
        "lease_start": "2025-01-01",
        "unit_number": "4B",
        "tenant_id": "ten_789",
    }
    answer = server.curl(remove_metadata.command, **on_the_case)
    assert answer.status == 200
    assert answer.body["metadata"] == {
        "lease_start": "2025-01-01",
        "unit_number": "4B",
        "tenant_id": "ten_789",
    }

    # Idempotency: the page's POST creates a payment intent (another product); the same
    # retry on this API's create replays the first answer.
    (idempotent,) = examples("getting-started__idempotent-requests")
    not_served(server, idempotent)
    body = json.dumps(json.loads(examples(QUICKSTART)[1].command.split("-d '", 1)[1][:-1]))
    as_case = idempotent.command.replace(
        f"{HOST}/v1/payment_intents", f"{HOST}/v1/collection_cases"
    )
    as_case = as_case.replace('{"amount": 120000, "currency": "eur"}', body)
    first, again = server.curl(as_case), server.curl(as_case)
    assert (first.status, again.status) == (201, 201)
    assert again.body == first.body
    assert again.headers["idempotent-replayed"] == "true"

    (webhook,) = examples("getting-started__webhooks")
    answer = server.curl(webhook.command)
    assert answer.status == 201, answer.body
    assert answer.body["secret"].startswith("whsec_")


def test_platform_pages(server: Server) -> None:
    events = "platform__events"
    retrieve, listing = examples(events)
    case_of(server)  # an event to retrieve, when this test runs alone (or on a worker alone)
    event = server.get("/v1/events", limit=1)["data"][0]
    answer = server.curl(retrieve.command, evt_1a2b3c4d=event["id"])
    assert answer.status == 200
    sample = {**samples(events)[0], "data": {"object": {}}}  # the sample's object: a payment
    conforms(answer.body, sample)
    assert (answer.body["api_version"], answer.body["livemode"]) == ("2025-01-15", False)
    answer = server.curl(listing.command)  # another product's event type: a valid, empty filter
    assert answer.status == 200
    listed(answer.body, sample, {}, "/v1/events")

    endpoints = "platform__webhook-endpoints"
    (create,) = examples(endpoints)
    answer = server.curl(create.command)
    assert answer.status == 201, answer.body
    conforms(answer.body, create.response, enums(endpoints))
    stored = server.get(f"/v1/webhook_endpoints/{answer.body['id']}")
    # The object as retrieved: the secret is shown only at create.
    without_secret = {k: v for k, v in samples(endpoints)[0].items() if k != "secret"}
    conforms(stored, without_secret, enums(endpoints))
    assert "secret" not in stored

    tokens = "platform__tokens"
    create, revoke = examples(tokens)
    answer = server.curl(create.command)
    assert answer.status == 201, answer.body
    conforms(answer.body, create.response, enums(tokens))
    token = answer.body
    assert token["key"].startswith("rk_test_")
    assert token["permissions"] == [
        "payment_intents:read",
        "events:read",
        "webhook_endpoints:write",
    ]
    conforms(server.get(f"/v1/tokens/{token['id']}"), samples(tokens)[0], enums(tokens))
    # The revoke example is cut inside the demo key; completed, it revokes.
    assert revoke.cut
    assert revoke.command.startswith(f"curl -X POST {HOST}/v1/tokens/tok_abc123/revoke")
    completed = (
        f'curl -X POST {HOST}/v1/tokens/tok_abc123/revoke -H "Authorization: Bearer {DEMO_KEY}"'
    )
    answer = server.curl(completed, tok_abc123=token["id"])
    assert answer.status == 200, answer.body
    conforms(answer.body, samples(tokens)[0], enums(tokens))
    r = httpx.get(server.base + "/v1/events", headers={"Authorization": f"Bearer {token['key']}"})
    assert r.status_code == 401
