"""HTTP routes of case files: upload, list, retrieve, download."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response, StreamingResponse

from collection_cases import db, metrics
from collection_cases.accounts.dependencies import CaseFilesRead, CaseFilesUpload
from collection_cases.body import json_response
from collection_cases.files import service as files
from collection_cases.files.schemas import UPLOAD_REQUEST, CaseFile, DocumentType
from collection_cases.files.storage import FileStore
from collection_cases.files.upload import receive_upload
from collection_cases.idempotency import service as idempotency
from collection_cases.idempotency.service import Idempotency
from collection_cases.openapi_docs import (
    CASE_ID,
    FILE_ID,
    breaks_rule,
    error_responses,
    example,
    missing,
    state_invalid,
)
from collection_cases.pagination import ListObject, ListParams, list_params

router = APIRouter(tags=["Case Files"])
CaseId = Annotated[str, Path(description="The case's id (`dc_...`).", examples=[CASE_ID])]
FileId = Annotated[str, Path(description="The file's id (`file_...`).", examples=[FILE_ID])]


@router.post(
    "/v1/collection_cases/{case_id}/files",
    status_code=201,
    response_model=CaseFile,
    operation_id="upload_case_file",
    summary="Upload a file to a case",
    openapi_extra=UPLOAD_REQUEST,
    responses=error_responses(
        400,
        403,
        404,
        413,
        415,
        examples={
            400: [
                missing("document_type"),
                example(
                    "parameter_invalid",
                    "Invalid document_type: must be one of original_invoice, debtor_documents, "
                    "creditor_documents, demand_letter, miscellaneous.",
                    "document_type",
                ),
                state_invalid("Files cannot be added to a closed case (status: closed).", "case"),
            ]
        },
    ),
)
async def upload_case_file(request: Request, case_id: CaseId, gate: CaseFilesUpload) -> Response:
    """Attach evidence to a case as `multipart/form-data`: the invoice, the contract, letters
    sent, anything the partner needs to collect. Send `file`, a `document_type` and an
    optional `description`.

    The type is read from the file's bytes (PDF, JPEG, PNG, DOC(X), XLS(X), CSV, TXT, EML or
    ZIP), never from its name: anything else is 415 `file_type_invalid`. Files over the limit
    (25 MiB by default) are 413, and nothing is kept. On a `needs_details` case a file sends it
    back to verification. Writes `case_file.uploaded`; a closed case takes no files (400
    `state_invalid`).
    """
    store: FileStore = request.app.state.file_store
    key = idempotency.key_from(request)
    # Checked before the body is read, so a wrong case costs no upload. No connection is
    # held while the bytes stream in: a slow client must not hold a pool slot.
    pool = request.app.state.pool
    async with pool.connection() as conn:
        principal = await gate.authorize(conn)
        await files.open_case(conn, principal=principal, case_id=case_id)
    upload = await receive_upload(request, store, request.app.state.settings.max_upload_bytes)
    try:
        async with pool.connection() as conn, conn.transaction():
            idem = None
            if key is not None:
                # What makes two uploads "the same": the fields and the file's bytes (not the
                # multipart boundary, which every client picks anew).
                semantic = "|".join(
                    (upload.document_type, upload.description or "", upload.filename, upload.sha256)
                ).encode()
                idem = Idempotency(key, idempotency.fingerprint(request, semantic))
                await idempotency.begin(conn, principal, idem)  # may raise Replay
            obj = await files.record_file(
                conn,
                principal=principal,
                case_id=case_id,
                upload=upload,
                request_id=request.state.request_id,
            )
            body = orjson.dumps(obj)
            if idem is not None:
                await idempotency.store(conn, principal, idem, 201, body)
    except BaseException:
        # No row, so no bytes: the store write is undone whatever went wrong.
        await store.delete(upload.key)
        raise
    metrics.UPLOADS.inc()
    metrics.UPLOAD_BYTES.inc(upload.size)
    return Response(body, status_code=201, media_type="application/json")


@router.get(
    "/v1/collection_cases/{case_id}/files",
    response_model=ListObject[CaseFile],
    operation_id="list_case_files",
    summary="List a case's files",
    responses=error_responses(
        400,
        403,
        404,
        422,
        examples={
            422: [
                breaks_rule(
                    "document_type",
                    "Input should be 'original_invoice', 'debtor_documents', "
                    "'creditor_documents', 'demand_letter' or 'miscellaneous'",
                )
            ]
        },
    ),
)
async def list_case_files(
    case_id: CaseId,
    access: CaseFilesRead,
    page: Annotated[ListParams, Depends(list_params)],
    document_type: Annotated[
        DocumentType | None, Query(description="Only files of this document type.")
    ] = None,
) -> Response:
    """The files attached to one case, newest first, optionally only one `document_type`.
    Each entry's `url` downloads its bytes. Reads only.
    """
    found = await files.list_files(
        access.conn,
        principal=access.principal,
        case_id=case_id,
        params=page,
        document_type=document_type,
    )
    url = f"/v1/collection_cases/{case_id}/files"
    return json_response(found.envelope(files.render, url=url))


@router.get(
    "/v1/case_files/{file_id}",
    response_model=CaseFile,
    operation_id="retrieve_case_file",
    summary="Retrieve a case file",
    responses=error_responses(403, 404),
)
async def retrieve_case_file(file_id: FileId, access: CaseFilesRead) -> Response:
    """One file's details: its case, document type, name, size, detected type and SHA-256.
    The bytes come from `GET /v1/case_files/:id/contents`.
    """
    row = await files.get_file_row(access.conn, principal=access.principal, file_id=file_id)
    return json_response(files.render(row))


@router.get(
    "/v1/case_files/{file_id}/contents",
    operation_id="download_case_file",
    summary="Download a case file's bytes",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The file's bytes, served with the type detected from them at upload "
            "(one of these; never the client's claim)",
            "content": {
                media_type: {"schema": {"type": "string", "format": "binary"}}
                for media_type in files.SERVED_TYPES
            },
        },
        **error_responses(403, 404),
    },
)
async def download_case_file(request: Request, file_id: FileId, access: CaseFilesRead) -> Response:
    """The file exactly as uploaded, streamed, with the type detected at upload as its
    `Content-Type` and the original name in `Content-Disposition` (an attachment, never shown
    inline). Check it against the object's `sha256`. Reads only.
    """
    row = await files.get_file_row(access.conn, principal=access.principal, file_id=file_id)
    # The connection goes back before the bytes stream: a slow reader must not hold it.
    await db.release(request.scope["state"])
    return files.download(request.app.state.file_store, row)
