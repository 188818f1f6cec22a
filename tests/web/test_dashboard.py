"""The dashboard over HTTP: sessions, CSRF, permissions, and what each page shows (the browser
tests in test_dashboard_browser.py drive the same pages in Chromium)."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from html import unescape
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import text

from collection_cases.accounts.permissions import ALL_READ
from collection_cases.app import create_app
from collection_cases.web.dashboard import sessions
from collection_cases.web.dashboard.router import OPERATIONS, requirements
from tests.factories import auth, helper, make_case, make_token

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token on the page"
    return unescape(found.group(1))


async def sign_in(client: httpx.AsyncClient, key: str) -> httpx.Response:
    form = await client.get("/dashboard/sign-in")
    assert form.status_code == 200
    return await client.post(
        "/dashboard/sign-in", data={"key": key, "csrf_token": csrf_of(form.text)}
    )


@pytest.fixture
async def browser_client(app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    """A client that keeps cookies, like a browser (a fresh jar per test)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def signed_in(browser_client, account):  # type: ignore[no-untyped-def]
    response = await sign_in(browser_client, account.sk_test)
    assert response.status_code == 303, response.text
    return browser_client


async def page_csrf(client: httpx.AsyncClient, path: str) -> str:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return csrf_of(response.text)


async def key_form(client: httpx.AsyncClient) -> dict[str, str]:
    """The hidden fields of the developers page's create-key form (its CSRF token and its
    one-time form id)."""
    html = (await client.get("/dashboard/developers")).text
    found = re.search(r'name="form_id" value="([^"]+)"', html)
    assert found, "no form id on the page"
    return {"csrf_token": csrf_of(html), "form_id": found.group(1)}


def cookie_header(response: httpx.Response, name: str) -> str:
    for value in response.headers.get_list("set-cookie"):
        if value.startswith(f"{name}="):
            return value
    raise AssertionError(f"no {name} cookie set: {response.headers.get_list('set-cookie')}")


class TestSignIn:
    async def test_session_cookie_is_httponly_strict_and_holds_no_key(
        self, browser_client, account, engine
    ):
        response = await sign_in(browser_client, account.sk_test)
        assert response.status_code == 303
        assert response.headers["location"] == "/dashboard"
        cookie = cookie_header(response, sessions.COOKIE)
        attributes = {part.strip().lower() for part in cookie.split(";")}
        assert "httponly" in attributes
        assert "samesite=strict" in attributes
        assert "path=/dashboard" in attributes
        assert "secure" not in attributes  # plain HTTP here; see the HTTPS test
        assert account.sk_test not in cookie
        async with engine.connect() as conn:
            rows = (
                (
                    await conn.execute(
                        text("SELECT * FROM dashboard_sessions WHERE account_id = :a"),
                        {"a": account.id},
                    )
                )
                .mappings()
                .all()
            )
        assert len(rows) == 1
        assert account.sk_test not in str(dict(rows[0]))
        assert rows[0]["is_test"] is True
        overview = await browser_client.get("/dashboard")
        assert overview.status_code == 200
        assert 'id="mode"' in overview.text
        assert "Test mode" in overview.text

    async def test_secure_cookie_under_https(self, app, account):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
            response = await sign_in(c, account.sk_test)
        assert response.status_code == 303
        cookie = cookie_header(response, sessions.COOKIE)
        assert "secure" in {part.strip().lower() for part in cookie.split(";")}

    async def test_secure_cookies_behind_a_tls_proxy(self, app, account):
        """Behind a proxy that ends TLS, the scheme comes from uvicorn's proxy headers (a
        trusted X-Forwarded-Proto); the header alone, from anyone, changes nothing."""
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        for trusted, secure in (("127.0.0.1", True), ("10.9.9.9", False)):
            proxied = ProxyHeadersMiddleware(app, trusted_hosts=trusted)
            transport = httpx.ASGITransport(app=proxied, client=("127.0.0.1", 4321))
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://testserver",
                headers={"X-Forwarded-Proto": "https"},
            ) as c:
                form = await c.get("/dashboard/sign-in")
                # The client sends no Secure cookie to its plain-HTTP URL: send it by hand.
                cookie = cookie_header(form, sessions.SIGN_IN_COOKIE).split(";")[0]
                signed = await c.post(
                    "/dashboard/sign-in",
                    data={"key": account.sk_test, "csrf_token": csrf_of(form.text)},
                    headers={"Cookie": cookie},
                )
            assert signed.status_code == 303
            for response, name in ((form, sessions.SIGN_IN_COOKIE), (signed, sessions.COOKIE)):
                attributes = {p.strip().lower() for p in cookie_header(response, name).split(";")}
                assert ("secure" in attributes) is secure, (trusted, name)

    async def test_live_key_shows_live_mode(self, browser_client, account):
        await sign_in(browser_client, account.sk_live)
        overview = await browser_client.get("/dashboard")
        assert "Live mode" in overview.text
        assert "Test mode" not in overview.text

    async def test_without_a_session_pages_lead_to_sign_in(self, browser_client):
        for path in ("/dashboard", "/dashboard/cases", "/dashboard/developers"):
            response = await browser_client.get(path)
            assert response.status_code == 303
            assert response.headers["location"] == "/dashboard/sign-in"

    async def test_wrong_key(self, browser_client, account):
        response = await sign_in(browser_client, "sk_test_" + "x" * 24)
        assert response.status_code == 401
        assert "not valid" in response.text
        assert sessions.COOKIE not in browser_client.cookies

    async def test_publishable_key_is_refused(self, browser_client, account):
        response = await sign_in(browser_client, account.pk_test)
        assert response.status_code == 403
        assert "Publishable keys cannot open the dashboard" in response.text

    async def test_key_without_cases_read_is_refused(self, browser_client, account, pool):
        token = await make_token(pool, account, permissions=["events:read"])
        response = await sign_in(browser_client, token["key"])
        assert response.status_code == 403
        assert "collection_cases:read" in response.text

    async def test_sign_in_without_its_csrf_token_is_refused(self, browser_client, account):
        await browser_client.get("/dashboard/sign-in")
        response = await browser_client.post(
            "/dashboard/sign-in", data={"key": account.sk_test, "csrf_token": "forged"}
        )
        assert response.status_code == 403
        assert sessions.COOKIE not in browser_client.cookies

    async def test_a_forged_cookie_opens_nothing(self, browser_client, signed_in):
        value = browser_client.cookies[sessions.COOKIE]
        secret, _, signature = value.partition(".")
        browser_client.cookies.clear()
        assert (
            await browser_client.get("/dashboard", headers={"Cookie": f"{sessions.COOKIE}={value}"})
        ).status_code == 200
        for forged in (f"{secret[:-2]}AA.{signature}", secret, f"{secret}.", "x.y"):
            response = await browser_client.get(
                "/dashboard", headers={"Cookie": f"{sessions.COOKIE}={forged}"}
            )
            assert response.status_code == 303, forged

    async def test_sessions_hold_across_processes(self, signed_in, settings, pool):
        """Another app (another API process) serves the same session: PostgreSQL holds it."""
        other = create_app(settings, pool=pool)
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", cookies=signed_in.cookies
        ) as c:
            response = await c.get("/dashboard")
        assert response.status_code == 200
        assert "Overview" in response.text

    async def test_sign_out_ends_the_session_everywhere(self, signed_in, engine, account):
        cookie = signed_in.cookies[sessions.COOKIE]
        token = await page_csrf(signed_in, "/dashboard")
        response = await signed_in.post("/dashboard/sign-out", data={"csrf_token": token})
        assert response.status_code == 303
        assert response.headers["location"] == "/dashboard/sign-in?done=signed_out"
        async with engine.connect() as conn:
            left = await conn.execute(
                text("SELECT count(*) FROM dashboard_sessions WHERE account_id = :a"),
                {"a": account.id},
            )
        assert left.scalar_one() == 0
        # The old cookie, replayed, opens nothing.
        signed_in.cookies.clear()
        replayed = await signed_in.get(
            "/dashboard", headers={"Cookie": f"{sessions.COOKIE}={cookie}"}
        )
        assert replayed.status_code == 303

    async def test_revoking_the_key_ends_its_sessions(self, signed_in, client, account, pool):
        token = await make_token(pool, account, permissions=list(ALL_READ), name="ops")
        transport_client = signed_in
        transport_client.cookies.clear()
        assert (await sign_in(transport_client, token["key"])).status_code == 303
        assert (await transport_client.get("/dashboard")).status_code == 200
        revoked = await client.post(f"/v1/tokens/{token['id']}/revoke", headers=account.headers)
        assert revoked.status_code == 200
        assert (await transport_client.get("/dashboard")).status_code == 303

    async def test_an_expired_session_is_over(self, signed_in, engine, account):
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE dashboard_sessions SET expires_at = now() - interval '1 second' "
                    "WHERE account_id = :a"
                ),
                {"a": account.id},
            )
        assert (await signed_in.get("/dashboard")).status_code == 303

    async def test_an_idle_session_is_over(self, signed_in, engine, account):
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE dashboard_sessions SET last_seen_at = now() - interval '2 hours' "
                    "WHERE account_id = :a"
                ),
                {"a": account.id},
            )
        assert (await signed_in.get("/dashboard")).status_code == 303


