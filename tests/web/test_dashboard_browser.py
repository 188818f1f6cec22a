"""The dashboard in a real browser (Chromium, offline), as a person in operations uses it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from collection_cases.accounts.permissions import ALL_READ
from collection_cases.config import DEMO_KEY
from tests.factories import DOCUMENTED_CASE

pytestmark = pytest.mark.e2e

INVOICE = Path(__file__).resolve().parents[1] / "data" / "invoice.pdf"
STATUSES = ("pending_verification", "needs_details", "active", "paused", "closed")


def api(base: str, key: str = DEMO_KEY) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=10)


def all_cases(base: str) -> list[dict[str, Any]]:
    """Every case of the demo account in test mode, through the API's list."""
    out: list[dict[str, Any]] = []
    with api(base) as c:
        after = None
        while True:
            params: dict[str, Any] = {"limit": 100}
            if after:
                params["starting_after"] = after
            page = c.get("/v1/collection_cases", params=params).json()
            out += page["data"]
            if not page["has_more"]:
                return out
            after = page["data"][-1]["id"]


def euros(minor: int) -> str:
    return f"€{minor / 100:,.2f}"


async def sign_in(p: Page, base: str, key: str) -> None:
    await p.goto(f"{base}/dashboard")
    await expect(p).to_have_url(f"{base}/dashboard/sign-in")
    await p.get_by_label("API key").fill(key)
    await p.get_by_role("button", name="Sign in").click()
    await expect(p.get_by_role("heading", name="Overview", exact=True)).to_be_visible()


@pytest.fixture
def demo_case(live_server: str) -> dict[str, Any]:
    """A fresh active case of the demo account, with an invoice uploaded."""
    with api(live_server) as c:
        case = c.post("/v1/collection_cases", json=DOCUMENTED_CASE).json()
        uploaded = c.post(
            f"/v1/collection_cases/{case['id']}/files",
            files={"file": ("invoice.pdf", INVOICE.read_bytes(), "application/pdf")},
            data={"document_type": "original_invoice", "description": "Unpaid invoice"},
        )
        assert uploaded.status_code == 201, uploaded.text
    assert case["status"] == "active"
    return case


