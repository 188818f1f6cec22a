"""Chat between creditor and partner about one case."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection as PgConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from collection_cases import ids
from collection_cases.accounts.service import Principal
from collection_cases.cases import lifecycle
from collection_cases.db import SCOPE
from collection_cases.errors import InvalidRequestError, not_found, printable
from collection_cases.events import service as events
from collection_cases.pagination import ListParams, cursor_bounds, fetch_page, id_parser

COLUMNS = "id, case_id, sender, message, attachments, read, created_at"
SELECT = f"SELECT {COLUMNS} FROM chat_messages"


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
    conn: PgConnection,
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
        cur = await conn.execute(
            f"SELECT id FROM case_files WHERE id = ANY(%(ids)s) AND case_id = %(case_id)s "
            f"AND {SCOPE}",
            {"ids": attachments, "case_id": row["id"], **principal.scope},
        )
        found = {r[0] for r in await cur.fetchall()}
        missing = [a for a in attachments if a not in found]
        if missing:
            raise InvalidRequestError(
                f"No such case_file on this case: '{printable(missing[0])}'",
                code="resource_not_found",
                param="attachments",
            )
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"INSERT INTO chat_messages (id, account_id, is_test, case_id, sender, message, "
        f"attachments) VALUES (%(id)s, %(account_id)s, %(is_test)s, %(case_id)s, %(sender)s, "
        f"%(message)s, %(attachments)s) RETURNING {COLUMNS}",
        {
            "id": ids.random_id("msg"),
            **principal.scope,
            "case_id": row["id"],
            "sender": sender,
            "message": message,
            "attachments": Jsonb(list(dict.fromkeys(attachments))),
        },
    )
    msg = render(await cur.fetchone())  # type: ignore[arg-type]
    if sender == "partner":
        await events.record(conn, principal, "case_chat.created", msg, request_id=request_id)
    return msg


async def list_messages(
    conn: PgConnection,
    *,
    principal: Principal,
    case_id: str,
    params: ListParams,
    mark_read: bool,
) -> tuple[list[dict[str, Any]], bool]:
    """The case's messages, newest first; the creditor reading them marks the partner's read."""
    uid = ids.decode("dc", case_id)
    found = None
    if uid is not None:
        cur = await conn.execute(
            f"SELECT id FROM collection_cases WHERE id = %(id)s AND {SCOPE}",
            {"id": uid, **principal.scope},
        )
        found = await cur.fetchone()
    if found is None:
        raise not_found("collection_case", case_id)
    where, args = [SCOPE, "case_id = %(case_id)s"], {**principal.scope, "case_id": uid}
    after, before = await cursor_bounds(
        conn,
        params,
        table="chat_messages",
        kind="chat_message",
        parse=id_parser("msg"),
        where=where,
        args=args,
    )
    rows, has_more = await fetch_page(
        conn,
        select=SELECT,
        where=where,
        args=args,
        limit=params.limit,
        after=after,
        before=before,
    )
    if mark_read:
        unread = [r["id"] for r in rows if r["sender"] == "partner" and not r["read"]]
        if unread:
            await conn.execute(
                f"UPDATE chat_messages SET read = true WHERE id = ANY(%(ids)s) AND {SCOPE}",
                {"ids": unread, **principal.scope},
            )
            for r in rows:
                if r["id"] in unread:
                    r["read"] = True
    return [render(r) for r in rows], has_more
