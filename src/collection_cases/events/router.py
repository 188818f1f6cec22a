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
from collection_cases.openapi_docs import (
    ENDPOINT_ID,
    EVENT_ID,
    breaks_rule,
    error_responses,
    example,
    missing,
    unknown,
)
from collection_cases.pagination import ListObject, ListParams, list_params

router = APIRouter(tags=["Events and webhooks"])


class EventRequest(BaseModel):
    """The API request that caused the event."""

    id: str | None = Field(
        description="The request's `Request-Id` (null when the partner's side made the change).",
        examples=["req_5f0c2d7a10b1e3c4d5e6f708"],
    )
    idempotency_key: str | None = Field(
        description="The `Idempotency-Key` that request carried, if any.", examples=[None]
    )


class EventData(BaseModel):
    """What the event is about."""

    object: dict[str, Any] = Field(
        description="The object as it was right after the change (a collection_case, "
        "debt_payment, chat_message or case_file), rendered like the API returns it.",
        examples=[
            {
                "id": "dc_019abf2e6a3b7c1d8e9f00112233aabb",
                "object": "collection_case",
                "reference": "Q8OAXF3W",
                "status": "active",
                "amount_to_recover": 360000,
                "remainder": 240000,
                "currency": "eur",
            }
        ],
    )
    previous_attributes: dict[str, Any] | None = Field(
        description="For `*.updated` and status events: the changed attributes' values before "
        "the change (null otherwise).",
        examples=[{"remainder": 360000}],
    )


class Event(BaseModel):
    """The event object, as the current API version renders it."""

    id: str = Field(description="Unique identifier: `evt_` and 32 hex digits.", examples=[EVENT_ID])
    object: Literal["event"] = Field(description='Always "event".')
    type: str = Field(
        description="What happened, `<object>.<change>`: `collection_case.created`, "
        "`.updated`, `.needs_details`, `.active`, `.paused`, `.closed`, "
        "`debt_payment.created`, `case_chat.created`, `case_file.uploaded`.",
        examples=["collection_case.updated"],
    )
    api_version: str = Field(
        description="The API version this event is rendered in.", examples=["2025-01-15"]
    )
    created: int = Field(
        description="When it happened (Unix time, seconds).", examples=[1707436800]
    )
    data: EventData = Field(description="The object concerned, and what changed.")
    is_test: bool = Field(
        description="true for events of test-mode objects (the opposite of `livemode`).",
        examples=[True],
    )
    livemode: bool = Field(
        description="false for events of test-mode objects, true for live ones.",
        examples=[False],
    )
    pending_webhooks: int = Field(
        description="How many enabled webhook endpoints have yet to acknowledge it.",
        examples=[1],
    )
    request: EventRequest = Field(description="The API request that caused it.")


class WebhookEndpoint(BaseModel):
    """The webhook_endpoint object: a URL that receives your events."""

    id: str = Field(
        description="Unique identifier: `we_` and 24 hex digits.", examples=[ENDPOINT_ID]
    )
    object: Literal["webhook_endpoint"] = Field(description='Always "webhook_endpoint".')
    url: str = Field(
        description="Where events are POSTed; live mode needs HTTPS to a public address.",
        examples=["https://your-app.com/webhooks/casapay"],
    )
    enabled_events: list[str] = Field(
        description="The event types sent there: types, families (`collection_case.*`) or "
        '`["*"]` for all.',
        examples=[["collection_case.*", "debt_payment.created"]],
    )
    status: Literal["enabled", "disabled"] = Field(
        description="`enabled` endpoints receive events; `disabled` ones are skipped.",
        examples=["enabled"],
    )
    api_version: str = Field(
        description="The API version events are rendered in for this endpoint (the "
        "account's default unless set).",
        examples=["2025-01-15"],
    )
    description: str | None = Field(
        description="Your note about the endpoint.", examples=["Production payment events"]
    )
    metadata: dict[str, str] = Field(description="Your key-value pairs.", examples=[{}])
    created: int = Field(
        description="When the endpoint was created (Unix time, seconds).", examples=[1706140800]
    )
    secret: str | None = Field(
        default=None,
        description="The signing secret (`whsec_...`) that signs `X-CasaPay-Signature`: "
        "returned only by create, store it then.",
        examples=["whsec_3q2-7wEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"],
    )


class DeletedWebhookEndpoint(BaseModel):
    """What delete answers."""

    id: str = Field(description="The deleted endpoint's id.", examples=[ENDPOINT_ID])
    object: Literal["webhook_endpoint"] = Field(description='Always "webhook_endpoint".')
    deleted: bool = Field(description="Always true.", examples=[True])


