"""Case files: the rows that describe stored bytes, written only once the bytes are safe."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection as PgConnection

from collection_cases import ids
from collection_cases.accounts.service import Principal
from collection_cases.cases import lifecycle
from collection_cases.db import SCOPE, fetch_one
from collection_cases.errors import StateInvalid, not_found
from collection_cases.events import service as events
from collection_cases.files.upload import Upload
from collection_cases.pagination import (
    ListParams,
    created_conditions,
    cursor_bounds,
    fetch_page,
    id_parser,
)

COLUMNS = (
    "id, case_id, document_type, description, filename, size, content_type, sha256, "
    "storage_key, created_at"
)
SELECT = f"SELECT {COLUMNS} FROM case_files"
_BY_ID = f"{SELECT} WHERE id = %(id)s AND {SCOPE}"
_CASE_STATUS = f"SELECT id, status FROM collection_cases WHERE id = %(id)s AND {SCOPE}"
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


async def open_case(conn: PgConnection, *, principal: Principal, case_id: str, lock: bool = False):  # type: ignore[no-untyped-def]
    """The case a file goes to: it must exist (for this caller) and not be closed."""
    uid = ids.decode("dc", case_id)
    sql = _CASE_FOR_SHARE if lock else _CASE_STATUS
    row = uid and await fetch_one(conn, sql, {"id": uid, **principal.scope})
    if not row:
        raise not_found("collection_case", case_id)
    if row["status"] == "closed":
        raise StateInvalid("Files cannot be added to a closed case (status: closed).", param="case")
    return row


async def record_file(
    conn: PgConnection,
    *,
    principal: Principal,
    case_id: str,
    upload: Upload,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The row for bytes already committed to the store, its event, and re-verification."""
    case = await open_case(conn, principal=principal, case_id=case_id, lock=True)
    row = await fetch_one(
        conn,
        _INSERT,
        {
            "id": upload.file_id,
            **principal.scope,
            "case_id": case["id"],
            "document_type": upload.document_type,
            "description": upload.description,
            "filename": upload.filename,
            "size": upload.size,
            "content_type": upload.type.mime,
            "sha256": upload.sha256,
            "storage_key": upload.key,
        },
    )
    assert row is not None
    obj = render(row)
    await events.record(conn, principal, "case_file.uploaded", obj, request_id=request_id)
    if case["status"] == "needs_details":
        await lifecycle.verify_case(
            conn, principal=principal, case_id=ids.encode("dc", case["id"]), request_id=request_id
        )
    return obj


async def get_file_row(conn: PgConnection, *, principal: Principal, file_id: str) -> dict[str, Any]:
    row = None
    if ids.looks_like("file", file_id):
        row = await fetch_one(conn, _BY_ID, {"id": file_id, **principal.scope})
    if not row:
        raise not_found("case_file", file_id)
    return row


async def list_files(
    conn: PgConnection,
    *,
    principal: Principal,
    case_id: str,
    params: ListParams,
    document_type: str | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    uid = ids.decode("dc", case_id)
    case = uid and await fetch_one(conn, _CASE_STATUS, {"id": uid, **principal.scope})
    if not case:
        raise not_found("collection_case", case_id)
    where, args = [SCOPE, "case_id = %(case_id)s"], {**principal.scope, "case_id": uid}
    if document_type is not None:
        where.append("document_type = %(document_type)s")
        args["document_type"] = document_type
    after, before = await cursor_bounds(
        conn,
        params,
        table="case_files",
        kind="case_file",
        parse=id_parser("file"),
        where=list(where),
        args=dict(args),
    )
    created_conditions(params, where, args)
    return await fetch_page(
        conn,
        select=SELECT,
        where=where,
        args=args,
        limit=params.limit,
        after=after,
        before=before,
    )