class TestPageHeaders:
    async def test_strict_csp_no_inline_script_no_cache(self, signed_in, client, account):
        case = await make_case(client, account)
        for path in ("/dashboard", "/dashboard/cases", f"/dashboard/cases/{case['id']}"):
            response = await signed_in.get(path)
            assert response.status_code == 200, path
            csp = response.headers["content-security-policy"]
            assert "default-src 'none'" in csp
            assert "script-src 'self'" in csp
            assert "unsafe-inline" not in csp
            assert "form-action 'self'" in csp
            assert response.headers["cache-control"] == "no-store"
            html = response.text
            assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []
            assert " style=" not in html
            assert "<style" not in html
            assert '<script src="/static/dashboard.js" defer></script>' in html
            for url in re.findall(r'(?:src|href|action)="([^"]*)"', html):
                assert url.startswith(("/", "#")), url
                assert not url.startswith("//"), url

    async def test_the_script_is_served_from_the_package(self, client):
        response = await client.get("/static/dashboard.js")
        assert response.status_code == 200
        assert "javascript" in response.headers["content-type"]

    async def test_front_door_links_the_dashboard(self, client):
        index = (await client.get("/", headers={"Accept": "application/json"})).json()
        assert index["links"]["dashboard"] == "http://testserver/dashboard"


class TestPermissions:
    def test_every_view_stands_for_an_api_operation(self, app):
        found = requirements(app)
        assert set(found) == set(OPERATIONS)
        assert found["cases.pause"].permission == "collection_cases:write"
        assert found["chat.send"].permission == "case_chats:write"
        assert found["files.download"].permission == "case_files:read"
        assert found["tokens.create"].secret_only

    async def test_read_only_key_sees_no_write_forms(self, browser_client, client, account):
        case = await make_case(client, account)
        await sign_in(browser_client, account.rk_test)
        page = await browser_client.get(f"/dashboard/cases/{case['id']}")
        assert page.status_code == 200
        html = page.text
        assert "Restricted key" in html
        for action in ("pause", "resume", "close", "contact", "chat"):
            assert f"/dashboard/cases/{case['id']}/{action}" not in html
        assert "<textarea" not in html
        developers = (await browser_client.get("/dashboard/developers")).text
        assert "/dashboard/developers/tokens" not in developers
        assert "Keys are created and revoked with a secret key." in developers

    async def test_read_only_key_cannot_post_even_with_its_token(
        self, browser_client, client, account
    ):
        case = await make_case(client, account)
        await sign_in(browser_client, account.rk_test)
        token = await page_csrf(browser_client, f"/dashboard/cases/{case['id']}")
        response = await browser_client.post(
            f"/dashboard/cases/{case['id']}/pause", data={"csrf_token": token}
        )
        assert response.status_code == 403
        assert "collection_cases:write" in response.text
        assert (
            await client.get(f"/v1/collection_cases/{case['id']}", headers=account.headers)
        ).json()["status"] == "active"

    @pytest.mark.parametrize("token", [None, "", "forged", "x" * 43])
    async def test_forged_form_posts_are_refused(self, signed_in, client, account, token):
        case = await make_case(client, account)
        data = {} if token is None else {"csrf_token": token}
        response = await signed_in.post(f"/dashboard/cases/{case['id']}/pause", data=data)
        assert response.status_code == 403
        assert "did not come from this dashboard session" in response.text
        stored = await client.get(f"/v1/collection_cases/{case['id']}", headers=account.headers)
        assert stored.json()["status"] == "active"

    async def test_a_post_from_another_origin_is_refused(self, signed_in, client, account):
        case = await make_case(client, account)
        token = await page_csrf(signed_in, f"/dashboard/cases/{case['id']}")
        for origin in ("https://evil.example", "null"):
            response = await signed_in.post(
                f"/dashboard/cases/{case['id']}/pause",
                data={"csrf_token": token},
                headers={"Origin": origin},
            )
            assert response.status_code == 403
        ours = await signed_in.post(
            f"/dashboard/cases/{case['id']}/pause",
            data={"csrf_token": token},
            headers={"Origin": "http://testserver"},
        )
        assert ours.status_code == 303

    async def test_another_accounts_case_is_not_found(self, signed_in, client, other_account):
        theirs = await make_case(client, other_account)
        response = await signed_in.get(f"/dashboard/cases/{theirs['id']}")
        assert response.status_code == 404
        assert "No such collection_case" in response.text