class TestDashboard:
    async def test_a_day_of_work_with_the_demo_key(self, page, live_server, demo_case):
        p, base = page.page, live_server
        await sign_in(p, base, DEMO_KEY)
        await expect(p.locator("#mode")).to_have_text("Test mode")

        # The overview's numbers are the API's.
        cases = all_cases(base)
        await p.reload()
        for status in STATUSES:
            expected = f"{sum(1 for c in cases if c['status'] == status):,}"
            await expect(p.locator(f'[data-status="{status}"] .stat-value')).to_have_text(expected)
        eur = [c for c in cases if c["currency"] == "eur"]
        row = p.locator('#amounts tr[data-currency="eur"]')
        outstanding = sum(c["remainder"] for c in eur if c["status"] != "closed")
        recovered = sum(c["amount_to_recover"] - c["remainder"] for c in eur)
        await expect(row.locator('[data-field="outstanding"]')).to_have_text(euros(outstanding))
        await expect(row.locator('[data-field="recovered"]')).to_have_text(euros(recovered))
        await expect(p.locator("figure.chart svg rect.bar")).to_have_count(12)

        # Filter the list down to the new case, then open it.
        await (
            p.get_by_role("navigation", name="Dashboard").get_by_role("link", name="Cases").click()
        )
        await p.get_by_label("Status").select_option("active")
        await p.get_by_label("Reference or creditor reference").fill(demo_case["reference"])
        await p.get_by_role("button", name="Apply").click()
        rows = p.locator("#cases tbody tr")
        await expect(rows).to_have_count(1)
        await rows.get_by_role("link", name=demo_case["reference"]).click()
        await expect(
            p.get_by_role("heading", name=re.compile(f"Case {demo_case['reference']}"))
        ).to_be_visible()
        await expect(p.locator("#partner-facts")).to_contain_text("CollectMax GmbH")

        # A payment made on the partner's side shows in the timeline.
        with api(base) as c:
            paid = c.post(
                f"/v1/test_helpers/collection_cases/{demo_case['id']}/record_payment",
                json={"amount": 120000, "type": "installment"},
            )
            assert paid.status_code == 201, paid.text
        await p.reload()
        await expect(p.locator("#timeline li").first).to_contain_text(
            "Payment of €1,200.00 (installment)"
        )
        await expect(p.locator('#amount-facts [data-field="remainder"]')).to_have_text("€2,400.00")
        await expect(p.locator("#payments tbody tr")).to_have_count(1)

        # Download the invoice.
        async with p.expect_download() as download_info:
            await p.locator("#files").get_by_role("link", name="invoice.pdf").click()
        download = await download_info.value
        assert download.suggested_filename == "invoice.pdf"
        assert Path(await download.path()).read_bytes() == INVOICE.read_bytes()

        # Write to the partner.
        await p.get_by_label("Message to the partner").fill("Please call the debtor on Monday.")
        await p.get_by_role("button", name="Send message").click()
        await expect(p.get_by_role("status")).to_have_text("Message sent to the partner.")
        await expect(p.locator("#chat li").last).to_contain_text(
            "Please call the debtor on Monday."
        )

        # Pause, then resume.
        await p.get_by_role("button", name="Pause case").click()
        await expect(p.get_by_role("status")).to_have_text("The case is paused.")
        await expect(p.locator("h1 .badge")).to_have_text("Paused")
        await expect(p.locator("#timeline li").first).to_contain_text("Paused")
        await p.get_by_role("button", name="Resume case").click()
        await expect(p.locator("h1 .badge")).to_have_text("Active")
        await expect(p.locator("#timeline li").first).to_contain_text("Resumed")
        with api(base) as c:
            assert c.get(f"/v1/collection_cases/{demo_case['id']}").json()["status"] == "active"

        # A forged post: no token, or a wrong one, with the session's cookie: 403.
        for form in ({}, {"csrf_token": "forged"}):
            forged = await p.request.post(
                f"{base}/dashboard/cases/{demo_case['id']}/pause", form=form, max_redirects=0
            )
            assert forged.status == 403
            assert "did not come from this dashboard session" in await forged.text()

        # Sign out: the dashboard asks for a key again.
        await p.get_by_role("button", name="Sign out").click()
        await expect(p).to_have_url(f"{base}/dashboard/sign-in?done=signed_out")
        await expect(p.get_by_role("status")).to_have_text("You are signed out.")
        await p.goto(f"{base}/dashboard/cases/{demo_case['id']}")
        await expect(p).to_have_url(f"{base}/dashboard/sign-in")

        assert page.foreign(base) == []
        assert page.csp_violations == []
        cookies = await p.context.cookies()
        assert [c["name"] for c in cookies if c["name"] == "cc_dashboard_session"] == []

    async def test_a_read_only_key_sees_and_changes_nothing(self, page, live_server, demo_case):
        p, base = page.page, live_server
        with api(base) as c:
            token = c.post(
                "/v1/tokens", json={"name": "Ops dashboard", "permissions": list(ALL_READ)}
            ).json()
        await sign_in(p, base, token["key"])
        await expect(p.locator(".key-kind")).to_have_text("Restricted key")
        await p.goto(f"{base}/dashboard/cases/{demo_case['id']}")
        await expect(p.locator("#debtor-facts")).to_contain_text("John Smith")
        await expect(p.locator("#timeline li").first).to_be_visible()
        # The only form that posts is signing out.
        await expect(p.locator('form[method="post"]')).to_have_count(1)
        await expect(p.get_by_role("button", name="Pause case")).to_have_count(0)
        await expect(p.locator("textarea")).to_have_count(0)
        await p.goto(f"{base}/dashboard/developers")
        await expect(p.locator("#keys")).to_contain_text("Ops dashboard")
        await expect(p.get_by_role("button", name="Create key")).to_have_count(0)
        await expect(p.get_by_role("button", name=re.compile("^Revoke"))).to_have_count(0)

        # Even with this session's own token, a write the key may not do answers 403.
        csrf = await p.locator('input[name="csrf_token"]').first.input_value()
        refused = await p.request.post(
            f"{base}/dashboard/cases/{demo_case['id']}/pause",
            form={"csrf_token": csrf},
            max_redirects=0,
        )
        assert refused.status == 403
        assert "collection_cases:write" in await refused.text()
        with api(base) as c:
            assert c.get(f"/v1/collection_cases/{demo_case['id']}").json()["status"] == "active"
        assert page.foreign(base) == []
        assert page.csp_violations == []

    async def test_a_form_posted_from_another_page_does_nothing(self, page, live_server, demo_case):
        """A page that is not the dashboard posts a form at it: the Strict cookie is not sent,
        the Origin is not ours, and there is no token. The case stays as it was."""
        p, base = page.page, live_server
        await sign_in(p, base, DEMO_KEY)
        await p.goto("about:blank")
        await p.set_content(
            f'<form method="post" action="{base}/dashboard/cases/{demo_case["id"]}/pause">'
            '<button type="submit">Win a prize</button></form>'
        )
        await p.get_by_role("button", name="Win a prize").click()
        await p.wait_for_load_state()
        assert "/dashboard/sign-in" in p.url or "did not come" in await p.content()
        with api(base) as c:
            assert c.get(f"/v1/collection_cases/{demo_case['id']}").json()["status"] == "active"
        assert page.foreign(base) == []