class WebhookAttempt(BaseModel):
    """One try at delivering an event."""

    at: int | None = Field(description="When it was made (Unix time).", examples=[1707436801])
    attempt: int | None = Field(description="Its number, from 1.", examples=[1])
    outcome: Outcome = Field(
        description="`delivered` (2xx), `http_error` (another status), `no_response` (no "
        "answer: name, connection, TLS or timeout), `blocked_destination` (an address the "
        "server may not reach), `endpoint_disabled`, `internal_error` (ours).",
        examples=["delivered"],
    )
    status_code: int | None = Field(
        description="The receiver's HTTP status, when it answered.", examples=[200]
    )
    duration_ms: int | None = Field(
        description="Milliseconds until the receiver's answer, when it answered.",
        examples=[84],
    )


class WebhookDelivery(BaseModel):
    """The webhook_delivery object: one event on its way to one endpoint."""

    id: str = Field(
        description="Unique identifier: `whd_` and 32 hex digits.",
        examples=["whd_3f1c9a0b2d4e4f6a8b0c1d2e3f405162"],
    )
    object: Literal["webhook_delivery"] = Field(description='Always "webhook_delivery".')
    event: str = Field(description="The event's id (`evt_...`).", examples=[EVENT_ID])
    webhook_endpoint: str = Field(
        description="The endpoint's id (`we_...`).", examples=[ENDPOINT_ID]
    )
    status: Literal["pending", "delivered", "failed"] = Field(
        description="`pending` (being tried, with backoff, for about three days), `delivered` "
        "(a 2xx came back) or `failed` (given up).",
        examples=["delivered"],
    )
    attempts: int = Field(description="How many tries were made.", examples=[1])
    attempt_log: list[WebhookAttempt] = Field(description="The tries, oldest first.")
    next_attempt: int | None = Field(
        description="When the next try is due (Unix time; null unless pending).", examples=[None]
    )
    delivered: int | None = Field(
        description="When it was acknowledged (Unix time; null until then).",
        examples=[1707436801],
    )
    created: int = Field(
        description="When the delivery was queued (with its event).", examples=[1707436800]
    )


# The webhook-endpoints page's create example, and a realistic update of it.
CREATE_ENDPOINT_EXAMPLE: dict[str, Any] = {
    "url": "https://your-app.com/webhooks/casapay",
    "enabled_events": [
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "invoice.paid",
    ],
    "description": "Production payment events",
}
UPDATE_ENDPOINT_EXAMPLE: dict[str, Any] = {
    "enabled_events": [
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "invoice.paid",
        "verification_session.completed",
    ],
    "description": "Production webhook endpoint",
}
EndpointId = Annotated[
    str, Path(description="The endpoint's id (`we_...`).", examples=[ENDPOINT_ID])
]
UNKNOWN_TYPE = breaks_rule(
    "enabled_events", "unknown event type 'collection_case.create'", name="unknown_type"
)


@router.get(
    "/v1/events",
    response_model=ListObject[Event],
    operation_id="list_events",
    summary="List events",
    responses=error_responses(
        400,
        403,
        422,
        examples={
            400: [
                example(
                    "parameter_invalid",
                    "Give either type or types[], not both.",
                    "types",
                    name="type_and_types",
                )
            ],
            422: [
                example(
                    "parameter_invalid",
                    "Unknown event type: 'collection_case.create'.",
                    "type",
                    name="unknown_type",
                )
            ],
        },
    ),
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
    """What happened on your account in this key's mode, newest first: every change to a
    case, payment, message or file is an event, written in the same transaction as the
    change. Filter by `type` or several `types[]` (a family like `collection_case.*` works),
    the `created[...]` range, and `delivery_success`. Use it to catch up on what a webhook
    receiver missed. Reads only.
    """
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
    operation_id="retrieve_event",
    summary="Retrieve an event",
    responses=error_responses(403, 404),
)
async def retrieve_event(
    request: Request,
    event_id: Annotated[str, Path(description="The event's id (`evt_...`).", examples=[EVENT_ID])],
    access: EventsRead,
) -> Response:
    """One event, rendered in the request's API version: the object as it was right after
    the change and, for updates, its previous attributes. Use it to check a webhook you
    received against the server.
    """
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
    operation_id="create_webhook_endpoint",
    summary="Create a webhook endpoint (its secret is shown only here)",
    openapi_extra=json_request(webhooks.WebhookEndpointCreate, example=CREATE_ENDPOINT_EXAMPLE),
    responses=error_responses(
        400,
        403,
        413,
        415,
        422,
        examples={
            400: [missing("enabled_events")],
            422: [
                example(
                    "parameter_invalid",
                    "url must use https (test mode also accepts http://localhost and 127.0.0.1).",
                    "url",
                    name="url",
                ),
                UNKNOWN_TYPE,
            ],
        },
    ),
)
async def create_webhook_endpoint(request: Request, access: WebhookEndpointsWrite) -> Response:
    """Have events POSTed to a URL of yours as they happen, each signed with the endpoint's
    secret in `X-CasaPay-Signature` (`t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`).
    Subscribe to types, families (`collection_case.*`) or `["*"]`; other products' types are
    accepted and never fire here. Live mode needs HTTPS to a public address; test mode also
    takes `http://localhost`.

    The answer (201) is the only one that shows `secret`: store it. Deliveries are retried
    with backoff for about three days until a 2xx comes back.
    """
    params = await parse_json(request, webhooks.WebhookEndpointCreate)
    endpoint = await webhooks.create_endpoint(
        access.conn, principal=access.principal, params=params
    )
    return await access.respond(endpoint, status_code=201)


