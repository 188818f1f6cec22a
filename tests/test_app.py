"""Platform behaviour: error shape for routing errors, request ids, health, OpenAPI."""

from __future__ import annotations

import pytest

from tests.factories import make_case


class TestRoutingErrors:
    async def test_unknown_path_404_in_documented_shape(self, client, account):
        response = await client.get("/v1/nothing_here", headers=account.headers)
        assert response.status_code == 404
        error = response.json()["error"]
        assert set(error) == {"type", "code", "message", "param", "doc_url"}
        assert error["type"] == "invalid_request_error"
        assert "/v1/nothing_here" in error["message"]
        assert response.headers["request-id"].startswith("req_")

    @pytest.mark.parametrize("path", ["/v1/collection_cases/", "/v1/collection_cases/ref/"])
    async def test_trailing_slash_is_an_unknown_path(self, client, account, path):
        response = await client.get(path, headers=account.headers)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "url_invalid"

    async def test_wrong_method_405(self, client, account):
        response = await client.delete("/v1/collection_cases", headers=account.headers)
        assert response.status_code == 405
        assert response.json()["error"]["code"] == "method_not_allowed"
        assert response.headers["allow"] == "GET, POST"
        one = await client.put("/v1/collection_cases/dc_0", headers=account.headers)
        assert one.status_code == 405
        assert one.headers["allow"] == "GET, POST"

    async def test_request_ids_are_unique(self, client, account):
        a = await client.get("/healthz")
        b = await client.get("/v1/collection_cases", headers=account.headers)
        assert a.headers["request-id"] != b.headers["request-id"]

    async def test_no_framework_422_body_anywhere(self, client, account):
        response = await client.get("/v1/collection_cases?limit=x", headers=account.headers)
        assert "detail" not in response.json()
        assert set(response.json()) == {"error"}


class TestRouteOrder:
    """The router tries the hottest operations first (app._hot_first); every request must
    still reach the route it reached in the declared order."""

    @staticmethod
    def _answering(routes, method: str, path: str):  # type: ignore[no-untyped-def]
        from starlette.routing import Match

        scope = {"type": "http", "method": method, "path": path, "root_path": ""}
        partial = False
        for route in routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return route
            partial = partial or match == Match.PARTIAL
        # Another method's route: a 405 listing every method at the path, whichever it was.
        return "405" if partial else "404"

    def test_every_path_reaches_the_route_it_reached_as_declared(self, app) -> None:  # type: ignore[no-untyped-def]
        import re

        declared = app.state.declared_routes
        assert app.router.routes != declared  # the order did change
        assert sorted(map(id, app.router.routes)) == sorted(map(id, declared))
        paths = {"/v1/collection_cases/ref", "/v1/collection_cases/ref/", "/openapi.json"}
        for route in declared:
            path = getattr(route, "path", None)
            if isinstance(path, str):
                paths.add(re.sub(r"\{[^}]+\}", "ref", path))
                paths.add(re.sub(r"\{[^}]+\}", "dc_0123456789abcdef0123456789abcdef", path))
        for path in sorted(paths):
            for method in ("GET", "POST", "DELETE", "PUT"):
                expected = self._answering(declared, method, path)
                assert self._answering(app.router.routes, method, path) is expected, (
                    method,
                    path,
                )


class TestHealth:
    async def test_healthz(self, client):
        response = await client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    async def test_readyz(self, client):
        response = await client.get("/readyz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
        assert response.headers["request-id"].startswith("req_")


class TestOpenAPI:
    async def test_describes_served_routes_and_errors(self, client):
        spec = (await client.get("/openapi.json")).json()
        paths = spec["paths"]
        assert set(paths) >= {
            "/v1/collection_cases",
            "/v1/collection_cases/{case_id}",
            "/v1/collection_cases/ref/{reference}",
            "/healthz",
            "/readyz",
        }
        create = paths["/v1/collection_cases"]["post"]
        assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/CollectionCaseCreate"
        )
        assert "201" in create["responses"]
        assert create["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/ErrorResponse"
        )
        schemas = spec["components"]["schemas"]
        assert "CollectionCaseCreate" in schemas
        assert "DebtorCreate" in schemas
        assert "HTTPValidationError" not in schemas
        assert "HTTPValidationError" not in str(spec)
        params = {p["name"] for p in paths["/v1/collection_cases"]["get"]["parameters"]}
        assert {
            "status",
            "debtor_country",
            "debtor_type",
            "limit",
            "starting_after",
            "ending_before",
            "created[gte]",
            "created[lte]",
        } <= params
        assert set(spec["components"]["securitySchemes"]) == {"HTTPBearer", "HTTPBasic"}
        assert paths["/v1/collection_cases"]["get"]["security"] == [
            {"HTTPBearer": []},
            {"HTTPBasic": []},
        ]

    async def test_docs_page(self, client):
        response = await client.get("/docs")
        assert response.status_code == 200
        assert "swagger" in response.text.lower()

    async def test_schema_matches_real_response(self, client, account):
        spec = (await client.get("/openapi.json")).json()
        documented = set(spec["components"]["schemas"]["CollectionCase"]["properties"])
        case = await make_case(client, account)
        assert set(case) == documented


class TestBugs:
    async def test_unexpected_error_is_500_without_traceback(self, client, account, monkeypatch):
        from collection_cases.cases import service

        async def broken(*args, **kwargs):
            raise RuntimeError("secret internals")

        monkeypatch.setattr(service, "get_case", broken)
        response = await client.get("/v1/collection_cases/dc_x", headers=account.headers)
        assert response.status_code == 500
        error = response.json()["error"]
        assert error["type"] == "api_error"
        assert "secret internals" not in response.text
        assert "Traceback" not in response.text
        assert response.headers["request-id"].startswith("req_")
