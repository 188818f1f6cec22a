"""Case files: upload (streamed, checked, limited), list, retrieve, download; no orphans."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest
from sqlalchemy import text

from collection_cases import ids
from tests.factories import DELETE, auth, make_case
from tests.files.conftest import PDF


def upload_url(case: dict) -> str:
    return f"/v1/collection_cases/{case['id']}/files"


async def upload(
    client,
    account,
    case,
    *,
    content=PDF,
    filename="invoice.pdf",
    content_type="application/pdf",
    data=None,
    key=None,
):  # type: ignore[no-untyped-def]
    fields = {"document_type": "original_invoice", "description": "Original unpaid invoice"}
    if data is not None:
        fields = data
    return await client.post(
        upload_url(case),
        files={"file": (filename, content, content_type)},
        data=fields,
        headers=auth(key or account.sk_test),
    )


async def file_rows(engine, account) -> int:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        return int(
            (
                await conn.execute(
                    text("SELECT count(*) FROM case_files WHERE account_id = :a"),
                    {"a": account.id},
                )
            ).scalar_one()
        )


class TestUpload:
    async def test_documented_upload(self, fclient, account, store, engine):
        case = await make_case(fclient, account)
        response = await upload(fclient, account, case)
        assert response.status_code == 201, response.text
        f = response.json()
        assert f["id"].startswith("file_")
        assert f["object"] == "case_file"
        assert f["case"] == case["id"]
        assert f["document_type"] == "original_invoice"
        assert f["description"] == "Original unpaid invoice"
        assert f["filename"] == "invoice.pdf"
        assert f["size"] == len(PDF)
        assert f["type"] == "pdf"
        assert f["sha256"] == hashlib.sha256(PDF).hexdigest()
        assert f["url"] == f"/v1/case_files/{f['id']}/contents"
        assert await store.keys() == [f"{f['id'][5:7]}/{f['id'][7:9]}/{f['id']}"]
        assert await file_rows(engine, account) == 1

    async def test_download_is_byte_identical(self, fclient, account):
        case = await make_case(fclient, account)
        f = (await upload(fclient, account, case, filename="Rechnung März.pdf")).json()
        response = await fclient.get(f["url"], headers=account.headers)
        assert response.status_code == 200
        assert response.content == PDF
        assert response.headers["content-type"] == "application/pdf"
        assert response.headers["content-length"] == str(len(PDF))
        assert response.headers["x-content-type-options"] == "nosniff"
        disposition = response.headers["content-disposition"]
        assert disposition.startswith('attachment; filename="Rechnung M_rz.pdf"')
        assert "filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf" in disposition
        # What is served is what /openapi.json documents for this operation.
        spec = (await fclient.get("/openapi.json")).json()
        documented = spec["paths"]["/v1/case_files/{file_id}/contents"]["get"]["responses"]["200"]
        assert "application/pdf" in documented["content"]
        assert "application/octet-stream" not in documented["content"]

    async def test_type_comes_from_the_bytes_not_the_header(self, fclient, account):
        case = await make_case(fclient, account)
        r = await upload(fclient, account, case, filename="notes.bin", content_type="text/plain")
        assert r.json()["type"] == "pdf"
        exe = b"MZ\x90\x00\x03" + b"\x00" * 200 + b"This program cannot be run in DOS mode"
        r = await upload(fclient, account, case, content=exe, filename="invoice.pdf")
        assert r.status_code == 415
        assert r.json()["error"]["param"] == "file"

    @pytest.mark.parametrize(
        ("content", "filename", "expected"),
        [
            (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "scan.png", "png"),
            (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64, "scan.jpg", "jpeg"),
            (b"date,amount\n2024-11-01,3600\n2024-12-01,3600\n", "ledger.csv", "csv"),
            (b"Dear tenant,\nyour rent is overdue.\n", "letter.txt", "txt"),
            (
                b"From: a@example.com\nTo: b@example.com\nSubject: rent\n\nPlease pay.\n",
                "mail.eml",
                "eml",
            ),
        ],
    )
    async def test_accepted_types(self, fclient, account, content, filename, expected):
        case = await make_case(fclient, account)
        r = await upload(fclient, account, case, content=content, filename=filename)
        assert r.status_code == 201, r.text
        assert r.json()["type"] == expected

    @pytest.mark.parametrize(
        ("inner", "expected"),
        [("word/document.xml", "docx"), ("xl/workbook.xml", "xlsx"), ("notes.txt", "zip")],
    )
    async def test_zip_family(self, fclient, account, inner, expected):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as z:
            z.writestr("[Content_Types].xml", "<Types/>")
            z.writestr(inner, "<x/>")
        case = await make_case(fclient, account)
        r = await upload(fclient, account, case, content=buffer.getvalue(), filename="f")
        assert r.json()["type"] == expected

    async def test_filename_is_sanitised_and_never_a_path(self, fclient, account, store):
        case = await make_case(fclient, account)
        r = await upload(fclient, account, case, filename="../../etc/passwd")
        assert r.status_code == 201
        assert r.json()["filename"] == "passwd"
        r = await upload(fclient, account, case, filename="..\\..\\boot.ini")
        assert r.json()["filename"] == "boot.ini"
        assert all("passwd" not in key and ".." not in key for key in await store.keys())

    @pytest.mark.parametrize(
        ("raw", "shown"),
        [
            ("a\x00b\x01c.pdf", "abc.pdf"),
            ("/", "file"),
            ("..", "file"),
            ("", "file"),
            ('x"<>|*?:.pdf', "x.pdf"),
            ("é" * 300, "é" * 200),
        ],
    )
    def test_display_filename(self, raw, shown):
        from collection_cases.files.upload import display_filename

        assert display_filename(raw) == shown

    async def test_needs_details_case_is_verified_again(self, fclient, account, engine):
        case = await make_case(fclient, account, debtor__email=DELETE, debtor__phone=DELETE)
        assert case["status"] == "needs_details"
        # The missing detail arrives out of band (e.g. operator fixed the record)...
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    'UPDATE collection_cases SET debtor = debtor || \'{"email": '
                    '"john@example.com"}\'::jsonb WHERE id = :i'
                ),
                {"i": ids.decode("dc", case["id"])},
            )
        assert (await upload(fclient, account, case)).status_code == 201
        after = (
            await fclient.get(f"/v1/collection_cases/{case['id']}", headers=account.headers)
        ).json()
        assert after["status"] == "active"
        assert after["collection_partner"]["name"] == "CollectMax GmbH"
        async with engine.connect() as conn:
            types = (
                (
                    await conn.execute(
                        text(
                            "SELECT type FROM events WHERE account_id = :a ORDER BY created_at, id"
                        ),
                        {"a": account.id},
                    )
                )
                .scalars()
                .all()
            )
        assert types[-3:] == [
            "case_file.uploaded",
            "collection_case.updated",
            "collection_case.active",
        ]


class TestUploadRefusals:
    @pytest.mark.parametrize(
        ("data", "code", "param"),
        [
            ({"description": "x"}, "parameter_missing", "document_type"),
            ({"document_type": "selfie"}, "parameter_invalid", "document_type"),
            (
                {"document_type": "miscellaneous", "description": "d" * 501},
                "parameter_invalid",
                "description",
            ),
            ({"document_type": "miscellaneous", "colour": "red"}, "parameter_unknown", "colour"),
        ],
    )
    async def test_bad_fields_leave_nothing(
        self, fclient, account, store, engine, data, code, param
    ):
        case = await make_case(fclient, account)
        r = await upload(fclient, account, case, data=data)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == code
        assert r.json()["error"]["param"] == param
        assert await store.keys() == []
        assert await file_rows(engine, account) == 0

    async def test_missing_file(self, fclient, account):
        case = await make_case(fclient, account)
        r = await fclient.post(
            upload_url(case),
            data={"document_type": "miscellaneous"},
            files={"other": ("x", b"y")},
            headers=account.headers,
        )
        assert r.status_code == 400
        r = await fclient.post(
            upload_url(case),
            files={"document_type": (None, "miscellaneous")},
            headers=account.headers,
        )
        assert r.status_code == 400
        assert r.json()["error"] == {
            **r.json()["error"],
            "code": "parameter_missing",
            "param": "file",
        }

    async def test_second_file_part(self, fclient, account, store):
        case = await make_case(fclient, account)
        r = await fclient.post(
            upload_url(case),
            files=[
                ("file", ("a.pdf", PDF, "application/pdf")),
                ("file", ("b.pdf", PDF, "application/pdf")),
            ],
            data={"document_type": "miscellaneous"},
            headers=account.headers,
        )
        assert r.status_code == 400
        assert r.json()["error"]["param"] == "file"
        assert await store.keys() == []

    async def test_empty_file(self, fclient, account, store):
        case = await make_case(fclient, account)
        r = await upload(fclient, account, case, content=b"")
        assert r.status_code == 400
        assert "empty" in r.json()["error"]["message"]
        assert await store.keys() == []

    async def test_too_large_is_413_and_leaves_nothing(self, fclient, account, store, engine):
        case = await make_case(fclient, account)
        big = PDF + b"0" * (3 * 1024 * 1024)  # over the 2 MiB limit of these tests
        r = await upload(fclient, account, case, content=big)
        assert r.status_code == 413
        assert r.json()["error"]["type"] == "invalid_request_error"
        assert await store.keys() == []
        assert await file_rows(engine, account) == 0

    @pytest.mark.parametrize("files_app", [{"max_drain_bytes": 0}], indirect=True)
    async def test_too_large_without_content_length_stops_while_streaming(
        self, fclient, account, store
    ):
        """With no allowance for draining, reading stops where the limit was crossed."""
        case = await make_case(fclient, account)
        boundary = "xyzBOUNDARY"
        chunks_sent = 0

        async def body():  # type: ignore[no-untyped-def]
            nonlocal chunks_sent
            yield (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="big.pdf"\r\nContent-Type: application/pdf\r\n\r\n'
            ).encode()
            yield PDF
            for _ in range(100):  # 6.4 MiB if it were all read
                chunks_sent += 1
                yield b"0" * 65536

        r = await fclient.post(
            upload_url(case),
            content=body(),
            headers={
                **account.headers,
                "Content-Type": f"multipart/form-data; boundary={boundary}",
            },
        )
        assert r.status_code == 413
        assert chunks_sent < 40  # refused as soon as the limit was crossed
        assert await store.keys() == []

    async def test_too_large_body_is_drained_before_the_close(self, fclient, account, store):
        """By default the rest of the body is read and thrown away (so a client that writes it
        all before reading gets the 413, not a reset), and the connection is closed after."""
        case = await make_case(fclient, account)
        boundary = "xyzBOUNDARY"
        chunks_sent = 0

        async def body():  # type: ignore[no-untyped-def]
            nonlocal chunks_sent
            yield (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="big.pdf"\r\nContent-Type: application/pdf\r\n\r\n'
            ).encode()
            yield PDF
            for _ in range(100):
                chunks_sent += 1
                yield b"0" * 65536

        r = await fclient.post(
            upload_url(case),
            content=body(),
            headers={
                **account.headers,
                "Content-Type": f"multipart/form-data; boundary={boundary}",
            },
        )
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "payload_too_large"
        assert r.headers["connection"] == "close"
        assert chunks_sent == 100
        assert await store.keys() == []

    async def test_closed_case(self, fclient, account, engine, store):
        case = await make_case(fclient, account)
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE collection_cases SET status='closed' WHERE id=:i"),
                {"i": ids.decode("dc", case["id"])},
            )
        r = await upload(fclient, account, case)
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "state_invalid"
        assert await store.keys() == []

    async def test_not_multipart(self, fclient, account):
        case = await make_case(fclient, account)
        r = await fclient.post(upload_url(case), json={"file": "x"}, headers=account.headers)
        assert r.status_code == 415

    async def test_foreign_and_unknown_case(self, fclient, account, other_account, store):
        case = await make_case(fclient, other_account)
        r = await upload(fclient, account, case)
        assert r.status_code == 404
        r = await upload(fclient, account, {"id": "dc_" + "0" * 32})
        assert r.status_code == 404
        assert await store.keys() == []

    async def test_restricted_key_cannot_upload(self, fclient, account):
        case = await make_case(fclient, account)
        r = await upload(fclient, account, case, key=account.rk_test)
        assert r.status_code == 403


class TestNoOrphans:
    async def test_database_failure_after_bytes_written(
        self, fclient, account, store, engine, monkeypatch
    ):
        from collection_cases.events import service as events

        async def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
            raise RuntimeError("insert failed")

        case = await make_case(fclient, account)
        monkeypatch.setattr(events, "record", broken)
        r = await upload(fclient, account, case)
        assert r.status_code == 500
        assert await store.keys() == []
        assert await file_rows(engine, account) == 0

    async def test_client_disconnects_mid_upload(self, files_app, fclient, account, store, engine):
        case = await make_case(fclient, account)
        boundary = b"xyzBOUNDARY"
        first = (
            b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; '
            b'filename="a.pdf"\r\n\r\n' + PDF + b"0" * 100_000
        )
        messages = [
            {"type": "http.request", "body": first, "more_body": True},
            {"type": "http.disconnect"},
        ]
        sent: list[dict] = []

        async def receive():  # type: ignore[no-untyped-def]
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message):  # type: ignore[no-untyped-def]
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": upload_url(case),
            "raw_path": upload_url(case).encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"t"),
                (b"authorization", f"Bearer {account.sk_test}".encode()),
                (b"content-type", b"multipart/form-data; boundary=" + boundary),
            ],
            "client": ("127.0.0.1", 1),
            "server": ("t", 80),
        }
        await files_app(scope, receive, send)
        assert await store.keys() == []
        assert await file_rows(engine, account) == 0


class TestReadFiles:
    async def test_list_paginate_and_filter(self, fclient, account):
        case = await make_case(fclient, account)
        made = []
        for i in range(5):
            kind = "original_invoice" if i % 2 == 0 else "demand_letter"
            r = await upload(fclient, account, case, data={"document_type": kind})
            made.append(r.json())
        url = upload_url(case)
        page = (await fclient.get(url, params={"limit": 2}, headers=account.headers)).json()
        assert page["object"] == "list"
        assert page["url"] == url
        assert page["has_more"] is True
        seen = [f["id"] for f in page["data"]]
        while page["has_more"]:
            page = (
                await fclient.get(
                    url, params={"limit": 2, "starting_after": seen[-1]}, headers=account.headers
                )
            ).json()
            seen += [f["id"] for f in page["data"]]
        assert sorted(seen) == sorted(f["id"] for f in made)
        assert len(seen) == 5
        letters = (
            await fclient.get(
                url, params={"document_type": "demand_letter"}, headers=account.headers
            )
        ).json()
        assert {f["id"] for f in letters["data"]} == {made[1]["id"], made[3]["id"]}
        bad = await fclient.get(url, params={"document_type": "selfie"}, headers=account.headers)
        assert bad.status_code == 422
        # A cursor must be a file of this case (the filter it came from does not matter).
        other_case = await make_case(fclient, account)
        elsewhere = (await upload(fclient, account, other_case)).json()
        foreign = await fclient.get(
            url, params={"starting_after": elsewhere["id"]}, headers=account.headers
        )
        assert foreign.status_code == 400
        assert foreign.json()["error"]["param"] == "starting_after"
        invoices_after_letter = await fclient.get(
            url,
            params={"document_type": "original_invoice", "ending_before": made[1]["id"]},
            headers=account.headers,
        )
        assert invoices_after_letter.status_code == 200
        newer = [f["id"] for f in invoices_after_letter.json()["data"]]
        assert newer == [made[4]["id"], made[2]["id"]]

    async def test_retrieve_and_isolation(self, fclient, account, other_account):
        case = await make_case(fclient, account)
        f = (await upload(fclient, account, case)).json()
        got = await fclient.get(f"/v1/case_files/{f['id']}", headers=account.headers)
        assert got.json() == f
        for headers in (auth(other_account.sk_test), auth(account.sk_live)):
            for path in (f"/v1/case_files/{f['id']}", f["url"], upload_url(case)):
                r = await fclient.get(path, headers=headers)
                assert r.status_code == 404, path
        missing = await fclient.get("/v1/case_files/file_" + "0" * 24, headers=account.headers)
        foreign = await fclient.get(
            f"/v1/case_files/{f['id']}", headers=auth(other_account.sk_test)
        )
        assert foreign.json()["error"]["code"] == missing.json()["error"]["code"]
        assert foreign.json()["error"]["param"] == missing.json()["error"]["param"]


class TestLargeFiles:
    async def test_multipart_sized_upload_and_oversize_abort(
        self, settings, pool, store_url, tmp_path, account
    ):
        """Above S3's 5 MiB part size: multipart upload completes, an oversize one aborts."""
        import httpx

        from collection_cases.app import create_app

        app = create_app(
            settings.model_copy(
                update={
                    "file_store_url": store_url,
                    "data_dir": tmp_path,
                    "max_upload_bytes": 8 * 1024 * 1024,
                }
            ),
            pool=pool,
        )
        store = app.state.file_store
        big = PDF + bytes(range(256)) * (6 * 4096)  # ~6 MiB: two S3 parts
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as c:
            case = await make_case(c, account)
            ok = await upload(c, account, case, content=big)
            assert ok.status_code == 201, ok.text
            assert ok.json()["sha256"] == hashlib.sha256(big).hexdigest()
            down = await c.get(ok.json()["url"], headers=account.headers)
            assert hashlib.sha256(down.content).hexdigest() == ok.json()["sha256"]
            keys_after_first = await store.keys()
            too_big = await upload(c, account, case, content=big + big)
            assert too_big.status_code == 413
            assert await store.keys() == keys_after_first
            assert len(keys_after_first) == 1
