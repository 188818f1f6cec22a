"""File-store fixtures: every file test runs against the local folder store and against an
S3-compatible server (moto's, started here on 127.0.0.1 and spoken to over real HTTP)."""

from __future__ import annotations

import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from collection_cases.app import create_app
from collection_cases.files.storage import FileStore

PDF = (Path(__file__).parent.parent / "data" / "invoice.pdf").read_bytes()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(params=["local", "s3"])
def store_url(request, tmp_path, monkeypatch) -> str:  # type: ignore[no-untyped-def]
    if request.param == "local":
        return f"file://{tmp_path / 'files'}"
    import boto3

    endpoint = request.getfixturevalue("s3_endpoint")
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    bucket = f"cc-test-{secrets.token_hex(4)}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/case-files"


@pytest.fixture
def files_app(request, settings, pool, store_url, tmp_path):  # type: ignore[no-untyped-def]
    overrides = getattr(request, "param", {})  # indirect parametrization: more settings
    return create_app(
        settings.model_copy(
            update={
                "file_store_url": store_url,
                "data_dir": tmp_path,
                "max_upload_bytes": 2 * 1024 * 1024,
                **overrides,
            }
        ),
        pool=pool,
    )


@pytest.fixture
def store(files_app) -> FileStore:  # type: ignore[no-untyped-def]
    return files_app.state.file_store  # type: ignore[no-any-return]


@pytest.fixture
async def fclient(files_app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=files_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
