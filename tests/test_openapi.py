"""/openapi.json teaches: every operation says what it does, every body shows a working
example, every field says what it means, and every error response shows the body it answers.

The examples are checked against the server itself: each request body example succeeds as
Swagger UI's "Try it out" sends it (ids substituted), and the 401, 403 and 404 examples every
operation shares are exactly what it answers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from collection_cases.body import REQUEST_MODELS
from collection_cases.cases.schemas import CREATE_EXAMPLE
from collection_cases.errors import ERROR_CODES, ERROR_TYPES, ERRORS_PATH, error_doc
from collection_cases.events.router import CREATE_ENDPOINT_EXAMPLE
from collection_cases.openapi_docs import ErrorResponse
from tests.factories import auth

METHODS = ("get", "post", "delete")
PATH_PARAM = re.compile(r"\{(\w+)\}")
CATALOGUE = {entry.name for entry in (*ERROR_CODES, *ERROR_TYPES)}


@pytest.fixture
async def spec(client) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def error_examples(spec: dict[str, Any]) -> Iterator[tuple[str, str, int, str, dict[str, Any]]]:
    for path, method, operation in operations(spec):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                examples = response["content"]["application/json"].get("examples", {})
                for name, item in examples.items():
                    yield path, method, int(status), name, item["value"]


def named(spec: dict[str, Any], path: str, method: str, status: int, name: str) -> dict[str, Any]:
    response = spec["paths"][path][method]["responses"][str(status)]
    return response["content"]["application/json"]["examples"][name]["value"]  # type: ignore[no-any-return]


def same_error(answered: dict[str, Any], documented: dict[str, Any]) -> None:
    """The answer is the example, but for the host in doc_url (the request's own)."""
    got, shown = answered["error"], documented["error"]
    assert got["doc_url"].endswith(f"{ERRORS_PATH}#{shown['code']}")
    assert {**got, "doc_url": None} == {**shown, "doc_url": None}


class TestOperations:
    async def test_every_operation_has_a_summary_a_description_and_a_readable_id(self, spec):
        """And every parameter says what it is."""
        ids = []
        for path, method, operation in operations(spec):
            where = f"{method.upper()} {path}"
            assert operation.get("summary"), where
            # Beyond the permission line document_permissions writes: what, when, what changes.
            text = re.sub(r"^Needs the permission[^\n]*\n*", "", operation.get("description", ""))
            assert len(text) >= 60, where
            # Explicit and readable: not FastAPI's generated `name_v1_path_method`.
            assert re.fullmatch(r"[a-z]+(_[a-z]+)*", operation["operationId"]), where
            assert "_v1_" not in operation["operationId"], where
            for parameter in operation.get("parameters", ()):
                assert parameter.get("description"), f"{where} {parameter['name']}"
            ids.append(operation["operationId"])
        assert len(ids) == len(set(ids))
        create = spec["paths"]["/v1/collection_cases"]["post"]
        assert create["operationId"] == "create_collection_case"


class TestRequestBodies:
    async def test_every_body_has_an_example_that_is_valid(self, spec):
        for path, method, operation in operations(spec):
            body = operation.get("requestBody")
            if body is None:
                continue
            where = f"{method.upper()} {path}"
            for media_type, content in body["content"].items():
                if media_type == "multipart/form-data":
                    # Swagger UI fills a form field by field; the file is the user's to pick.
                    for name, prop in content["schema"]["properties"].items():
                        if prop.get("format") != "binary":
                            assert "example" in prop, f"{where} {name}"
                            assert prop["example"] in prop.get("enum", [prop["example"]])
                    continue
                assert "example" in content, where
                model = REQUEST_MODELS[content["schema"]["$ref"].rsplit("/", 1)[-1]]
                model.model_validate(content["example"])

    async def test_every_example_succeeds_as_try_it_out_sends_it(self, spec, client, account):
        """Each body example, sent with ids of real objects: the documented success status."""
        headers = auth(account.sk_test)

        async def object_for(param: str) -> str:
            if param == "case_id":
                response = await client.post(
                    "/v1/collection_cases", json=CREATE_EXAMPLE, headers=headers
                )
            elif param == "endpoint_id":
                response = await client.post(
                    "/v1/webhook_endpoints", json=CREATE_ENDPOINT_EXAMPLE, headers=headers
                )
            else:
                raise AssertionError(f"no object to make for {{{param}}}")
            assert response.status_code == 201, response.text
            return str(response.json()["id"])

        tried = 0
        for path, method, operation in operations(spec):
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            url = path
            for param in PATH_PARAM.findall(path):
                url = url.replace(f"{{{param}}}", await object_for(param))
            response = await client.request(
                method, url, json=content["application/json"]["example"], headers=headers
            )
            success = min(int(s) for s in operation["responses"] if int(s) < 300)
            assert response.status_code == success, f"{method.upper()} {path}: {response.text}"
            tried += 1
        assert tried >= 12


class TestSchemas:
    async def test_every_property_of_every_schema_has_a_description(self, spec):
        missing: list[str] = []

        def walk(node: Any, where: str) -> None:
            if isinstance(node, dict):
                for name, prop in (node.get("properties") or {}).items():
                    if not prop.get("description"):
                        missing.append(f"{where}.{name}")
                for key, value in node.items():
                    walk(value, f"{where}/{key}")
            elif isinstance(node, list):
                for value in node:
                    walk(value, where)

        walk(spec["components"]["schemas"], "")
        walk(spec["paths"], "")  # inline schemas too (the upload form)
        assert missing == []

    async def test_models_and_lists_are_described(self, spec):
        schemas = spec["components"]["schemas"]
        assert len(schemas) >= 45
        for name in ("CollectionCase", "ListObject_DebtPayment_", "ErrorResponse", "ErrorDetail"):
            assert name in schemas
        # Examples where they help: ids, amounts, codes.
        case = schemas["CollectionCase"]["properties"]
        for field in ("id", "reference", "status", "amount_to_recover", "currency", "due_date"):
            assert case[field].get("examples"), field


class TestErrorExamples:
    async def test_every_error_response_shows_bodies_of_the_documented_shape(self, spec):
        seen = 0
        for path, method, operation in operations(spec):
            for status, response in operation["responses"].items():
                if int(status) < 400:
                    continue
                content = response["content"]["application/json"]
                assert content["schema"]["$ref"].endswith("/ErrorResponse")
                assert content.get("examples"), f"{method.upper()} {path} {status}"
        for path, method, status, name, body in error_examples(spec):
            where = f"{method.upper()} {path} {status} {name}"
            error = ErrorResponse.model_validate(body).error
            assert error.code in CATALOGUE, where
            code, kind = error_doc(error.code), error_doc(error.type)
            assert code is not None, where
            assert kind is not None, where
            # The type goes with the status, for this code and for this type.
            assert (status, error.type) in code.answers, where
            assert status in {answered for answered, _ in kind.answers}, where
            assert error.doc_url.endswith(f"{ERRORS_PATH}#{error.code}"), where
            seen += 1
        assert seen > 300

    async def test_the_401_examples_are_what_the_server_answers(self, spec, client):
        for path, method, _ in operations(spec):
            if not path.startswith("/v1/"):
                continue
            response = await client.request(method, path.replace("{", "").replace("}", ""))
            assert response.status_code == 401
            same_error(response.json(), named(spec, path, method, 401, "api_key_missing"))

    async def test_the_403_examples_are_what_the_server_answers(self, spec, client, account):
        created = await client.post(
            "/v1/tokens",
            json={"name": "No access here", "permissions": ["payment_intents:read"]},
            headers=auth(account.sk_test),
        )
        key = created.json()["key"]
        for path, method, operation in operations(spec):
            if "x-permission" not in operation:
                continue
            url = PATH_PARAM.sub("x", path)
            response = await client.request(method, url, headers=auth(key))
            assert response.status_code == 403, f"{method.upper()} {path}"
            examples = operation["responses"]["403"]["content"]["application/json"]["examples"]
            name = "secret_only" if "secret_only" in examples else "permission_denied"
            same_error(response.json(), examples[name]["value"])

    async def test_the_404_examples_are_what_the_server_answers(self, spec, client, account):
        tried = 0
        for path, method, _ in operations(spec):
            if "404" not in spec["paths"][path][method]["responses"]:
                continue
            example = named(spec, path, method, 404, "resource_not_found")
            ident = re.search(r"'(.*)'$", example["error"]["message"]).group(1)  # type: ignore[union-attr]
            body = spec["paths"][path][method].get("requestBody", {}).get("content", {})
            json_body = body.get("application/json", {}).get("example")
            response = await client.request(
                method, PATH_PARAM.sub(ident, path), json=json_body, headers=auth(account.sk_test)
            )
            assert response.status_code == 404, f"{method.upper()} {path}: {response.text}"
            same_error(response.json(), example)
            tried += 1
        assert tried >= 25

    async def test_the_test_helpers_404_for_live_keys_is_documented(self, spec, client, account):
        path = "/v1/test_helpers/collection_cases/{case_id}/verify"
        example = named(spec, path, "post", 404, "live_key")
        ident = re.search(r"(dc_\w+)", example["error"]["message"]).group(1)  # type: ignore[union-attr]
        response = await client.post(
            path.replace("{case_id}", ident), headers=auth(account.sk_live)
        )
        assert response.status_code == 404
        same_error(response.json(), example)
