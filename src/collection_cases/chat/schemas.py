"""Chat message shapes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StrictStr

from collection_cases.validation import StrictModel, safe_text

Message = Annotated[StrictStr, Field(min_length=1, max_length=10_000), AfterValidator(safe_text)]


class ChatMessageCreate(StrictModel):
    """Body of POST /v1/collection_cases/:id/chat."""

    message: Message
    attachments: list[Annotated[StrictStr, Field(max_length=40)]] = Field(
        default=[], max_length=20, description="Ids of this case's files (file_...)"
    )


class PartnerMessageParams(ChatMessageCreate):
    """Body of the send_partner_message test helper."""


class ChatMessage(BaseModel):
    id: str = Field(examples=["msg_5f0c2d7a10b1e3c4d5e6f708"])
    object: Literal["chat_message"]
    case: str
    sender: Literal["creditor", "partner"]
    message: str
    attachments: list[str]
    read: bool
    created: int