@router.get(
    "/v1/webhook_endpoints",
    response_model=ListObject[WebhookEndpoint],
    operation_id="list_webhook_endpoints",
    summary="List webhook endpoints",
    responses=error_responses(400, 403, 422),
)
async def list_webhook_endpoints(
    access: WebhookEndpointsRead, page: Annotated[ListParams, Depends(list_params)]
) -> Response:
    """Your endpoints in this key's mode, newest first (without their secrets)."""
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
    operation_id="retrieve_webhook_endpoint",
    summary="Retrieve a webhook endpoint",
    responses=error_responses(403, 404),
)
async def retrieve_webhook_endpoint(
    endpoint_id: EndpointId, access: WebhookEndpointsRead
) -> Response:
    """One endpoint: URL, subscribed types, status and version (the secret is never shown
    again after create).
    """
    endpoint = await webhooks.get_endpoint(
        access.conn, principal=access.principal, endpoint_id=endpoint_id
    )
    return json_response(endpoint)


@router.post(
    "/v1/webhook_endpoints/{endpoint_id}",
    response_model=WebhookEndpoint,
    operation_id="update_webhook_endpoint",
    summary="Update a webhook endpoint",
    openapi_extra=json_request(webhooks.WebhookEndpointUpdate, example=UPDATE_ENDPOINT_EXAMPLE),
    responses=error_responses(
        400,
        403,
        404,
        413,
        415,
        422,
        examples={
            400: [unknown("secret")],
            422: [breaks_rule("status", "Input should be 'enabled' or 'disabled'"), UNKNOWN_TYPE],
        },
    ),
)
async def update_webhook_endpoint(
    request: Request, endpoint_id: EndpointId, access: WebhookEndpointsWrite
) -> Response:
    """Change an endpoint's URL, subscribed types, description, version or metadata, or
    set `status` to `disabled` to pause deliveries (and `enabled` to resume them). Only the
    fields sent change; metadata merges (`""` removes a key). The secret stays the same.
    """
    params = await parse_json(request, webhooks.WebhookEndpointUpdate)
    endpoint = await webhooks.update_endpoint(
        access.conn, principal=access.principal, endpoint_id=endpoint_id, params=params
    )
    return await access.respond(endpoint)


@router.delete(
    "/v1/webhook_endpoints/{endpoint_id}",
    response_model=DeletedWebhookEndpoint,
    operation_id="delete_webhook_endpoint",
    summary="Delete a webhook endpoint",
    responses=error_responses(403, 404),
)
async def delete_webhook_endpoint(
    endpoint_id: EndpointId, access: WebhookEndpointsWrite
) -> Response:
    """Stop sending events to this endpoint, for good: deliveries still pending are dropped.
    To stop for a while, update its `status` to `disabled` instead.
    """
    deleted = await webhooks.delete_endpoint(
        access.conn, principal=access.principal, endpoint_id=endpoint_id
    )
    return json_response(deleted)


@router.get(
    "/v1/webhook_endpoints/{endpoint_id}/deliveries",
    response_model=ListObject[WebhookDelivery],
    operation_id="list_webhook_deliveries",
    summary="An endpoint's deliveries and their attempts",
    responses=error_responses(400, 403, 404, 422),
)
async def list_webhook_deliveries(
    endpoint_id: EndpointId,
    access: WebhookEndpointsRead,
    page: Annotated[ListParams, Depends(list_params)],
) -> Response:
    """What was sent to one endpoint, newest first: each event's delivery status and every
    attempt's outcome and status code. Use it to debug a receiver. Reads only.
    """
    found = await webhooks.list_deliveries(
        access.conn, principal=access.principal, endpoint_id=endpoint_id, params=page
    )
    url = f"/v1/webhook_endpoints/{endpoint_id}/deliveries"
    return json_response(found.envelope(webhooks.render_delivery, url=url))
