"""Chat message shapes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StrictStr

from collection_cases.validation import StrictModel, safe_text

Message = Annotated[StrictStr, Field(min_length=1, max_length=10_000), AfterValidator(safe_text)]


class ChatMessageCreate(StrictModel):
    """Body of POST /v1/collection_cases/:id/chat."""

    message: Message = Field(
        description="The text of the message, 1 to 10,000 characters.",
        examples=["Please find attached the original lease agreement for reference."],
    )
    attachments: list[Annotated[StrictStr, Field(max_length=40)]] = Field(
        default=[],
        max_length=20,
        description="Ids of files already uploaded to this case (`file_...`), up to 20.",
        examples=[["file_5f0c2d7a10b1e3c4d5e6f708"]],
    )


class PartnerMessageParams(ChatMessageCreate):
    """Body of the send_partner_message test helper."""


# The case-chats page's send example, and its sample message as the partner's.
CHAT_EXAMPLE = {"message": "Please find attached the original lease agreement for reference."}
PARTNER_MESSAGE_EXAMPLE = {
    "message": "We've made contact with the debtor. They have acknowledged the debt and are "
    "willing to discuss a payment plan. We'll follow up next week."
}


class ChatMessage(BaseModel):
    """The chat_message object: one message between you and the case's partner."""

    id: str = Field(
        description="Unique identifier: `msg_` and 24 hex digits.",
        examples=["msg_5f0c2d7a10b1e3c4d5e6f708"],
    )
    object: Literal["chat_message"] = Field(description='Always "chat_message".')
    case: str = Field(
        description="The id of the collection case (`dc_...`).",
        examples=["dc_019abf2e6a3b7c1d8e9f00112233aabb"],
    )
    sender: Literal["creditor", "partner"] = Field(
        description="Who wrote it: `creditor` (you) or `partner`.", examples=["partner"]
    )
    message: str = Field(
        description="The text of the message.",
        examples=[PARTNER_MESSAGE_EXAMPLE["message"]],
    )
    attachments: list[str] = Field(
        description="Ids of the case's files attached to the message.", examples=[[]]
    )
    read: bool = Field(
        description="Whether the recipient has read it: a partner's message counts as read "
        "once a key that may write to the chat has listed it.",
        examples=[False],
    )
    created: int = Field(
        description="When the message was sent (Unix time, seconds).", examples=[1706832000]
    )
