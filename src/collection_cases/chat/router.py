"""HTTP routes of a case's chat."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import Response

from collection_cases.accounts.dependencies import CaseChatsRead, CaseChatsWrite
from collection_cases.body import json_request, json_response, parse_json
from collection_cases.chat import service as chat
from collection_cases.chat.schemas import ChatMessage, ChatMessageCreate
from collection_cases.openapi_docs import error_responses
from collection_cases.pagination import ListObject, ListParams, list_params

router = APIRouter(prefix="/v1/collection_cases", tags=["Chat"])


@router.post(
    "/{case_id}/chat",
    response_model=ChatMessage,
    status_code=201,
    summary="Send a message to the case's partner",
    openapi_extra=json_request(ChatMessageCreate),
    responses=error_responses(400, 403, 404, 413, 415, 422),
)
async def send_chat_message(
    request: Request, case_id: Annotated[str, Path()], access: CaseChatsWrite
) -> Response:
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
    summary="List the case's messages (marks the partner's as read)",
    responses=error_responses(400, 403, 404, 422),
)
async def list_chat_messages(
    case_id: Annotated[str, Path()],
    access: CaseChatsRead,
    page: Annotated[ListParams, Depends(list_params)],
) -> Response:
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
