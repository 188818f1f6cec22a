"""Hostile input: NUL and lone surrogates in every string field, CRLF in headers, lies."""

from __future__ import annotations

import json

import pytest

from tests.factories import case_body

URL = "/v1/collection_cases"
STRING_FIELDS = [
    "currency",
    "debtor__type",
    "debtor__name",
    "debtor__email",
    "debtor__phone",
    "debtor__address__line1",
    "debtor__address__line2",
    "debtor__address__city",
    "debtor__address__state",
    "debtor__address__postal_code",
    "debtor__address__country",
    "debtor__country",
    "creditor_reference",
    "due_date",
]


@pytest.mark.parametrize("field", STRING_FIELDS)
async def test_nul_in_every_string_field(client, account, field):
    body = case_body(**{field: "ab\u0000cd"})
    r = await client.post(URL, json=body, headers=account.headers)
    assert r.status_code in (400, 422), r.text
    assert r.json()["error"]["param"] == field.replace("__", ".")


@pytest.mark.parametrize("field", STRING_FIELDS)
async def test_lone_surrogate_in_every_string_field(client, account, field):
    raw = json.dumps(case_body(**{field: "SURROGATE"})).replace("SURROGATE", "\\ud800")
    r = await client.post(
        URL, content=raw.encode(), headers={**account.headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"


async def test_metadata_keys_and_values(client, account):
    for metadata in ({"k\u0000": "v"}, {"k": "\u0000"}):
        r = await client.post(URL, json=case_body(metadata=metadata), headers=account.headers)
        assert r.status_code == 422


@pytest.mark.parametrize(
    ("name", "value"),
    [("Idempotency-Key", "a\r\nX-Injected: 1"), ("Authorization", "Bearer sk_test_x\r\nX: y")],
)
async def test_crlf_in_headers(app, account, name, value):
    """CRLF cannot come through a real HTTP server; at the ASGI level it must still be safe."""
    sent = []

    async def receive():  # type: ignore[no-untyped-def]
        return {
            "type": "http.request",
            "body": json.dumps(case_body()).encode(),
            "more_body": False,
        }

    async def send(message):  # type: ignore[no-untyped-def]
        sent.append(message)

    headers = [
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {account.sk_test}".encode()),
    ]
    headers = [h for h in headers if h[0].decode() != name.lower()]
    headers.append((name.lower().encode(), value.encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": URL,
        "raw_path": URL.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("t", 80),
    }
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] in (400, 401)
    assert all(b"\r" not in v and b"\n" not in v for _, v in start["headers"])


async def test_json_labelled_as_something_else(client, account):
    r = await client.post(
        URL,
        content=json.dumps(case_body()).encode(),
        headers={**account.headers, "Content-Type": "text/plain"},
    )
    assert r.status_code == 415


async def test_absurd_numbers_in_query(client, account):
    for params in (
        {"limit": "1e9"},
        {"limit": "-0"},
        {"limit": "9" * 400},
        {"created[gte]": "1" * 500},
    ):
        r = await client.get(URL, params=params, headers=account.headers)
        assert r.status_code in (400, 422), params
