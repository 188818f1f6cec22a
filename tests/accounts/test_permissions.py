"""The permission matrix: every operation under /v1/, generated from the app's route table,
against a secret key, a restricted key with exactly the permission the operation declares, a
restricted key with every other permission, and a publishable key.

Allowed calls use ids that do not exist and bodies that are incomplete, so they answer 404 or
400 (never 401/403) without changing anything. A route that declares no permission fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from fastapi import FastAPI

from collection_cases.accounts.dependencies import Requirement, api_routes, requirement_of
from collection_cases.accounts.permissions import KNOWN, PUBLISHABLE
from collection_cases.app import create_app
from tests.factories import auth, make_token


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    requirement: Requirement | None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def url(self) -> str:
        # An id that exists nowhere: allowed calls answer 404 (or 400 for a missing body field).
        return re.sub(r"\{[^}]+\}", "nonexistent0", self.path)


def operations(app: FastAPI) -> list[Operation]:
    """Every operation of the route table under /v1/, with the requirement it declares."""
    return [
        Operation(method, route.path_format, requirement_of(route))
        for route in api_routes(app.routes)
        if route.path_format.startswith("/v1/")
        for method in sorted(route.methods or ())
    ]


def undeclared(app: FastAPI) -> list[str]:
    return [str(op) for op in operations(app) if op.requirement is None]


def granting(requirement: Requirement) -> set[str]:
    """The permissions that would let a restricted key through (write implies read)."""
    names = {f"{requirement.resource}:write"}
    if requirement.level == "read":
        names.add(requirement.permission)
    return names


def test_every_operation_declares_a_permission(app: FastAPI) -> None:
    assert operations(app), "no operations found under /v1/"
    assert undeclared(app) == []


# What each operation needs, as the README's table says (a changed or new route must be
# decided here too).
DOCUMENTED = {
    "POST /v1/collection_cases": "collection_cases:write",
    "GET /v1/collection_cases": "collection_cases:read",
    "GET /v1/collection_cases/ref/{reference}": "collection_cases:read",
    "GET /v1/collection_cases/{case_id}": "collection_cases:read",
    "POST /v1/collection_cases/{case_id}": "collection_cases:write",
    "POST /v1/collection_cases/{case_id}/pause": "collection_cases:write",
    "POST /v1/collection_cases/{case_id}/resume": "collection_cases:write",
    "POST /v1/collection_cases/{case_id}/close": "collection_cases:write",
    "POST /v1/collection_cases/{case_id}/files": "case_files:write",
    "GET /v1/collection_cases/{case_id}/files": "case_files:read",
    "GET /v1/case_files/{file_id}": "case_files:read",
    "GET /v1/case_files/{file_id}/contents": "case_files:read",
    "POST /v1/collection_cases/{case_id}/chat": "case_chats:write",
    "GET /v1/collection_cases/{case_id}/chat": "case_chats:read",
    "GET /v1/debt_payments": "debt_payments:read",
    "GET /v1/debt_payments/{payment_id}": "debt_payments:read",
    "GET /v1/collection_partners": "collection_partners:read",
    "GET /v1/collection_partners/{partner_id}": "collection_partners:read",
    "GET /v1/collection_coverage": "collection_coverage:read",
    "GET /v1/collection_coverage/{country}": "collection_coverage:read",
    "POST /v1/collection_case_previews": "collection_case_previews:read",
    "POST /v1/test_helpers/collection_cases/{case_id}/verify": "collection_cases:write, test",
    "POST /v1/test_helpers/collection_cases/{case_id}/request_details": (
        "collection_cases:write, test"
    ),
    "POST /v1/test_helpers/collection_cases/{case_id}/record_payment": (
        "collection_cases:write, test"
    ),
    "POST /v1/test_helpers/collection_cases/{case_id}/close": "collection_cases:write, test",
    "POST /v1/test_helpers/collection_cases/{case_id}/send_partner_message": (
        "collection_cases:write, test"
    ),
    "GET /v1/events": "events:read",
    "GET /v1/events/{event_id}": "events:read",
    "POST /v1/webhook_endpoints": "webhook_endpoints:write",
    "GET /v1/webhook_endpoints": "webhook_endpoints:read",
    "GET /v1/webhook_endpoints/{endpoint_id}": "webhook_endpoints:read",
    "POST /v1/webhook_endpoints/{endpoint_id}": "webhook_endpoints:write",
    "DELETE /v1/webhook_endpoints/{endpoint_id}": "webhook_endpoints:write",
    "GET /v1/webhook_endpoints/{endpoint_id}/deliveries": "webhook_endpoints:read",
    "POST /v1/tokens": "tokens:write, secret",
    "GET /v1/tokens": "tokens:read",
    "GET /v1/tokens/{token_id}": "tokens:read",
    "POST /v1/tokens/{token_id}/revoke": "tokens:write, secret",
}


def test_declared_permissions_are_the_documented_ones(app: FastAPI) -> None:
    declared = {}
    for op in operations(app):
        assert op.requirement is not None, str(op)
        declared[str(op)] = (
            op.requirement.permission
            + (", secret" if op.requirement.secret_only else "")
            + (", test" if op.requirement.test_only else "")
        )
    assert declared == DOCUMENTED


def test_a_route_without_a_declared_permission_is_caught(settings, pool) -> None:  # type: ignore[no-untyped-def]
    rogue_app = create_app(settings, pool=pool)

    @rogue_app.get("/v1/rogue")
    async def rogue() -> dict[str, str]:
        return {}

    assert undeclared(rogue_app) == ["GET /v1/rogue"]


async def test_the_matrix_covers_every_documented_operation(app: FastAPI, client) -> None:  # type: ignore[no-untyped-def]
    spec = (await client.get("/openapi.json")).json()
    documented = {
        f"{method.upper()} {path}": operation
        for path, item in spec["paths"].items()
        if path.startswith("/v1/")
        for method, operation in item.items()
    }
    ops = {str(op): op for op in operations(app)}
    assert set(documented) == set(ops)
    for name, operation in documented.items():
        requirement = ops[name].requirement
        assert requirement is not None
        assert operation["x-permission"] == requirement.permission, name
        assert requirement.permission in operation["description"], name
        assert "403" in operation["responses"], name


async def call(client, op: Operation, key: str):  # type: ignore[no-untyped-def]
    kwargs = {"json": {}} if op.method in ("POST", "PUT", "PATCH") else {}
    return await client.request(op.method, op.url, headers=auth(key), **kwargs)


def allowed_problem(op: Operation, response) -> str | None:  # type: ignore[no-untyped-def]
    if response.status_code in (401, 403) or response.status_code >= 500:
        return f"{op}: expected to be let through, got {response.status_code} {response.text}"
    if response.status_code == 404 and response.json()["error"]["code"] != "resource_not_found":
        return f"{op}: the operation was not reached: {response.text}"
    return None


def denied_problem(op: Operation, response) -> str | None:  # type: ignore[no-untyped-def]
    assert op.requirement is not None
    if response.status_code != 403:
        return f"{op}: expected 403, got {response.status_code} {response.text}"
    error = response.json()["error"]
    if error["code"] != "permission_denied" or op.requirement.permission not in error["message"]:
        return f"{op}: the 403 does not name {op.requirement.permission}: {error}"
    return None


KEY_KINDS = ["secret", "restricted_with", "restricted_without", "publishable"]


@pytest.mark.parametrize("key_kind", KEY_KINDS)
async def test_permission_matrix(app, client, pool, account, key_kind) -> None:  # type: ignore[no-untyped-def]
    ops = operations(app)
    problems: list[str] = []
    keys: dict[str, str] = {}
    for op in ops:
        requirement = op.requirement
        if requirement is None:
            problems.append(f"{op}: declares no permission")
            continue
        # Every key is a test-mode key, so test helpers exist for it.
        if key_kind == "secret":
            key, allowed = account.sk_test, True
        elif key_kind == "publishable":
            key = account.pk_test
            allowed = requirement.permission in PUBLISHABLE and not requirement.secret_only
        else:
            label = f"{key_kind}:{requirement.permission}"
            if label not in keys:
                if key_kind == "restricted_with":
                    held = [requirement.permission]
                else:
                    held = sorted(KNOWN - granting(requirement))
                keys[label] = (await make_token(pool, account, permissions=held))["key"]
            key = keys[label]
            allowed = key_kind == "restricted_with" and not requirement.secret_only
        response = await call(client, op, key)
        problem = (allowed_problem if allowed else denied_problem)(op, response)
        if problem:
            problems.append(problem)
    assert problems == []


async def test_test_helpers_are_404_for_live_keys_before_any_403(app, client, account) -> None:  # type: ignore[no-untyped-def]
    helpers = [op for op in operations(app) if op.requirement and op.requirement.test_only]
    assert helpers
    for op in helpers:
        for key in (account.sk_live, account.rk_live):
            response = await call(client, op, key)
            assert response.status_code == 404, (str(op), response.text)
            assert response.json()["error"]["code"] == "url_invalid"
