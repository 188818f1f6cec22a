"""Response shapes of the case_file resource (bodies are rendered directly)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

DocumentType = Literal[
    "original_invoice", "debtor_documents", "creditor_documents", "demand_letter", "miscellaneous"
]


class CaseFile(BaseModel):
    """The case_file object."""

    id: str = Field(examples=["file_5f0c2d7a10b1e3c4d5e6f708"])
    object: Literal["case_file"]
    case: str = Field(description="The collection case's id (dc_...)")
    document_type: DocumentType
    description: str | None
    filename: str = Field(description="The uploaded file's name, sanitised; display only")
    size: int = Field(description="Bytes")
    type: Literal["pdf", "jpeg", "png", "doc", "docx", "xls", "xlsx", "csv", "txt", "eml", "zip"]
    sha256: str = Field(description="Hex SHA-256 of the stored bytes")
    created: int
    url: str = Field(description="Where to download the bytes: /v1/case_files/:id/contents")


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
                            "description": "PDF, JPEG, PNG, DOC(X), XLS(X), CSV, TXT, EML or "
                            "ZIP; 25 MiB at most by default. The type is read from the bytes.",
                        },
                        "document_type": {
                            "type": "string",
                            "enum": list(DocumentType.__args__),  # type: ignore[attr-defined]
                        },
                        "description": {"type": "string", "maxLength": 500},
                    },
                }
            }
        },
    }
}
