"""The parameters every list takes (limit, starting_after, ending_before, created[...]) are
read in one validation (`query.QueryModel`): every list documents them and answers a bad
value of each the way a parameter declared with `Query()` would."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import make_case

PAGE = ["limit", "starting_after", "ending_before"]
CREATED = ["created[gt]", "created[gte]", "created[lt]", "created[lte]"]
# Every list, with the page parameters it takes.
LISTS = {
    "/v1/collection_cases": PAGE + CREATED,
    "/v1/collection_cases/{case_id}/files": PAGE + CREATED,
    "/v1/collection_cases/{case_id}/chat": PAGE + CREATED,
    "/v1/debt_payments": PAGE + CREATED,
    "/v1/collection_partners": PAGE,
    "/v1/collection_coverage": PAGE,
    "/v1/events": PAGE + CREATED,
    "/v1/webhook_endpoints": PAGE + CREATED,
    "/v1/webhook_endpoints/{endpoint_id}/deliveries": PAGE + CREATED,
    "/v1/tokens": PAGE + CREATED,
}


async def test_every_list_documents_its_page_parameters(client) -> None:  # type: ignore[no-untyped-def]
    spec = (await client.get("/openapi.json")).json()
    for path, expected in LISTS.items():
        documented = {
            p["name"]: p for p in spec["paths"][path]["get"]["parameters"] if p["in"] == "query"
        }
        for name in expected:
            entry = documented[name]
            assert entry["required"] is False, (path, name)
            assert entry["description"], (path, name)
        assert documented["limit"]["schema"] == {
            "type": "integer",
            "minimum": 1,
            "maximum": 100,
            "default": 10,
            "description": "How many objects to return, 1 to 100 (default 10).",
            "title": "Limit",
        }
        extra = {"created[gt]", "created[gte]"} & set(documented)
        assert bool(extra) == ("created[gt]" in expected), path


@pytest.fixture
async def urls(client, account) -> dict[str, str]:  # type: ignore[no-untyped-def]
    case = await make_case(client, account)
    endpoint = await client.post(
        "/v1/webhook_endpoints",
        json={"url": "https://hooks.example.com/cc", "enabled_events": ["*"]},
        headers=account.headers,
    )
    assert endpoint.status_code == 201, endpoint.text
    ids = {"case_id": case["id"], "endpoint_id": endpoint.json()["id"]}
    return {path: path.format(**ids) for path in LISTS}


@pytest.mark.parametrize(
    ("params", "status", "param"),
    [
        ({"limit": "abc"}, 400, "limit"),
        ({"limit": "0"}, 422, "limit"),
        ({"limit": "101"}, 422, "limit"),
        ({"starting_after": "x" * 101}, 422, "starting_after"),
        ({"starting_after": "a", "ending_before": "b"}, 400, "ending_before"),
        ({"created[gt]": "-1"}, 422, "created[gt]"),
        ({"created[lte]": "soon"}, 400, "created[lte]"),
    ],
)
async def test_a_bad_value_is_refused_by_every_list(  # type: ignore[no-untyped-def]
    client, account, urls, params: dict[str, str], status: int, param: str
) -> None:
    for path, url in urls.items():
        answer = await client.get(url, params=params, headers=account.headers)
        if param.startswith("created") and param not in LISTS[path]:
            # Partners and coverage take no created[...]: an unknown parameter there.
            assert answer.status_code == 400, (path, answer.text)
            assert answer.json()["error"]["code"] == "parameter_unknown"
            continue
        assert answer.status_code == status, (path, answer.text)
        error: dict[str, Any] = answer.json()["error"]
        assert error["param"] == param, (path, error)


async def test_good_values_reach_the_list(client, account, urls) -> None:  # type: ignore[no-untyped-def]
    for path, url in urls.items():
        answer = await client.get(url, params={"limit": "1"}, headers=account.headers)
        assert answer.status_code == 200, (path, answer.text)
        assert len(answer.json()["data"]) <= 1


@pytest.mark.parametrize(
    ("params", "status", "param"),
    [
        ({"status": "bogus", "limit": "0"}, 422, "status"),
        ({"debtor_country": "XX", "limit": "abc"}, 422, "debtor_country"),
        ({"debtor_type": "alien", "starting_after": "a", "ending_before": "b"}, 422, "debtor_type"),
        ({"status": "active", "limit": "0"}, 422, "limit"),
    ],
)
async def test_the_cases_filters_are_judged_before_the_page(  # type: ignore[no-untyped-def]
    client, account, params: dict[str, str], status: int, param: str
) -> None:
    """A list of cases with a bad filter and a bad page parameter answers about the filter;
    with good filters, about the page parameter."""
    answer = await client.get("/v1/collection_cases", params=params, headers=account.headers)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["param"] == param
