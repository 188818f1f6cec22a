"""The pages in a real browser (Chromium, offline), as a person uses them."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from playwright.async_api import expect

from collection_cases import errors
from collection_cases.config import DEMO_KEY
from tests.factories import DOCUMENTED_CASE

pytestmark = pytest.mark.e2e

CREATE_OP = "#operations-Collection_Cases-create_collection_case"


class TestSwaggerUI:
    async def test_renders_with_nothing_from_another_host(self, page, live_server):
        await page.page.goto(f"{live_server}/docs")
        await expect(page.page.locator(".info .title")).to_contain_text("Collection Cases API")
        await expect(page.page.locator(CREATE_OP)).to_be_visible()
        await expect(page.page.locator(".opblock")).to_have_count(_operation_count(live_server))
        assert page.foreign(live_server) == []
        assert {r.url.removeprefix(live_server) for r in page.requests} >= {
            "/docs",
            "/static/vendor/swagger-ui-bundle.js",
            "/static/vendor/swagger-ui.css",
            "/static/swagger-init.js",
            "/openapi.json",
        }
        assert page.csp_violations == []

    async def test_try_it_out_on_create_answers_201(self, page, live_server):
        p = page.page
        await p.goto(f"{live_server}/docs")
        await p.locator(".auth-wrapper button.authorize").click()
        dialog = p.locator(".dialog-ux")
        bearer = dialog.locator(".auth-container").first
        await expect(bearer).to_contain_text(f"the demo account's key works: {DEMO_KEY}")
        await bearer.locator("input").fill(DEMO_KEY)
        await bearer.locator("button.authorize").click()
        await expect(bearer).to_contain_text("Authorized")
        await dialog.locator("button.btn-done").first.click()

        create = p.locator(CREATE_OP)
        await create.locator(".opblock-summary").click()
        await create.get_by_role("button", name="Try it out").click()
        body = create.locator("textarea.body-param__text")
        assert json.loads(await body.input_value()) == DOCUMENTED_CASE
        await create.get_by_role("button", name="Execute").click()

        result = create.locator(".live-responses-table")
        await expect(result.locator("tr.response .response-col_status").first).to_have_text("201")
        shown = result.locator(".response-col_description pre").first
        await expect(shown).to_contain_text('"status": "active"')
        case = json.loads(await shown.inner_text())
        assert case["collection_partner"]["name"] == "CollectMax GmbH"
        # It exists for real.
        stored = httpx.get(
            f"{live_server}/v1/collection_cases/{case['id']}",
            headers={"Authorization": f"Bearer {DEMO_KEY}"},
        )
        assert stored.status_code == 200
        assert page.foreign(live_server) == []
        assert page.csp_violations == []


def _operation_count(base: str) -> int:
    spec = httpx.get(f"{base}/openapi.json").json()
    return sum(len(methods) for methods in spec["paths"].values())


class TestReDoc:
    async def test_renders_and_nothing_leaves_the_browser(self, page, live_server):
        await page.page.goto(f"{live_server}/redoc")
        await expect(
            page.page.get_by_role("heading", name=re.compile("Collection Cases API"))
        ).to_be_visible()
        await expect(
            page.page.get_by_role("heading", name="Create a collection case")
        ).to_be_visible()
        # ReDoc's bundle asks for its vendor's logo; the page's policy blocks it in the browser.
        for url in page.foreign(live_server):
            assert page.failures.get(url) == "csp", url
        assert all(v.startswith("img-src ") for v in page.csp_violations), page.csp_violations


class TestFrontDoor:
    async def test_a_person_finds_the_docs_and_the_demo_key(self, page, live_server):
        p = page.page
        await p.goto(f"{live_server}/")
        await expect(p.get_by_role("heading", name="Collection Cases API")).to_be_visible()
        await expect(p.locator("#demo-key")).to_contain_text(DEMO_KEY)
        for name in ("API reference", "Error reference", "Health", "Readiness"):
            await expect(
                p.locator(".links").get_by_role("link", name=name, exact=True)
            ).to_be_visible()
        await expect(
            p.locator(".links").get_by_role("link", name="Dashboard", exact=True)
        ).to_have_attribute("href", "/dashboard")
        await p.locator(".links").get_by_role("link", name="Error reference", exact=True).click()
        await expect(p).to_have_url(f"{live_server}/docs/errors")
        assert page.foreign(live_server) == []
        assert page.csp_violations == []
        # Our stylesheet applied (no inline styles needed).
        header = p.locator(".site-header")
        assert await header.evaluate("e => getComputedStyle(e).display") == "flex"


class TestErrorReference:
    async def test_a_doc_url_from_an_error_lands_on_its_entry(self, page, live_server):
        error = httpx.get(f"{live_server}/v1/collection_cases").json()["error"]
        assert error["doc_url"] == f"{live_server}/docs/errors#api_key_missing"
        await page.page.goto(error["doc_url"])
        entry = page.page.locator("#api_key_missing")
        await expect(entry).to_be_in_viewport()
        await expect(entry).to_contain_text("How to fix it:")
        assert await entry.evaluate("e => e.matches(':target')")
        assert page.csp_violations == []

    async def test_every_anchor_resolves(self, page, live_server):
        await page.page.goto(f"{live_server}/docs/errors")
        for entry in (*errors.ERROR_CODES, *errors.ERROR_TYPES):
            await expect(page.page.locator(f"[id='{entry.name}']")).to_have_count(1)
        link = page.page.locator(".toc").get_by_role("link", name="state_invalid")
        await link.click()
        await expect(page.page).to_have_url(re.compile("#state_invalid$"))
        await expect(page.page.locator("#state_invalid")).to_be_in_viewport()