def _amounts(html: str, currency: str) -> dict[str, str]:
    row = re.search(rf'<tr data-currency="{currency}">(.*?)</tr>', html, re.S)
    assert row, html
    return {
        field: unescape(value).strip()
        for field, value in re.findall(r'data-field="(\w+)">([^<]*)<', row.group(1))
    }


def _count(html: str, status: str) -> str:
    found = re.search(
        rf'data-status="{status}">\s*<a[^>]*>\s*<span class="stat-value">([^<]+)<', html
    )
    assert found, status
    return found.group(1)


class TestOverview:
    async def test_numbers_follow_cases_and_payments(self, signed_in, client, account):
        active = await make_case(client, account)
        paused = await make_case(client, account)
        await make_case(client, account, debtor__email=None, debtor__phone=None)  # needs details
        await make_case(client, account, currency="usd", amount_to_recover=5000)
        await client.post(f"/v1/collection_cases/{paused['id']}/pause", headers=account.headers)
        paid = await helper(client, account, active["id"], "record_payment", amount=120000)
        assert paid.status_code == 201, paid.text
        html = (await signed_in.get("/dashboard", headers={"Accept-Language": "en-US"})).text
        assert _count(html, "active") == "2"
        assert _count(html, "paused") == "1"
        assert _count(html, "needs_details") == "1"
        assert _count(html, "closed") == "0"
        assert _amounts(html, "eur") == {
            "placed": "€10,800.00",
            "outstanding": "€9,600.00",
            "recovered": "€1,200.00",
        }
        assert _amounts(html, "usd")["outstanding"] == "$50.00"
        # The chart: this month's bar holds the payment.
        # The month the server dated the payment in (not read from the clock here: a month
        # may turn between the payment and this line).
        month = datetime.fromtimestamp(paid.json()["payment_date"], UTC).date().isoformat()[:7]
        assert f'data-month="{month}" data-amount="120000"' in html
        assert "John Smith" in html  # the needs-details case is listed for attention
        assert "the debtor&#39;s e-mail or phone" in html

    async def test_amounts_in_the_viewers_locale(self, signed_in, client, account):
        await make_case(client, account)
        html = (await signed_in.get("/dashboard", headers={"Accept-Language": "de-DE,de"})).text
        assert '<html lang="de-DE">' in html
        assert _amounts(html, "eur")["placed"] == "3.600,00\xa0€"

    async def test_a_key_without_payments_read_sees_no_chart(self, browser_client, account, pool):
        token = await make_token(pool, account, permissions=["collection_cases:read"])
        await sign_in(browser_client, token["key"])
        html = (await browser_client.get("/dashboard")).text
        assert "This key lacks <code>debt_payments:read</code>" in html
        assert "<svg" not in html


class TestCaseList:
    async def test_filters_search_and_pages(self, signed_in, client, account):
        made = [await make_case(client, account, creditor_reference=f"INV-{i}") for i in range(3)]
        company = await make_case(
            client,
            account,
            debtor__type="company",
            debtor__contact_person="Jane Roe",
            debtor__address__country="FR",
            creditor_reference="ACME-7",
        )
        listed = (await signed_in.get("/dashboard/cases")).text
        assert "4 cases" in listed
        assert listed.index(company["reference"]) < listed.index(made[0]["reference"])

        by_type = (await signed_in.get("/dashboard/cases?debtor_type=company")).text
        assert company["reference"] in by_type
        assert made[0]["reference"] not in by_type
        assert 'id="case-count"' not in by_type  # no count outside the kept totals
        by_country = (await signed_in.get("/dashboard/cases?debtor_country=fr")).text
        assert company["reference"] in by_country
        assert made[1]["reference"] not in by_country

        by_reference = (
            await signed_in.get(f"/dashboard/cases?q={made[1]['reference'].lower()}")
        ).text
        assert made[1]["reference"] in by_reference
        assert made[2]["reference"] not in by_reference
        by_creditor_ref = (await signed_in.get("/dashboard/cases?q=inv-2")).text
        assert made[2]["reference"] in by_creditor_ref
        assert made[1]["reference"] not in by_creditor_ref

        today = datetime.fromtimestamp(company["created"], UTC).date()  # the day it was made
        created = (
            await signed_in.get(f"/dashboard/cases?created_from={today}&created_to={today}")
        ).text
        assert company["reference"] in created
        before = (await signed_in.get("/dashboard/cases?created_to=2020-01-01")).text
        assert "No cases match." in before

        bad = await signed_in.get("/dashboard/cases?debtor_country=XX&created_from=soon")
        assert bad.status_code == 200
        assert "is not an ISO 3166-1 alpha-2 country code" in bad.text
        assert "is not a date" in bad.text

    async def test_next_and_previous(self, signed_in, client, account, monkeypatch):
        from collection_cases.web.dashboard import router as dashboard

        monkeypatch.setattr(dashboard, "PAGE_SIZE", 2)
        made = [await make_case(client, account) for _ in range(5)]
        newest = [c["reference"] for c in reversed(made)]
        first = (await signed_in.get("/dashboard/cases")).text
        assert _references(first) == newest[:2]
        assert 'rel="prev"' not in first
        second = (await signed_in.get(unescape(_link(first, "next")))).text
        assert _references(second) == newest[2:4]
        back = (await signed_in.get(unescape(_link(second, "prev")))).text
        assert _references(back) == newest[:2]
        third = (await signed_in.get(unescape(_link(second, "next")))).text
        assert _references(third) == newest[4:]
        assert 'rel="next"' not in third