class TestKeys:
    async def test_a_new_key_is_shown_once_and_a_reload_makes_no_other(self, page, live_server):
        p, base = page.page, live_server
        name = f"Browser key {id(p)}"
        await sign_in(p, base, DEMO_KEY)
        await p.goto(f"{base}/dashboard/developers")
        await p.get_by_label("Name").fill(name)
        await p.get_by_role("button", name="Create key").click()
        key = await p.locator("#new-key-value").text_content()
        assert key
        assert key.startswith("rk_test_")
        # Reloading the answer sends the form again: no second key, and the key is not shown.
        await p.reload()
        await expect(p.get_by_role("alert")).to_contain_text("This form was already sent")
        await expect(p.locator("#new-key-value")).to_have_count(0)
        assert key not in await p.content()
        with api(base) as c:
            tokens = c.get("/v1/tokens", params={"limit": 100}).json()["data"]
        assert [t["name"] for t in tokens].count(name) == 1
        assert page.foreign(base) == []
        assert page.csp_violations == []


class TestOnAPhone:
    async def test_pages_fit_a_narrow_screen(self, browser, live_server, demo_case):
        context = await browser.new_context(viewport={"width": 390, "height": 844})
        p = await context.new_page()
        try:
            await sign_in(p, live_server, DEMO_KEY)
            await expect(p.locator("#mode")).to_be_visible()
            for path in ("/dashboard", "/dashboard/cases", f"/dashboard/cases/{demo_case['id']}"):
                await p.goto(f"{live_server}{path}")
                await expect(p.locator("#mode")).to_be_in_viewport()
                width = await p.evaluate("document.documentElement.scrollWidth")
                assert width <= 390, (path, width)
        finally:
            await context.close()


class TestKeyboard:
    async def test_skip_link_and_sign_in_by_keyboard(self, page, live_server):
        p, base = page.page, live_server
        await p.goto(f"{base}/dashboard/sign-in")
        await p.keyboard.press("Tab")
        focused = p.locator(":focus")
        await expect(focused).to_have_text("Skip to content")
        await p.keyboard.press("Enter")
        await expect(p).to_have_url(f"{base}/dashboard/sign-in#content")
        await p.get_by_label("API key").focus()
        await p.keyboard.type(DEMO_KEY)
        await p.keyboard.press("Enter")
        await expect(p.get_by_role("heading", name="Overview", exact=True)).to_be_visible()
        assert page.foreign(base) == []
