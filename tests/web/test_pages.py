"""The front door, the docs pages and their assets, over HTTP (the browser tests drive them)."""

from __future__ import annotations

import re

import httpx
import pytest

from collection_cases.app import create_app
from collection_cases.config import DEMO_KEY
from tests.factories import DOCUMENTED_CASE

LINKS = {"docs", "redoc", "error_reference", "openapi", "healthz", "readyz"}


@pytest.fixture
async def embedded_client(settings, pool):  # type: ignore[no-untyped-def]
    """A client of an app that runs on the embedded default (the demo key exists)."""
    app = create_app(settings.model_copy(update={"embedded": True}), pool=pool)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def _local_urls_only(html: str) -> None:
    for url in re.findall(r'(?:src|href)="([^"]*)"', html):
        assert url.startswith(("/", "#")), url  # "#content": the skip link
        assert not url.startswith("//"), url


class TestFrontDoor:
    async def test_a_browser_gets_a_page(self, client):
        response = await client.get(
            "/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        html = response.text
        for path in ("/docs", "/redoc", "/docs/errors", "/healthz", "/readyz"):
            assert f'href="{path}"' in html
        assert 'data-link="dashboard"' in html  # the spot the dashboard will fill
        assert DEMO_KEY not in html  # not on an external database
        assert "collection-cases keys create --account NAME" in html
        _local_urls_only(html)
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp
        assert "unsafe-inline" not in csp
        assert "<script" not in html
        assert response.headers["vary"] == "Accept"

    async def test_an_api_client_gets_a_json_index(self, client):
        response = await client.get("/", headers={"Accept": "application/json"})
        assert response.status_code == 200
        body = response.json()
        assert body["object"] == "api_index"
        assert set(body["links"]) == LINKS | {"dashboard"}
        assert body["links"]["docs"] == "http://testserver/docs"
        assert body["links"]["error_reference"] == "http://testserver/docs/errors"
        assert body["links"]["dashboard"] == "http://testserver/dashboard"
        assert body["demo_key"] is None
        assert response.headers["vary"] == "Accept"

    @pytest.mark.parametrize("accept", ["*/*", "", "application/json, text/html;q=0.5"])
    async def test_curl_and_json_first_clients_get_json(self, client, accept):
        response = await client.get("/", headers={"Accept": accept})
        assert response.json()["object"] == "api_index"

    async def test_demo_key_on_the_embedded_default(self, embedded_client):
        page = await embedded_client.get("/", headers={"Accept": "text/html"})
        assert DEMO_KEY in page.text
        index = await embedded_client.get("/", headers={"Accept": "application/json"})
        assert index.json()["demo_key"] == DEMO_KEY

    async def test_dashboard_link_appears_once_the_route_exists(self, settings, pool):
        app = create_app(settings, pool=pool)

        @app.get("/dashboard")
        async def dashboard() -> dict[str, str]:
            return {}

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            index = (await c.get("/", headers={"Accept": "application/json"})).json()
            page = (await c.get("/", headers={"Accept": "text/html"})).text
        assert index["links"]["dashboard"] == "http://testserver/dashboard"
        assert 'href="/dashboard"' in page


class TestDocsPages:
    @pytest.mark.parametrize(
        ("path", "assets"),
        [
            ("/docs", ["/static/vendor/swagger-ui-bundle.js", "/static/swagger-init.js"]),
            ("/redoc", ["/static/vendor/redoc.standalone.js", "/static/redoc-init.js"]),
        ],
    )
    async def test_served_from_the_package(self, client, path, assets):
        response = await client.get(path)
        assert response.status_code == 200
        html = response.text
        _local_urls_only(html)
        assert 'data-openapi-url="/openapi.json"' in html
        for asset in assets:
            assert f'<script src="{asset}"></script>' in html
            served = await client.get(asset)
            assert served.status_code == 200
            assert "javascript" in served.headers["content-type"]
        # No inline script: every <script> has a src.
        assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []
        csp = response.headers["content-security-policy"]
        assert "script-src 'self';" in csp
        assert "connect-src 'self'" in csp

    async def test_swagger_css_and_no_cdn(self, client):
        css = await client.get("/static/vendor/swagger-ui.css")
        assert css.status_code == 200
        assert css.headers["content-type"].startswith("text/css")
        html = (await client.get("/docs")).text
        assert "cdn" not in html
        assert "unpkg" not in html

    async def test_unknown_asset_is_a_404_in_our_shape(self, client):
        response = await client.get("/static/nothing.js")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "url_invalid"


class TestOpenAPIForTheDocs:
    async def test_create_is_prefilled_with_the_documented_body(self, client):
        spec = (await client.get("/openapi.json")).json()
        body = spec["paths"]["/v1/collection_cases"]["post"]["requestBody"]
        assert body["content"]["application/json"]["example"] == DOCUMENTED_CASE

    async def test_authorize_dialog_says_where_keys_come_from(self, client):
        spec = (await client.get("/openapi.json")).json()
        schemes = spec["components"]["securitySchemes"]
        for scheme in schemes.values():
            assert "collection-cases keys create --account NAME" in scheme["description"]
            assert DEMO_KEY not in scheme["description"]

    async def test_authorize_dialog_explains_the_demo_key(self, embedded_client):
        spec = (await embedded_client.get("/openapi.json")).json()
        for scheme in spec["components"]["securitySchemes"].values():
            assert DEMO_KEY in scheme["description"]
        assert DEMO_KEY in spec["info"]["description"]

    async def test_pages_are_not_api_operations(self, client):
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert not {"/", "/docs", "/redoc", "/docs/errors"} & set(paths)
