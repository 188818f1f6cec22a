"""Chat: creditor messages, partner messages (test helper), attachments, read marks."""

from __future__ import annotations

from tests.factories import auth, event_types, helper, make_case, make_token
from tests.files.conftest import PDF


def chat_url(case):  # type: ignore[no-untyped-def]
    return f"/v1/collection_cases/{case['id']}/chat"


class TestChat:
    async def test_conversation_and_read_marks(self, client, account, engine):
        case = await make_case(client, account)
        mine = await client.post(
            chat_url(case), json={"message": "Any news?"}, headers=account.headers
        )
        assert mine.status_code == 201
        m = mine.json()
        assert (m["object"], m["sender"], m["read"]) == ("chat_message", "creditor", False)
        partner = await helper(
            client,
            account,
            case["id"],
            "send_partner_message",
            message="Debtor promised to pay Friday.",
        )
        assert partner.status_code == 201
        assert partner.json()["read"] is False
        # A dashboard looking does not mark anything read.
        peek = (await client.get(chat_url(case), headers=auth(account.rk_test))).json()
        assert peek["data"][0]["read"] is False
        listed = (await client.get(chat_url(case), headers=account.headers)).json()
        assert [x["sender"] for x in listed["data"]] == ["partner", "creditor"]
        assert listed["data"][0]["read"] is True
        again = (await client.get(chat_url(case), headers=auth(account.rk_test))).json()
        assert again["data"][0]["read"] is True
        types = await event_types(engine, account)
        assert types.count("case_chat.created") == 1

    async def test_a_restricted_key_that_may_write_the_chat_marks_read(self, client, account, pool):
        case = await make_case(client, account)
        await helper(client, account, case["id"], "send_partner_message", message="Paid half.")
        reader = await make_token(pool, account, permissions=["case_chats:read"])
        writer = await make_token(pool, account, permissions=["case_chats:write"])
        peek = (await client.get(chat_url(case), headers=auth(reader["key"]))).json()
        assert peek["data"][0]["read"] is False
        listed = (await client.get(chat_url(case), headers=auth(writer["key"]))).json()
        assert listed["data"][0]["read"] is True

    async def test_attachments_must_be_files_of_the_case(self, client, account, other_account):
        case = await make_case(client, account)
        other_case = await make_case(client, account)
        f = (
            await client.post(
                f"/v1/collection_cases/{other_case['id']}/files",
                files={"file": ("a.pdf", PDF)},
                data={"document_type": "miscellaneous"},
                headers=account.headers,
            )
        ).json()
        r = await client.post(
            chat_url(case),
            json={"message": "see", "attachments": [f["id"]]},
            headers=account.headers,
        )
        assert r.status_code == 400
        assert r.json()["error"]["param"] == "attachments"
        r = await client.post(
            chat_url(other_case),
            json={"message": "see", "attachments": [f["id"]]},
            headers=account.headers,
        )
        assert r.status_code == 201
        assert r.json()["attachments"] == [f["id"]]

    async def test_validation_and_isolation(self, client, account, other_account):
        case = await make_case(client, account)
        assert (
            await client.post(chat_url(case), json={"message": ""}, headers=account.headers)
        ).status_code == 422
        assert (
            await client.post(
                chat_url(case), json={"message": "x" * 10_001}, headers=account.headers
            )
        ).status_code == 422
        assert (
            await client.post(chat_url(case), json={}, headers=account.headers)
        ).status_code == 400
        assert (await client.get(chat_url(case), headers=other_account.headers)).status_code == 404
        assert (
            await client.post(chat_url(case), json={"message": "hi"}, headers=auth(account.sk_live))
        ).status_code == 404

    async def test_closed_case_refuses_messages(self, client, account):
        case = await make_case(client, account)
        await client.post(f"/v1/collection_cases/{case['id']}/close", headers=account.headers)
        r = await client.post(chat_url(case), json={"message": "hi"}, headers=account.headers)
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "state_invalid"
