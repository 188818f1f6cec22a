"""HTTP routes of a case's chat."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import Response

from collection_cases.accounts.dependencies import CaseChatsRead, CaseChatsWrite
from collection_cases.body import json_request, json_response, parse_json
from collection_cases.chat import service as chat
from collection_cases.chat.schemas import CHAT_EXAMPLE, ChatMessage, ChatMessageCreate
from collection_cases.openapi_docs import (
    CASE_ID,
    breaks_rule,
    error_responses,
    example,
    missing,
    state_invalid,
)
from collection_cases.pagination import ListObject, ListParams, list_params

router = APIRouter(prefix="/v1/collection_cases", tags=["Chat"])
CaseId = Annotated[str, Path(description="The case's id (`dc_...`).", examples=[CASE_ID])]


@router.post(
    "/{case_id}/chat",
    response_model=ChatMessage,
    status_code=201,
    operation_id="send_chat_message",
    summary="Send a message to the case's partner",
    openapi_extra=json_request(ChatMessageCreate, example=CHAT_EXAMPLE),
    responses=error_responses(
        400,
        403,
        404,
        413,
        415,
        422,
        examples={
            400: [
                missing("message"),
                example(
                    "resource_not_found",
                    "No such case_file on this case: 'file_5f0c2d7a10b1e3c4d5e6f708'",
                    "attachments",
                ),
                state_invalid("Cannot message a collection_case whose status is 'closed'.", None),
            ],
            422: [breaks_rule("message", "String should have at least 1 character")],
        },
    ),
)
async def send_chat_message(request: Request, case_id: CaseId, access: CaseChatsWrite) -> Response:
    """Write to the partner working the case: answer a question, explain a dispute, point at
    evidence. `attachments` names files already uploaded to this case. The message is stored
    with `sender: creditor` (201); closed cases take no messages (400 `state_invalid`).
    """
    params = await parse_json(request, ChatMessageCreate)
    message = await chat.send_message(
        access.conn,
        principal=access.principal,
        case_id=case_id,
        sender="creditor",
        message=params.message,
        attachments=params.attachments,
        request_id=request.state.request_id,
    )
    return await access.respond(message, status_code=201)


@router.get(
    "/{case_id}/chat",
    response_model=ListObject[ChatMessage],
    operation_id="list_chat_messages",
    summary="List the case's messages (marks the partner's as read)",
    responses=error_responses(400, 403, 404, 422),
)
async def list_chat_messages(
    case_id: CaseId,
    access: CaseChatsRead,
    page: Annotated[ListParams, Depends(list_params)],
) -> Response:
    """The conversation with the partner, newest first, both sides. Listing with a key that
    may write to the chat (`case_chats:write`) marks the partner's messages `read`; a
    read-only key looks without changing anything.
    """
    found = await chat.list_messages(
        access.conn,
        principal=access.principal,
        case_id=case_id,
        params=page,
        # Only a key that may write to the chat marks the partner's messages read: dashboards
        # (case_chats:read) look without changing anything.
        mark_read=access.principal.allows("case_chats", "write"),
    )
    url = f"{router.prefix}/{case_id}/chat"
    return json_response(found.envelope(chat.render, url=url))
