"""Response shapes of the case_file resource (bodies are rendered directly)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

DocumentType = Literal[
    "original_invoice", "debtor_documents", "creditor_documents", "demand_letter", "miscellaneous"
]


class CaseFile(BaseModel):
    """The case_file object: a document attached to a collection case."""

    id: str = Field(
        description="Unique identifier: `file_` and 24 hex digits.",
        examples=["file_5f0c2d7a10b1e3c4d5e6f708"],
    )
    object: Literal["case_file"] = Field(description='Always "case_file".')
    case: str = Field(
        description="The id of the collection case it belongs to (`dc_...`).",
        examples=["dc_019abf2e6a3b7c1d8e9f00112233aabb"],
    )
    document_type: DocumentType = Field(
        description="What the document is, as given at upload.", examples=["original_invoice"]
    )
    description: str | None = Field(
        description="Your note about the file (null when none was given).",
        examples=["Original unpaid invoice"],
    )
    filename: str = Field(
        description="The uploaded file's name, for display only (never used as a path).",
        examples=["invoice.pdf"],
    )
    size: int = Field(description="Size in bytes.", examples=[641])
    type: Literal[
        "pdf", "jpeg", "png", "doc", "docx", "xls", "xlsx", "csv", "txt", "eml", "zip"
    ] = Field(
        description="The file type detected from its bytes at upload (not its name).",
        examples=["pdf"],
    )
    sha256: str = Field(
        description="Hex SHA-256 of the stored bytes, to check a download against.",
        examples=["3b4c1f0e9a8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a29181706f5e4d3c2b1a090"],
    )
    created: int = Field(
        description="When the file was uploaded (Unix time, seconds).", examples=[1706140800]
    )
    url: str = Field(
        description="Where to download the bytes (same key): /v1/case_files/:id/contents.",
        examples=["/v1/case_files/file_5f0c2d7a10b1e3c4d5e6f708/contents"],
    )


UPLOAD_REQUEST = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "document_type"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "The file: PDF, JPEG, PNG, DOC(X), XLS(X), CSV, TXT, "
                            "EML or ZIP; 25 MiB at most by default. The type is read from the "
                            "bytes.",
                        },
                        "document_type": {
                            "type": "string",
                            "enum": list(DocumentType.__args__),  # type: ignore[attr-defined]
                            "description": "What the document is.",
                            "example": "original_invoice",
                        },
                        "description": {
                            "type": "string",
                            "maxLength": 500,
                            "description": "A note about the file for the partner (up to 500 "
                            "characters).",
                            "example": "Original unpaid invoice",
                        },
                    },
                },
            }
        },
    }
}
