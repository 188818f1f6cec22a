"""The error reference at /docs/errors: every type and code the server can answer has an entry,
and every error body's doc_url leads to it on the host the client used."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

import collection_cases
from collection_cases import errors
from tests.factories import case_body

SRC = Path(collection_cases.__file__).parent


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_subclasses(sub)}
    return found


def answered_codes_and_types() -> tuple[set[str], set[str]]:
    """Every `code` and `type` in the source: error classes' attributes (all modules imported),
    and every `code="..."` / `.type = "..."` written in the code."""
    for module in pkgutil.walk_packages(collection_cases.__path__, "collection_cases."):
        importlib.import_module(module.name)
    codes: set[str] = set()
    types: set[str] = set()
    for cls in {errors.ApiError, *_subclasses(errors.ApiError)}:
        if cls.code is not None:
            codes.add(cls.code)
        types.add(cls.type)
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                for kw in node.keywords:
                    if kw.arg == "code" and isinstance(kw.value, ast.Constant):
                        codes.add(kw.value.value)
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                for target in node.targets:
                    if isinstance(target, ast.Attribute) and target.attr == "type":
                        if str(node.value.value).endswith("_error"):
                            types.add(node.value.value)
    return codes, types


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.ids += [value for name, value in attrs if name == "id" and value]


def page_ids(html: str) -> list[str]:
    parser = _Ids()
    parser.feed(html)
    return parser.ids


class TestCatalogue:
    def test_every_answered_code_and_type_is_catalogued(self):
        codes, types = answered_codes_and_types()
        assert {"parameter_missing", "api_key_missing", "file_type_invalid"} <= codes
        assert codes == {entry.name for entry in errors.ERROR_CODES}
        assert types == {entry.name for entry in errors.ERROR_TYPES}

    def test_entries_name_known_types(self):
        types = {entry.name for entry in errors.ERROR_TYPES}
        for entry in errors.ERROR_CODES:
            assert entry.meaning, entry.name
            assert entry.fix, entry.name
            assert entry.example, entry.name
            assert {type_ for _, type_ in entry.answers} <= types, entry.name


class TestErrorReferencePage:
    async def test_every_code_and_type_has_its_anchor(self, client):
        response = await client.get("/docs/errors")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        ids = page_ids(response.text)
        assert len(ids) == len(set(ids)), "duplicate anchors"
        codes, types = answered_codes_and_types()
        assert codes | types <= set(ids)

    async def test_entries_say_what_it_means_and_how_to_fix_it(self, client):
        html = (await client.get("/docs/errors")).text
        entry = html[html.index('id="parameter_missing"') :]
        entry = entry[: entry.index("</section>")]
        assert "A required parameter is absent" in entry
        assert "How to fix it:" in entry
        assert "http://testserver/docs/errors#parameter_missing" in entry  # its example body

    async def test_strict_content_security_policy(self, client):
        response = await client.get("/docs/errors")
        csp = response.headers["content-security-policy"]
        assert "script-src 'self';" in csp
        assert "unsafe-inline" not in csp
        assert "<script" not in response.text


class TestDocUrl:
    async def test_points_at_the_anchor_on_the_request_host(self, client):
        response = await client.get("/v1/collection_cases")
        error = response.json()["error"]
        assert error["code"] == "api_key_missing"
        assert error["doc_url"] == "http://testserver/docs/errors#api_key_missing"

    async def test_follows_the_host_the_client_used(self, client, account):
        response = await client.post(
            "/v1/collection_cases",
            json=case_body(debtor__address__city=None),
            headers={**account.headers, "Host": "api.example.test:8443"},
        )
        assert response.json()["error"]["doc_url"] == (
            "http://api.example.test:8443/docs/errors#parameter_invalid"
        )

    @pytest.mark.parametrize("host", ["evil.test/<script>", "a b", ""])
    async def test_unusable_host_header_falls_back_to_the_server_address(self, client, host):
        response = await client.get("/v1/collection_cases", headers={"Host": host})
        doc_url = response.json()["error"]["doc_url"]
        assert re.fullmatch(r"http://[\w.:\[\]-]+/docs/errors#api_key_missing", doc_url), doc_url
        assert "evil" not in doc_url

    async def test_middleware_413_carries_it(self, client, account):
        response = await client.post(
            "/v1/collection_cases",
            content=b"{" + b" " * 2_000_000 + b"}",
            headers={**account.headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 413
        assert response.json()["error"]["doc_url"] == (
            "http://testserver/docs/errors#payload_too_large"
        )

    async def test_unknown_path(self, client):
        response = await client.get("/nowhere")
        assert response.json()["error"]["doc_url"] == "http://testserver/docs/errors#url_invalid"

    async def test_anchor_of_every_error_body_is_on_the_page(self, client, account):
        html = (await client.get("/docs/errors")).text
        ids = set(page_ids(html))
        bodies = [
            (await client.get("/v1/collection_cases")).json(),
            (await client.delete("/v1/collection_cases", headers=account.headers)).json(),
            (await client.get("/v1/collection_cases/dc_x", headers=account.headers)).json(),
            (
                await client.post("/v1/collection_cases", content=b"x", headers=account.headers)
            ).json(),
        ]
        for body in bodies:
            anchor = body["error"]["doc_url"].split("#", 1)[1]
            assert anchor in ids
