"""Chat between creditor and partner about one case."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from collection_cases import db, ids
from collection_cases.accounts.service import Principal
from collection_cases.cases import lifecycle
from collection_cases.errors import InvalidRequestError, not_found, printable
from collection_cases.events import service as events
from collection_cases.pagination import Listing, ListParams, Page, id_parser, paginate

COLUMNS = "id, case_id, sender, message, attachments, read, created_at"
LISTING = Listing(
    source="chat_messages", columns=COLUMNS, kind="chat_message", parse=id_parser("msg")
)


def render(m: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": m["id"],
        "object": "chat_message",
        "case": ids.encode("dc", m["case_id"]),
        "sender": m["sender"],
        "message": m["message"],
        "attachments": m["attachments"],
        "read": m["read"],
        "created": int(m["created_at"].timestamp()),
    }


async def send_message(
    conn: db.Connection,
    *,
    principal: Principal,
    case_id: str,
    sender: str,
    message: str,
    attachments: list[str],
    request_id: str | None = None,
) -> dict[str, Any]:
    row = await lifecycle.lock_case(conn, principal, case_id, "message")
    if attachments:
        bad = [a for a in attachments if not ids.looks_like("file", a)]
        if bad:
            raise InvalidRequestError(
                f"No such case_file on this case: '{printable(bad[0])}'",
                code="resource_not_found",
                param="attachments",
            )
        rows = await db.fetch_all(
            conn,
            "SELECT id FROM case_files WHERE id = ANY(%(ids)s) AND case_id = %(case_id)s "
            "AND {scope}",
            {"ids": attachments, "case_id": row["id"]},
            scope=principal.scope,
        )
        found = {r["id"] for r in rows}
        missing = [a for a in attachments if a not in found]
        if missing:
            raise InvalidRequestError(
                f"No such case_file on this case: '{printable(missing[0])}'",
                code="resource_not_found",
                param="attachments",
            )
    inserted = await db.fetch_one(
        conn,
        f"INSERT INTO chat_messages (id, account_id, is_test, case_id, sender, message, "
        f"attachments) VALUES (%(id)s, %(account_id)s, %(is_test)s, %(case_id)s, %(sender)s, "
        f"%(message)s, %(attachments)s) RETURNING {COLUMNS}",
        {
            "id": ids.random_id("msg"),
            "case_id": row["id"],
            "sender": sender,
            "message": message,
            "attachments": Jsonb(list(dict.fromkeys(attachments))),
        },
        scope=principal.scope,
    )
    assert inserted is not None
    msg = render(inserted)
    if sender == "partner":
        await events.record(conn, principal, "case_chat.created", msg, request_id=request_id)
    return msg


async def list_messages(
    conn: db.Connection,
    *,
    principal: Principal,
    case_id: str,
    params: ListParams,
    mark_read: bool,
) -> Page:
    """The case's messages, newest first; the creditor reading them marks the partner's read."""
    uid = ids.decode("dc", case_id)
    found = None
    if uid is not None:
        found = await db.fetch_value(
            conn,
            "SELECT id FROM collection_cases WHERE id = %(id)s AND {scope}",
            {"id": uid},
            scope=principal.scope,
        )
    if found is None:
        raise not_found("collection_case", case_id)
    page = await paginate(
        conn,
        LISTING,
        params,
        scope=principal.scope,
        parent=["case_id = %(case_id)s"],
        args={"case_id": uid},
    )
    if mark_read:
        unread = [r["id"] for r in page.rows if r["sender"] == "partner" and not r["read"]]
        if unread:
            await db.execute(
                conn,
                "UPDATE chat_messages SET read = true WHERE id = ANY(%(ids)s) AND {scope}",
                {"ids": unread},
                scope=principal.scope,
            )
            for r in page.rows:
                if r["id"] in unread:
                    r["read"] = True
    return page
