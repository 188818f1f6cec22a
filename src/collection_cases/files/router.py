"""HTTP routes of case files: upload, list, retrieve, download."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response, StreamingResponse

from collection_cases.accounts.dependencies import ReadAccess, authorize
from collection_cases.body import json_response, list_envelope
from collection_cases.db import connection
from collection_cases.files import service as files
from collection_cases.files import sniff
from collection_cases.files.schemas import UPLOAD_REQUEST, CaseFile, CaseFileList, DocumentType
from collection_cases.files.storage import FileStore
from collection_cases.files.upload import receive_upload
from collection_cases.idempotency import service as idempotency
from collection_cases.idempotency.service import Idempotency
from collection_cases.openapi_docs import error_responses
from collection_cases.pagination import ListParams, list_params

router = APIRouter(tags=["Case Files"])


@router.post(
    "/v1/collection_cases/{case_id}/files",
    status_code=201,
    response_model=CaseFile,
    summary="Upload a file to a case",
    openapi_extra=UPLOAD_REQUEST,
    responses=error_responses(400, 403, 404, 413, 415),
)
async def upload_case_file(
    request: Request, case_id: Annotated[str, Path(description="dc_...")]
) -> Response:
    store: FileStore = request.app.state.file_store
    key = idempotency.key_from(request)
    # Checked before the body is read, so a wrong case costs no upload. No connection is
    # held while the bytes stream in: a slow client must not hold a pool slot.
    async with connection(request) as conn:
        principal = await authorize(request, conn, write=True)
        await files.open_case(conn, principal=principal, case_id=case_id)
    upload = await receive_upload(request, store, request.app.state.settings.max_upload_bytes)
    try:
        async with connection(request) as conn, conn.transaction():
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
    return Response(body, status_code=201, media_type="application/json")


@router.get(
    "/v1/collection_cases/{case_id}/files",
    response_model=CaseFileList,
    summary="List a case's files",
    responses=error_responses(400, 403, 404, 422),
)
async def list_case_files(
    case_id: Annotated[str, Path(description="dc_...")],
    access: ReadAccess,
    page: Annotated[ListParams, Depends(list_params)],
    document_type: Annotated[DocumentType | None, Query()] = None,
) -> Response:
    rows, has_more = await files.list_files(
        access.conn,
        principal=access.principal,
        case_id=case_id,
        params=page,
        document_type=document_type,
    )
    url = f"/v1/collection_cases/{case_id}/files"
    return json_response(list_envelope([files.render(r) for r in rows], has_more=has_more, url=url))


@router.get(
    "/v1/case_files/{file_id}",
    response_model=CaseFile,
    summary="Retrieve a case file",
    responses=error_responses(403, 404),
)
async def retrieve_case_file(
    file_id: Annotated[str, Path(description="file_...")], access: ReadAccess
) -> Response:
    row = await files.get_file_row(access.conn, principal=access.principal, file_id=file_id)
    return json_response(files.render(row))


def _content_disposition(filename: str) -> str:
    fallback = "".join(ch if ch.isascii() and ch not in '"\\;' else "_" for ch in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.get(
    "/v1/case_files/{file_id}/contents",
    summary="Download a case file's bytes",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The file's bytes, with the detected Content-Type",
            # Served as the type detected at upload: one of the accepted ones.
            "content": {
                kind.mime: {"schema": {"type": "string", "format": "binary"}}
                for kind in sniff.ALL_TYPES
            },
        },
        **error_responses(403, 404),
    },
)
async def download_case_file(
    request: Request, file_id: Annotated[str, Path(description="file_...")], access: ReadAccess
) -> Response:
    row = await files.get_file_row(access.conn, principal=access.principal, file_id=file_id)
    store: FileStore = request.app.state.file_store
    return StreamingResponse(
        store.read(row["storage_key"]),
        media_type=row["content_type"],
        headers={
            "Content-Length": str(row["size"]),
            "Content-Disposition": _content_disposition(row["filename"]),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )
