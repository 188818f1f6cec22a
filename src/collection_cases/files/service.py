"""Case files: the rows that describe stored bytes, written only once the bytes are safe."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.responses import StreamingResponse

from collection_cases import db, ids
from collection_cases.accounts.service import Principal
from collection_cases.cases import lifecycle
from collection_cases.errors import StateInvalid, not_found
from collection_cases.events import service as events
from collection_cases.files.storage import FileStore
from collection_cases.files.upload import Upload
from collection_cases.pagination import Listing, ListParams, Page, id_parser, paginate

COLUMNS = (
    "id, case_id, document_type, description, filename, size, content_type, sha256, "
    "storage_key, created_at"
)
SELECT = f"SELECT {COLUMNS} FROM case_files"
_BY_ID = SELECT + " WHERE id = %(id)s AND {scope}"
_CASE_STATUS = "SELECT id, status FROM collection_cases WHERE id = %(id)s AND {scope}"
LISTING = Listing(source="case_files", columns=COLUMNS, kind="case_file", parse=id_parser("file"))
# Locks the case against a concurrent close while the file row goes in. FOR UPDATE, not SHARE:
# re-verification may update the case in the same transaction, and two uploads holding SHARE
# locks would then deadlock upgrading them.
_CASE_FOR_SHARE = _CASE_STATUS + " FOR UPDATE"
_INSERT = f"""
    INSERT INTO case_files (id, account_id, is_test, case_id, document_type, description,
        filename, size, content_type, sha256, storage_key)
    VALUES (%(id)s, %(account_id)s, %(is_test)s, %(case_id)s, %(document_type)s,
        %(description)s, %(filename)s, %(size)s, %(content_type)s, %(sha256)s, %(storage_key)s)
    RETURNING {COLUMNS}
"""
# The media type stored for each detected type (what a download is served as) -> its label.
_LABELS = {
    "application/pdf": "pdf",
    "image/jpeg": "jpeg",
    "image/png": "png",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/zip": "zip",
    "text/csv": "csv",
    "text/plain": "txt",
    "message/rfc822": "eml",
}


SERVED_TYPES = tuple(_LABELS)


def render(m: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": m["id"],
        "object": "case_file",
        "case": ids.encode("dc", m["case_id"]),
        "document_type": m["document_type"],
        "description": m["description"],
        "filename": m["filename"],
        "size": m["size"],
        "type": _LABELS.get(m["content_type"], m["content_type"]),
        "sha256": m["sha256"],
        "created": int(m["created_at"].timestamp()),
        "url": f"/v1/case_files/{m['id']}/contents",
    }


def content_disposition(filename: str) -> str:
    """An attachment under the original name: an ASCII fallback, and the name itself (RFC 6266)."""
    fallback = "".join(ch if ch.isascii() and ch not in '"\\;' else "_" for ch in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def download(store: FileStore, row: db.Row) -> StreamingResponse:
    """A file's bytes as the API and the dashboard serve them: streamed from the store, with the
    type detected at upload (never the client's claim), always an attachment, never sniffed or
    kept by a cache. Hold no connection while it streams: a slow reader must not keep one."""
    return StreamingResponse(
        store.read(row["storage_key"]),
        media_type=row["content_type"],
        headers={
            "Content-Length": str(row["size"]),
            "Content-Disposition": content_disposition(row["filename"]),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


async def open_case(
    conn: db.Connection, *, principal: Principal, case_id: str, lock: bool = False
) -> db.Row:
    """The case a file goes to: it must exist (for this caller) and not be closed."""
    uid = ids.decode("dc", case_id)
    sql = _CASE_FOR_SHARE if lock else _CASE_STATUS
    row = uid and await db.fetch_one(conn, sql, {"id": uid}, scope=principal.scope)
    if not row:
        raise not_found("collection_case", case_id)
    if row["status"] == "closed":
        raise StateInvalid("Files cannot be added to a closed case (status: closed).", param="case")
    return row


async def record_file(
    conn: db.Connection,
    *,
    principal: Principal,
    case_id: str,
    upload: Upload,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The row for bytes already committed to the store, its event, and re-verification."""
    case = await open_case(conn, principal=principal, case_id=case_id, lock=True)
    row = await db.fetch_one(
        conn,
        _INSERT,
        {
            "id": upload.file_id,
            "case_id": case["id"],
            "document_type": upload.document_type,
            "description": upload.description,
            "filename": upload.filename,
            "size": upload.size,
            "content_type": upload.type.mime,
            "sha256": upload.sha256,
            "storage_key": upload.key,
        },
        scope=principal.scope,
    )
    assert row is not None
    obj = render(row)
    await events.record(conn, principal, "case_file.uploaded", obj, request_id=request_id)
    if case["status"] == "needs_details":
        await lifecycle.verify_case(
            conn, principal=principal, case_id=ids.encode("dc", case["id"]), request_id=request_id
        )
    return obj


async def get_file_row(conn: db.Connection, *, principal: Principal, file_id: str) -> db.Row:
    row = None
    if ids.looks_like("file", file_id):
        row = await db.fetch_one(conn, _BY_ID, {"id": file_id}, scope=principal.scope)
    if not row:
        raise not_found("case_file", file_id)
    return row


async def list_files(
    conn: db.Connection,
    *,
    principal: Principal,
    case_id: str,
    params: ListParams,
    document_type: str | None = None,
) -> Page:
    uid = ids.decode("dc", case_id)
    case = uid and await db.fetch_one(conn, _CASE_STATUS, {"id": uid}, scope=principal.scope)
    if not case:
        raise not_found("collection_case", case_id)
    return await paginate(
        conn,
        LISTING,
        params,
        scope=principal.scope,
        parent=["case_id = %(case_id)s"],
        where=["document_type = %(document_type)s"] if document_type is not None else [],
        args={"case_id": uid, "document_type": document_type},
    )