def _references(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/dashboard/cases/dc_\w+">(\w+)</a>', html)


def _link(html: str, rel: str) -> str:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', html)
    assert found, rel
    return found.group(1)


class TestCasePage:
    async def test_everything_about_a_case(self, signed_in, client, account):
        case = await make_case(client, account)
        paid = (await helper(client, account, case["id"], "record_payment", amount=60000)).json()
        await helper(client, account, case["id"], "send_partner_message", message="Debtor called")
        html = (await signed_in.get(f"/dashboard/cases/{case['id']}")).text
        assert "CollectMax GmbH" in html
        assert "John Smith" in html
        assert "€3,600.00" in html
        assert "€3,000.00" in html
        assert "€600.00" in html
        assert '<progress id="recovery" max="360000" value="60000">' in html
        # The case's fee (base plus age surcharge) is what the payment was charged.
        fee_pct = f"{paid['fee_amount'] * 100 / paid['amount']:.2f} %"
        charged = f"€{paid['fee_amount'] / 100:,.2f} charged so far"
        assert f'data-field="fee">{fee_pct} · {charged}' in html
        assert "Payment of €600.00 (partial payment)" in html
        assert "Verified: CollectMax GmbH works the case" in html
        assert "Case created" in html
        assert "Debtor called" in html
        assert "Message from the partner" in html

    async def test_pause_resume_and_the_timeline(self, signed_in, client, account):
        case = await make_case(client, account)
        path = f"/dashboard/cases/{case['id']}"
        token = await page_csrf(signed_in, path)
        paused = await signed_in.post(f"{path}/pause", data={"csrf_token": token})
        assert paused.status_code == 303
        assert paused.headers["location"] == f"{path}?done=paused"
        page = (await signed_in.get(paused.headers["location"])).text
        assert "The case is paused." in page
        assert 'class="badge status-paused">Paused<' in page
        assert f"{path}/resume" in page
        assert f"{path}/pause" not in page
        again = await signed_in.post(f"{path}/pause", data={"csrf_token": token})
        assert again.status_code == 400
        assert "Cannot pause a collection_case whose status is &#39;paused&#39;." in again.text
        resumed = await signed_in.post(f"{path}/resume", data={"csrf_token": token})
        assert resumed.status_code == 303
        page = (await signed_in.get(path)).text
        assert page.index(">Resumed<") < page.index(">Paused<")  # newest first
        events = await client.get("/v1/events?type=collection_case.paused", headers=account.headers)
        assert events.json()["data"][0]["data"]["object"]["id"] == case["id"]

    async def test_contact_details_are_validated_like_the_api(self, signed_in, client, account):
        case = await make_case(client, account, debtor__email=None, debtor__phone=None)
        assert case["status"] == "needs_details"
        path = f"/dashboard/cases/{case['id']}"
        token = await page_csrf(signed_in, path)
        bad = await signed_in.post(
            f"{path}/contact", data={"csrf_token": token, "email": "nope", "phone": ""}
        )
        assert bad.status_code == 422
        assert "debtor.email" in bad.text
        good = await signed_in.post(
            f"{path}/contact",
            data={"csrf_token": token, "email": "jo@example.com", "phone": ""},
        )
        assert good.status_code == 303
        stored = (
            await client.get(f"/v1/collection_cases/{case['id']}", headers=account.headers)
        ).json()
        assert stored["debtor"]["email"] == "jo@example.com"
        assert stored["status"] == "active"  # verification ran again, as after an API update

    async def test_send_a_message(self, signed_in, client, account):
        case = await make_case(client, account)
        path = f"/dashboard/cases/{case['id']}"
        token = await page_csrf(signed_in, path)
        empty = await signed_in.post(f"{path}/chat", data={"csrf_token": token, "message": ""})
        assert empty.status_code == 422
        sent = await signed_in.post(
            f"{path}/chat", data={"csrf_token": token, "message": "Any news <b>?</b>"}
        )
        assert sent.status_code == 303
        chat = await client.get(f"/v1/collection_cases/{case['id']}/chat", headers=account.headers)
        assert chat.json()["data"][0]["message"] == "Any news <b>?</b>"
        page = (await signed_in.get(path)).text
        assert "Any news &lt;b&gt;?&lt;/b&gt;" in page

    async def test_close_withdraws(self, signed_in, client, account):
        case = await make_case(client, account)
        path = f"/dashboard/cases/{case['id']}"
        token = await page_csrf(signed_in, path)
        closed = await signed_in.post(f"{path}/close", data={"csrf_token": token})
        assert closed.status_code == 303
        page = (await signed_in.get(path)).text
        assert "closed: withdrawn" in page
        assert 'id="actions"' not in page
        assert "<textarea" not in page

    async def test_download_a_file(self, signed_in, client, account):
        case = await make_case(client, account)
        uploaded = await client.post(
            f"/v1/collection_cases/{case['id']}/files",
            headers=account.headers,
            files={"file": ("notes.txt", b"hello dashboard\n", "text/plain")},
            data={"document_type": "miscellaneous"},
        )
        assert uploaded.status_code == 201, uploaded.text
        file_id = uploaded.json()["id"]
        page = (await signed_in.get(f"/dashboard/cases/{case['id']}")).text
        assert f'href="/dashboard/files/{file_id}" download>notes.txt<' in page
        got = await signed_in.get(f"/dashboard/files/{file_id}")
        assert got.status_code == 200
        assert got.content == b"hello dashboard\n"
        assert got.headers["content-disposition"].startswith('attachment; filename="notes.txt"')

    async def test_a_download_is_served_as_the_api_serves_it(self, signed_in, client, account):
        case = await make_case(client, account)
        name = "Rechnung März; 2024.txt"
        uploaded = await client.post(
            f"/v1/collection_cases/{case['id']}/files",
            headers=account.headers,
            files={"file": (name, b"amount;due\n1;2\n", "text/plain")},
            data={"document_type": "original_invoice"},
        )
        assert uploaded.status_code == 201, uploaded.text
        file_id = uploaded.json()["id"]
        ours = await signed_in.get(f"/dashboard/files/{file_id}")
        api = await client.get(f"/v1/case_files/{file_id}/contents", headers=account.headers)
        assert ours.status_code == api.status_code == 200
        assert ours.content == api.content
        for header in (
            "content-type",
            "content-length",
            "content-disposition",
            "x-content-type-options",
            "cache-control",
        ):
            assert ours.headers[header] == api.headers[header], header
        assert ours.headers["content-disposition"] == (
            'attachment; filename="Rechnung M_rz_ 2024.txt"; '
            "filename*=UTF-8''Rechnung%20M%C3%A4rz%3B%202024.txt"
        )


def test_the_dashboard_uses_only_public_names_of_other_modules():
    """The dashboard calls the domains through what they publish (e.g. files.download), never
    through another module's private helpers."""
    import ast
    from pathlib import Path

    import collection_cases.web.dashboard as dashboard

    for source in Path(dashboard.__file__).parent.glob("*.py"):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("collection"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{source.name} imports {private} from {node.module}"


class TestDevelopers:
    async def test_create_use_and_revoke_a_key(self, signed_in, client, account):
        form = await key_form(signed_in)
        token = form["csrf_token"]
        form["name"] = "Ops board"
        form |= {f"permission_{r}": "none" for r in ("case_files", "case_chats", "tokens")}
        form |= {"permission_collection_cases": "read", "permission_events": "write"}
        created = await signed_in.post("/dashboard/developers/tokens", data=form)
        assert created.status_code == 201
        assert created.headers["cache-control"] == "no-store"
        key = re.search(r'id="new-key-value">(rk_test_\w+)<', created.text)
        assert key, created.text
        assert (
            await client.get("/v1/collection_cases", headers=auth(key.group(1)))
        ).status_code == 200
        assert (await client.get("/v1/tokens", headers=auth(key.group(1)))).status_code == 403
        listed = (await client.get("/v1/tokens", headers=account.headers)).json()["data"]
        made = next(t for t in listed if t["name"] == "Ops board")
        assert made["permissions"] == ["collection_cases:read", "events:write"]
        page = (await signed_in.get("/dashboard/developers")).text
        assert key.group(1) not in page  # shown once
        revoked = await signed_in.post(
            f"/dashboard/developers/tokens/{made['id']}/revoke", data={"csrf_token": token}
        )
        assert revoked.status_code == 303
        assert (
            await client.get("/v1/collection_cases", headers=auth(key.group(1)))
        ).status_code == 401

    async def test_a_bad_key_form_says_why(self, signed_in):
        form = await key_form(signed_in)
        response = await signed_in.post("/dashboard/developers/tokens", data={**form, "name": ""})
        assert response.status_code == 400
        assert "Invalid name: String should have at least 1 character." in response.text
        assert 'role="alert"' in response.text

    async def _keys_named(self, client, account, name):  # type: ignore[no-untyped-def]
        listed = (await client.get("/v1/tokens?limit=100", headers=account.headers)).json()
        return [t for t in listed["data"] if t["name"] == name]

    async def test_sending_the_form_again_creates_no_second_key(self, signed_in, client, account):
        """A reload of the answer (the browser sends the form again) shows no key and makes
        none: the form's one-time id was taken by the first."""
        form = {**await key_form(signed_in), "name": "Sent twice", "permission_events": "read"}
        first = await signed_in.post("/dashboard/developers/tokens", data=form)
        assert first.status_code == 201
        key = re.search(r'id="new-key-value">(rk_test_\w+)<', first.text)
        assert key
        again = await signed_in.post("/dashboard/developers/tokens", data=form)
        assert again.status_code == 409
        assert key.group(1) not in again.text
        assert 'id="new-key-value"' not in again.text
        [made] = await self._keys_named(client, account, "Sent twice")
        assert f"it created the key Sent twice ({made['id']})" in again.text
        # A fresh form (the page loaded again) creates another key.
        fresh = {**form, "form_id": (await key_form(signed_in))["form_id"]}
        assert fresh["form_id"] != form["form_id"]
        assert (await signed_in.post("/dashboard/developers/tokens", data=fresh)).status_code == 201
        assert len(await self._keys_named(client, account, "Sent twice")) == 2

    async def test_a_double_click_creates_one_key(self, signed_in, client, account):
        form = {**await key_form(signed_in), "name": "Clicked twice", "permission_events": "read"}
        answers = await asyncio.gather(
            *(signed_in.post("/dashboard/developers/tokens", data=form) for _ in range(2))
        )
        assert sorted(a.status_code for a in answers) == [201, 409]
        assert sum('id="new-key-value"' in a.text for a in answers) == 1
        assert len(await self._keys_named(client, account, "Clicked twice")) == 1

    async def test_a_form_without_its_id_creates_nothing(self, signed_in, client, account):
        form = {**await key_form(signed_in), "name": "No id", "permission_events": "read"}
        for form_id in (None, "", "short", "é" * 32):
            sent = {k: v for k, v in form.items() if k != "form_id"}
            if form_id is not None:
                sent["form_id"] = form_id
            response = await signed_in.post("/dashboard/developers/tokens", data=sent)
            assert response.status_code == 400, form_id
            assert "reload it" in response.text
        assert await self._keys_named(client, account, "No id") == []

    async def test_webhooks_and_events(self, signed_in, client, account):
        endpoint = await client.post(
            "/v1/webhook_endpoints",
            headers=account.headers,
            json={"url": "http://localhost:9/hooks", "enabled_events": ["*"]},
        )
        assert endpoint.status_code == 201
        case = await make_case(client, account)
        page = (await signed_in.get("/dashboard/developers")).text
        assert "http://localhost:9/hooks" in page
        assert "Recent deliveries" in page
        assert "collection_case.created" in page
        assert f'href="/dashboard/cases/{case["id"]}">{case["reference"]}<' in page
        only = (await signed_in.get("/dashboard/developers?event_type=collection_case.active")).text
        events_table = only[only.index('id="events"') :]
        assert "collection_case.created" not in events_table


async def test_due_dates_are_calendar_days(signed_in, client, account):
    case = await make_case(client, account)
    html = (await signed_in.get(f"/dashboard/cases/{case['id']}")).text
    assert f"<dd>{date(2024, 11, 1).strftime('%b')} 1, 2024</dd>" in html


class TestHostileCookiesAndTokens:
    """A cookie or token that is not ASCII is refused like any wrong one, never a 500
    (hmac.compare_digest raises TypeError on such a str)."""

    @pytest.mark.parametrize("value", ["abc.é", "é.é", "é", "abc.\u2603"])
    async def test_a_non_ascii_session_cookie_opens_nothing(
        self, browser_client, monkeypatch, value
    ):
        def no_query(*args, **kwargs):  # type: ignore[no-untyped-def]
            raise AssertionError("a forged cookie must be refused before any query")

        monkeypatch.setattr(sessions.db, "fetch_one", no_query)
        cookie = f"{sessions.COOKIE}={value}".encode()
        response = await browser_client.get("/dashboard", headers={"Cookie": cookie})
        assert response.status_code == 303
        assert response.headers["location"] == "/dashboard/sign-in"

    async def test_the_sign_in_page_ignores_non_ascii_cookies(self, browser_client):
        cookie = f"{sessions.COOKIE}=abc.é; {sessions.SIGN_IN_COOKIE}=abc.é".encode()
        response = await browser_client.get("/dashboard/sign-in", headers={"Cookie": cookie})
        assert response.status_code == 200
        # The refused cookie is replaced with a fresh one of ours.
        assert cookie_header(response, sessions.SIGN_IN_COOKIE).isascii()

    @pytest.mark.parametrize("token", ["é", "\u2603" * 43, "a\x00"])
    async def test_a_hostile_sign_in_token_is_refused(self, browser_client, account, token):
        await browser_client.get("/dashboard/sign-in")
        response = await browser_client.post(
            "/dashboard/sign-in", data={"key": account.sk_test, "csrf_token": token}
        )
        assert response.status_code == 403
        assert sessions.COOKIE not in browser_client.cookies

    @pytest.mark.parametrize("token", ["é", "\u2603" * 43])
    async def test_a_non_ascii_form_token_is_refused(self, signed_in, client, account, token):
        case = await make_case(client, account)
        response = await signed_in.post(
            f"/dashboard/cases/{case['id']}/pause", data={"csrf_token": token}
        )
        assert response.status_code == 403
        assert "did not come from this dashboard session" in response.text
        signed_out = await signed_in.post("/dashboard/sign-out", data={"csrf_token": token})
        assert signed_out.status_code == 403
        assert (await signed_in.get("/dashboard")).status_code == 200


# Values no page may answer with a 5xx: NUL, invalid UTF-8, the ends of the calendar, numbers
# past any integer type, long and non-ASCII strings.
HOSTILE_VALUES = [
    "%00",
    "ab%00c",
    "%ED%A0%80",
    "%FF%FE",
    "9999-12-31",
    "0001-01-01",
    "1969-12-31",
    "-1",
    "99999999999999999999999",
    "1e309",
    "x" * 3000,
    "%C3%A9",
    "dc_%00",
    "evt_" + "0" * 40,
]
QUERY_PARAMS = [
    "status",
    "debtor_country",
    "debtor_type",
    "created_from",
    "created_to",
    "q",
    "starting_after",
    "ending_before",
    "event_type",
    "events_after",
    "events_before",
    "done",
]


@pytest.fixture
async def sweeper(settings, pool, account):  # type: ignore[no-untyped-def]
    """A signed-in client of an app without rate limits, for tests that send many requests
    (a 429 must not hide what the page would answer)."""
    app = create_app(settings.model_copy(update={"rate_limit_per_second": 0}), pool=pool)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        assert (await sign_in(c, account.sk_test)).status_code == 303
        yield c


class TestHostileQueries:
    async def test_dates_at_the_ends_of_the_calendar(self, signed_in, client, account):
        case = await make_case(client, account)
        ref = case["reference"]
        cases = "/dashboard/cases"
        found = {
            "created_to=9999-12-31": True,
            "created_from=0001-01-01": True,
            "created_from=0001-01-01&created_to=9999-12-31": True,
            "created_from=9999-12-31": False,
            "created_to=0001-01-01": False,
            "created_to=1969-12-31": False,
            "created_to=1970-01-01": False,
        }
        for query, listed in found.items():
            response = await signed_in.get(f"{cases}?{query}")
            assert response.status_code == 200, (query, response.text)
            assert (ref in response.text) is listed, query

    async def test_a_search_with_nul_is_refused(self, signed_in, client, account):
        await make_case(client, account)
        response = await signed_in.get("/dashboard/cases?q=ab%00c")
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("text/html")
        assert "must not contain NUL characters" in response.text
        assert 'id="no-cases"' in response.text

    async def test_nothing_is_parsed_before_the_sign_in(self, browser_client):
        for query in ("created_to=9999-12-31", "q=ab%00c", "created_from=soon"):
            response = await browser_client.get(f"/dashboard/cases?{query}")
            assert response.status_code == 303, query
            assert response.headers["location"] == "/dashboard/sign-in"

    @pytest.mark.parametrize("value", ["%00", "x" * 3000, "dc_%ED%A0%80", "evt_" + "0" * 40])
    async def test_a_cursor_that_names_nothing_is_a_400_page(self, signed_in, value):
        for path in (
            f"/dashboard/cases?starting_after={value}",
            f"/dashboard/cases?ending_before={value}",
            f"/dashboard/developers?events_after={value}",
            f"/dashboard/developers?events_before={value}",
        ):
            response = await signed_in.get(path)
            assert response.status_code == 400, path
            assert response.headers["content-type"].startswith("text/html"), path

    async def test_no_query_value_is_a_5xx(self, sweeper, client, account):
        case = await make_case(client, account)
        paths = [
            "/dashboard",
            "/dashboard/cases",
            f"/dashboard/cases/{case['id']}",
            "/dashboard/developers",
            "/dashboard/sign-in",
        ]
        for path in paths:
            for name in QUERY_PARAMS:
                for value in HOSTILE_VALUES:
                    response = await sweeper.get(f"{path}?{name}={value}")
                    assert response.status_code in (200, 303, 400), (path, name, value)

    async def test_no_path_value_is_a_5xx(self, sweeper):
        for value in HOSTILE_VALUES:
            for path in (f"/dashboard/cases/{value}", f"/dashboard/files/{value}"):
                response = await sweeper.get(path)
                assert response.status_code in (400, 404), (path, response.text)


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class TestHostileForms:
    async def test_no_form_value_is_a_5xx(self, sweeper, client, account):
        case = await make_case(client, account, debtor__type="company")
        token = quote(await page_csrf(sweeper, "/dashboard/developers"), safe="")
        forms = {
            f"/dashboard/cases/{case['id']}/contact": {
                "email": "jo@example.com",
                "phone": "",
                "contact_person": "Jo Doe",
            },
            f"/dashboard/cases/{case['id']}/chat": {"message": "Any news?"},
            "/dashboard/developers/tokens": {
                "name": "sweep",
                "expires_on": "",
                "permission_events": "read",
            },
        }
        for path, fields in forms.items():
            for name in fields:
                for value in HOSTILE_VALUES:
                    sent = {**{k: quote(v) for k, v in fields.items()}, name: value}
                    sent["form_id"] = secrets.token_urlsafe(24)  # a fresh form each time
                    body = f"csrf_token={token}&" + "&".join(f"{k}={v}" for k, v in sent.items())
                    response = await sweeper.post(path, content=body.encode(), headers=FORM)
                    assert response.status_code in (201, 303, 400, 422), (path, name, value)
        for value in HOSTILE_VALUES:
            revoke = await sweeper.post(
                f"/dashboard/developers/tokens/{value}/revoke",
                content=f"csrf_token={token}".encode(),
                headers=FORM,
            )
            assert revoke.status_code == 404, value

    async def test_no_key_is_a_5xx_at_sign_in(self, browser_client):
        form = await browser_client.get("/dashboard/sign-in")
        token = quote(csrf_of(form.text), safe="")
        for value in HOSTILE_VALUES:
            response = await browser_client.post(
                "/dashboard/sign-in",
                content=f"csrf_token={token}&key={value}".encode(),
                headers=FORM,
            )
            assert response.status_code in (400, 401), value

    @pytest.mark.parametrize(
        ("expires_on", "status"),
        [("9999-12-31", 201), ("0001-01-01", 400), ("99999-01-01", 400), ("2024-02-30", 400)],
    )
    async def test_key_expiry_dates(self, signed_in, expires_on, status):
        response = await signed_in.post(
            "/dashboard/developers/tokens",
            data={
                **await key_form(signed_in),
                "name": "dated",
                "permission_events": "read",
                "expires_on": expires_on,
            },
        )
        assert response.status_code == status, response.text


class TestFormBodies:
    """Dashboard posts are small URL-encoded forms: anything else is refused before its body
    is read (415), a form over the bound is refused as it arrives (413)."""

    @pytest.fixture
    def parsed(self, monkeypatch):  # type: ignore[no-untyped-def]
        """How often a multipart body was parsed (it never should be)."""
        from starlette import formparsers

        calls: list[int] = []
        original = formparsers.MultiPartParser.parse

        async def parse(self):  # type: ignore[no-untyped-def]
            calls.append(1)
            return await original(self)

        monkeypatch.setattr(formparsers.MultiPartParser, "parse", parse)
        return calls

    async def test_a_multipart_sign_in_is_refused_unread(self, browser_client, parsed):
        response = await browser_client.post(
            "/dashboard/sign-in",
            # Under the app's body limit (1 MiB): the dashboard's own check answers.
            files={"file": ("big.bin", b"\0" * (900 * 1024), "application/octet-stream")},
            data={"key": "sk_test_x", "csrf_token": "x"},
        )
        assert response.status_code == 415
        assert response.headers["content-type"].startswith("text/html")
        assert "application/x-www-form-urlencoded" in response.text
        assert parsed == []

    @pytest.mark.parametrize(
        "content_type", ["multipart/form-data; boundary=x", "application/json", "text/plain", ""]
    )
    async def test_a_signed_in_post_of_another_type_is_refused_unread(
        self, signed_in, client, account, parsed, content_type
    ):
        case = await make_case(client, account)
        token = await page_csrf(signed_in, f"/dashboard/cases/{case['id']}")
        response = await signed_in.post(
            f"/dashboard/cases/{case['id']}/pause",
            content=f"csrf_token={quote(token)}".encode(),
            headers={"Content-Type": content_type},
        )
        assert response.status_code == 415
        assert parsed == []
        stored = await client.get(f"/v1/collection_cases/{case['id']}", headers=account.headers)
        assert stored.json()["status"] == "active"

    async def test_the_type_is_checked_before_the_session(self, browser_client, parsed):
        response = await browser_client.post(
            "/dashboard/sign-out", files={"f": ("a.txt", b"a", "text/plain")}
        )
        assert response.status_code == 415
        assert parsed == []

    async def test_a_form_declared_too_large_is_refused(self, signed_in, client, account):
        case = await make_case(client, account)
        path = f"/dashboard/cases/{case['id']}"
        token = await page_csrf(signed_in, path)
        response = await signed_in.post(
            f"{path}/chat", data={"csrf_token": token, "message": "x" * 200_000}
        )
        assert response.status_code == 413
        assert response.headers["content-type"].startswith("text/html")
        chat = await client.get(f"/v1/collection_cases/{case['id']}/chat", headers=account.headers)
        assert chat.json()["data"] == []

    async def test_a_streamed_form_is_cut_off_at_the_bound(self, browser_client):
        await browser_client.get("/dashboard/sign-in")  # its cookie: the body is read

        async def body():  # no Content-Length: chunked
            for _ in range(64):
                yield b"key=" + b"x" * 16 * 1024 + b"&"

        response = await browser_client.post("/dashboard/sign-in", content=body(), headers=FORM)
        assert response.status_code == 413
        assert "larger than the 128 KiB" in response.text

    async def test_a_post_refused_on_its_headers_is_not_read(
        self, browser_client, signed_in, client, account, monkeypatch
    ):
        from collection_cases.web.dashboard import forms

        case = await make_case(client, account)
        token = await page_csrf(signed_in, f"/dashboard/cases/{case['id']}")

        async def unread(request):  # type: ignore[no-untyped-def]
            raise AssertionError("the body of a post refused on its headers was read")

        monkeypatch.setattr(forms, "read_form", unread)
        elsewhere = {"Origin": "https://evil.example"}
        refused = [
            # From another origin, with the session and its token.
            await signed_in.post(
                f"/dashboard/cases/{case['id']}/pause",
                data={"csrf_token": token},
                headers=elsewhere,
            ),
            await signed_in.post("/dashboard/sign-in", data={"key": "x"}, headers=elsewhere),
        ]
        browser_client.cookies.clear()
        # A sign-in without the sign-in page's cookie.
        refused.append(await browser_client.post("/dashboard/sign-in", data={"key": "x" * 1000}))
        assert [r.status_code for r in refused] == [403, 403, 403]
        stored = await client.get(f"/v1/collection_cases/{case['id']}", headers=account.headers)
        assert stored.json()["status"] == "active"

    async def test_the_longest_chat_message_fits(self, signed_in, client, account):
        case = await make_case(client, account)
        path = f"/dashboard/cases/{case['id']}"
        token = await page_csrf(signed_in, path)
        message = "\N{GRINNING FACE}" * 10_000  # 4 bytes each, 12 percent-encoded
        sent = await signed_in.post(f"{path}/chat", data={"csrf_token": token, "message": message})
        assert sent.status_code == 303, sent.text
        chat = await client.get(f"/v1/collection_cases/{case['id']}/chat", headers=account.headers)
        assert chat.json()["data"][0]["message"] == message

    async def test_too_many_fields(self, browser_client):
        await browser_client.get("/dashboard/sign-in")
        body = "&".join(f"f{i}=x" for i in range(100))
        response = await browser_client.post(
            "/dashboard/sign-in", content=body.encode(), headers=FORM
        )
        assert response.status_code == 400
        assert "fields" in response.text


def _is_page(response: httpx.Response) -> bool:
    return response.headers["content-type"].startswith("text/html") and (
        "<!doctype html>" in response.text
    )


class TestErrorPages:
    """Every error under /dashboard is a page, including those given around its routes (the
    body limit, the database, unknown URLs); the API keeps its JSON."""

    async def test_an_unknown_dashboard_url_is_a_page(self, browser_client, client):
        response = await browser_client.get("/dashboard/nope")
        assert response.status_code == 404
        assert _is_page(response)
        assert "Unrecognized request URL (GET /dashboard/nope)." in response.text
        assert response.headers["request-id"].startswith("req_")
        assert "default-src 'none'" in response.headers["content-security-policy"]
        api = await client.get("/v1/nope")
        assert api.status_code == 404
        assert api.headers["content-type"] == "application/json"

    async def test_a_wrong_method_is_a_page_with_allow(self, browser_client):
        response = await browser_client.get("/dashboard/sign-out")
        assert response.status_code == 405
        assert _is_page(response)
        assert response.headers["allow"] == "POST"

    async def test_a_body_over_the_apps_limit_is_a_page(self, browser_client, client, account):
        big = b"key=" + b"x" * (2 * 1024 * 1024)
        response = await browser_client.post("/dashboard/sign-in", content=big, headers=FORM)
        assert response.status_code == 413
        assert _is_page(response)
        assert "larger than the 1048576 bytes allowed" in response.text
        # The page is the request's answer like any other: its id, and the connection closed
        # after it (the rest of the body is not read).
        assert response.headers["request-id"].startswith("req_")
        assert response.headers["connection"] == "close"
        api = await client.post(
            "/v1/collection_cases",
            content=b'{"x": "' + b"x" * (2 * 1024 * 1024) + b'"}',
            headers={**account.headers, "Content-Type": "application/json"},
        )
        assert api.status_code == 413
        assert api.headers["content-type"] == "application/json"

    async def test_the_database_down_is_a_page(self, signed_in, monkeypatch):
        import psycopg

        async def down(*args, **kwargs):  # type: ignore[no-untyped-def]
            raise psycopg.OperationalError("connection refused")

        monkeypatch.setattr(sessions, "current", down)
        response = await signed_in.get("/dashboard/cases")
        assert response.status_code == 503
        assert _is_page(response)
        assert "The database is unreachable right now" in response.text
        assert response.headers["retry-after"] == "1"
        assert response.headers["cache-control"] == "no-store"

    async def test_an_unexpected_error_is_a_page(self, signed_in, monkeypatch):
        from collection_cases.web.dashboard import router as dashboard

        def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
            raise RuntimeError("a bug")

        monkeypatch.setattr(dashboard, "_summaries", broken)
        response = await signed_in.get("/dashboard")
        assert response.status_code == 500
        assert _is_page(response)
        assert "An unexpected error occurred; it has been logged." in response.text
        assert "a bug" not in response.text

    async def test_pages_and_files_pass_through(self, signed_in):
        assert (await signed_in.get("/dashboard")).status_code == 200
        denied = await signed_in.get("/dashboard/files/file_nope")
        assert denied.status_code == 404
        assert _is_page(denied)
