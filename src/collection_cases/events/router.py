"""HTTP routes: events, webhook endpoints and their deliveries."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from collection_cases import versions
from collection_cases.accounts.dependencies import (
    EventsRead,
    WebhookEndpointsRead,
    WebhookEndpointsWrite,
)
from collection_cases.body import json_request, json_response, parse_json
from collection_cases.errors import InvalidRequestError, ValidationFailed
from collection_cases.events import service as events
from collection_cases.events import webhooks
from collection_cases.events.attempts import Outcome
from collection_cases.events.types import expand
from collection_cases.openapi_docs import error_responses
from collection_cases.pagination import ListObject, ListParams, list_params

router = APIRouter(tags=["Events and webhooks"])


class EventRequest(BaseModel):
    id: str | None
    idempotency_key: str | None


class EventData(BaseModel):
    object: dict[str, Any]
    previous_attributes: dict[str, Any] | None


class Event(BaseModel):
    """The event object, as the current API version renders it."""

    id: str
    object: Literal["event"]
    type: str
    api_version: str
    created: int
    data: EventData
    livemode: bool
    pending_webhooks: int
    request: EventRequest


class WebhookEndpoint(BaseModel):
    id: str
    object: Literal["webhook_endpoint"]
    url: str
    enabled_events: list[str]
    status: Literal["enabled", "disabled"]
    api_version: str
    description: str | None
    metadata: dict[str, str]
    created: int
    secret: str | None = None


class DeletedWebhookEndpoint(BaseModel):
    id: str
    object: Literal["webhook_endpoint"]
    deleted: bool


class WebhookAttempt(BaseModel):
    at: int | None
    attempt: int | None
    outcome: Outcome
    status_code: int | None = Field(description="The receiver's status (answered outcomes)")
    duration_ms: int | None = Field(description="Time to the receiver's answer")


class WebhookDelivery(BaseModel):
    id: str
    object: Literal["webhook_delivery"]
    event: str
    webhook_endpoint: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    attempt_log: list[WebhookAttempt]
    next_attempt: int | None
    delivered: int | None
    created: int


@router.get(
    "/v1/events",
    response_model=ListObject[Event],
    summary="List events",
    responses=error_responses(400, 403, 422),
)
async def list_events(
    request: Request,
    access: EventsRead,
    page: Annotated[ListParams, Depends(list_params)],
    type: Annotated[  # noqa: A002 - the documented parameter name
        str | None, Query(max_length=100, description="A type, or a family: collection_case.*")
    ] = None,
    types: Annotated[
        list[str] | None,
        Query(alias="types[]", max_length=20, description="Several types (or families)"),
    ] = None,
    types_plain: Annotated[
        list[str] | None, Query(alias="types", max_length=20, include_in_schema=False)
    ] = None,
    delivery_success: Annotated[
        bool | None,
        Query(
            description="true: only events every webhook endpoint acknowledged; false: only "
            "events with a delivery still pending or given up"
        ),
    ] = None,
) -> Response:
    patterns = [*(types or []), *(types_plain or [])]
    if type is not None and patterns:
        raise InvalidRequestError("Give either type or types[], not both.", param="types")
    if type is not None:
        patterns = [type]
    selected = None
    if patterns:
        selected = []
        for pattern in patterns:
            expanded = expand(pattern)
            if expanded is None:
                param = "type" if type is not None else "types"
                raise ValidationFailed(f"Unknown event type: '{pattern[:100]}'.", param=param)
            selected += expanded
    found = await events.list_events(
        access.conn,
        principal=access.principal,
        params=page,
        types=selected,
        delivery_success=delivery_success,
    )
    version = versions.of(request)
    return json_response(found.envelope(lambda row: events.render(row, version), url="/v1/events"))


@router.get(
    "/v1/events/{event_id}",
    response_model=Event,
    summary="Retrieve an event",
    responses=error_responses(403, 404),
)
async def retrieve_event(
    request: Request, event_id: Annotated[str, Path()], access: EventsRead
) -> Response:
    return json_response(
        await events.get_event(
            access.conn,
            principal=access.principal,
            event_id=event_id,
            version=versions.of(request),
        )
    )


@router.post(
    "/v1/webhook_endpoints",
    response_model=WebhookEndpoint,
    status_code=201,
    summary="Create a webhook endpoint (its secret is shown only here)",
    openapi_extra=json_request(webhooks.WebhookEndpointCreate),
    responses=error_responses(400, 403, 413, 415, 422),
)
async def create_webhook_endpoint(request: Request, access: WebhookEndpointsWrite) -> Response:
    params = await parse_json(request, webhooks.WebhookEndpointCreate)
    endpoint = await webhooks.create_endpoint(
        access.conn, principal=access.principal, params=params
    )
    return await access.respond(endpoint, status_code=201)


@router.get(
    "/v1/webhook_endpoints",
    response_model=ListObject[WebhookEndpoint],
    summary="List webhook endpoints",
    responses=error_responses(400, 403, 422),
)
async def list_webhook_endpoints(
    access: WebhookEndpointsRead, page: Annotated[ListParams, Depends(list_params)]
) -> Response:
    found = await webhooks.list_endpoints(access.conn, principal=access.principal, params=page)
    version = access.principal.api_version
    return json_response(
        found.envelope(
            lambda row: webhooks.render(row, default_version=version), url="/v1/webhook_endpoints"
        )
    )


@router.get(
    "/v1/webhook_endpoints/{endpoint_id}",
    response_model=WebhookEndpoint,
    summary="Retrieve a webhook endpoint",
    responses=error_responses(403, 404),
)
async def retrieve_webhook_endpoint(
    endpoint_id: Annotated[str, Path()], access: WebhookEndpointsRead
) -> Response:
    endpoint = await webhooks.get_endpoint(
        access.conn, principal=access.principal, endpoint_id=endpoint_id
    )
    return json_response(endpoint)


@router.post(
    "/v1/webhook_endpoints/{endpoint_id}",
    response_model=WebhookEndpoint,
    summary="Update a webhook endpoint",
    openapi_extra=json_request(webhooks.WebhookEndpointUpdate),
    responses=error_responses(400, 403, 404, 413, 415, 422),
)
async def update_webhook_endpoint(
    request: Request, endpoint_id: Annotated[str, Path()], access: WebhookEndpointsWrite
) -> Response:
    params = await parse_json(request, webhooks.WebhookEndpointUpdate)
    endpoint = await webhooks.update_endpoint(
        access.conn, principal=access.principal, endpoint_id=endpoint_id, params=params
    )
    return await access.respond(endpoint)


@router.delete(
    "/v1/webhook_endpoints/{endpoint_id}",
    response_model=DeletedWebhookEndpoint,
    summary="Delete a webhook endpoint",
    responses=error_responses(403, 404),
)
async def delete_webhook_endpoint(
    endpoint_id: Annotated[str, Path()], access: WebhookEndpointsWrite
) -> Response:
    deleted = await webhooks.delete_endpoint(
        access.conn, principal=access.principal, endpoint_id=endpoint_id
    )
    return json_response(deleted)


@router.get(
    "/v1/webhook_endpoints/{endpoint_id}/deliveries",
    response_model=ListObject[WebhookDelivery],
    summary="An endpoint's deliveries and their attempts",
    responses=error_responses(400, 403, 404, 422),
)
async def list_webhook_deliveries(
    endpoint_id: Annotated[str, Path()],
    access: WebhookEndpointsRead,
    page: Annotated[ListParams, Depends(list_params)],
) -> Response:
    found = await webhooks.list_deliveries(
        access.conn, principal=access.principal, endpoint_id=endpoint_id, params=page
    )
    url = f"/v1/webhook_endpoints/{endpoint_id}/deliveries"
    return json_response(found.envelope(webhooks.render_delivery, url=url))
