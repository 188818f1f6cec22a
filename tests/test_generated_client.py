"""A client generated from /openapi.json with openapi-python-client, as an integrator would
make one: it generates without a warning, and the quickstart runs through it against the app
(preview, create, retrieve, list, a payment by the test helper, the case's payments), every
answer parsed into its documented model with nothing left over.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import httpx
import pytest

GENERATOR = str(Path(sys.executable).with_name("openapi-python-client"))
PACKAGE = "cc_generated_client"


@pytest.fixture
async def spec(client) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return (await client.get("/openapi.json")).json()  # type: ignore[no-any-return]


@pytest.fixture
def generated(spec: dict[str, Any], tmp_path: Path) -> Iterator[ModuleType]:
    import json

    (tmp_path / "openapi.json").write_text(json.dumps(spec))
    # No post hooks: the generator would otherwise run ruff from PATH over its output.
    (tmp_path / "config.yaml").write_text(f"package_name_override: {PACKAGE}\npost_hooks: []\n")
    started = time.monotonic()
    result = subprocess.run(
        [
            GENERATOR,
            "generate",
            "--path",
            "openapi.json",
            "--config",
            "config.yaml",
            "--meta",
            "none",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, output
    # Nothing but the one progress line: any warning means a piece of the API is missing.
    assert output.splitlines() == [f"Generating {tmp_path / PACKAGE}"], output
    assert time.monotonic() - started < 20
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def nothing_undocumented(value: Any, where: str = "") -> None:
    """Every key of the answer went into a documented attribute, at every level."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            nothing_undocumented(item, f"{where}[{i}]")
    elif attrs.has(type(value)):
        names = [f.name for f in attrs.fields(type(value)) if f.name != "additional_properties"]
        if not names:
            return  # a map by design (metadata): its keys are the additional properties
        assert value.additional_properties == {}, where
        for name in names:
            nothing_undocumented(getattr(value, name), f"{where}.{name}")


def parsed(response: Any, status: int, model: type) -> Any:
    assert response.status_code == status, response.content
    assert isinstance(response.parsed, model), response.content
    nothing_undocumented(response.parsed, model.__name__)
    # What the model gives back is exactly what was answered.
    assert response.parsed.to_dict() == httpx.Response(200, content=response.content).json()
    return response.parsed


def example(spec: dict[str, Any], path: str) -> dict[str, Any]:
    body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    return body["example"]  # type: ignore[no-any-return]


async def test_the_quickstart_through_a_generated_client(generated, spec, app, account):
    models = importlib.import_module(f"{PACKAGE}.models")
    cases = importlib.import_module(f"{PACKAGE}.api.collection_cases")
    client = generated.AuthenticatedClient(
        base_url="http://testserver",
        token=account.sk_test,
        raise_on_unexpected_status=True,
        httpx_args={"transport": httpx.ASGITransport(app=app)},
    )
    async with client:
        preview_op = importlib.import_module(
            f"{PACKAGE}.api.partners_and_coverage.create_collection_case_preview"
        )
        preview = parsed(
            await preview_op.asyncio_detailed(
                client=client,
                body=models.PreviewParams.from_dict(example(spec, "/v1/collection_case_previews")),
            ),
            200,
            models.CollectionCasePreview,
        )
        assert preview.is_eligible is True
        assert preview.partner_assignment.partner_id == "cp_partner_de_01"

        create_op = importlib.import_module(f"{cases.__name__}.create_collection_case")
        case = parsed(
            await create_op.asyncio_detailed(
                client=client,
                body=models.CollectionCaseCreate.from_dict(example(spec, "/v1/collection_cases")),
                idempotency_key="quickstart-generated-client",
            ),
            201,
            models.CollectionCase,
        )
        assert case.status == models.CollectionCaseStatus.ACTIVE
        assert case.collection_partner.name == "CollectMax GmbH"

        retrieve_op = importlib.import_module(f"{cases.__name__}.retrieve_collection_case")
        again = parsed(
            await retrieve_op.asyncio_detailed(case.id, client=client), 200, models.CollectionCase
        )
        assert again.to_dict() == case.to_dict()

        list_op = importlib.import_module(f"{cases.__name__}.list_collection_cases")
        page = parsed(
            await list_op.asyncio_detailed(
                client=client, status=models.ListCollectionCasesStatusType0.ACTIVE, limit=10
            ),
            200,
            models.CollectionCaseList,
        )
        assert page.data[0].id == case.id

        pay_op = importlib.import_module(
            f"{PACKAGE}.api.test_helpers.test_helpers_record_debt_payment"
        )
        payment_path = "/v1/test_helpers/collection_cases/{case_id}/record_payment"
        payment = parsed(
            await pay_op.asyncio_detailed(
                case.id,
                client=client,
                body=models.RecordPaymentParams.from_dict(example(spec, payment_path)),
            ),
            201,
            models.DebtPayment,
        )
        assert payment.amount == 120000
        assert payment.fee_amount + payment.net_amount == payment.amount

        payments_op = importlib.import_module(f"{PACKAGE}.api.debt_payments.list_debt_payments")
        payments = parsed(
            await payments_op.asyncio_detailed(client=client, case=case.id),
            200,
            models.ListObjectDebtPayment,
        )
        assert [p.id for p in payments.data] == [payment.id]

        # An error parses into the documented error body.
        missing = await retrieve_op.asyncio_detailed("dc_0", client=client)
        error = parsed(missing, 404, models.ErrorResponse).error
        assert (error.type_, error.code) == ("invalid_request_error", "resource_not_found")
