"""File stores behind one small interface: a local folder (default) or an S3 bucket.

Keys are made by the service from the file id alone ("ab/cd/file_..."), never from anything a
client sent. Writers stream: bytes go to the store as they arrive, and `commit()` makes them
visible at the key atomically (local: rename of a temp file; S3: completing a multipart
upload), `abort()` leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from collection_cases import ids

CHUNK = 64 * 1024
S3_PART = 5 * 1024 * 1024  # S3's smallest allowed part (all but the last)


class Writer(Protocol):
    async def write(self, data: bytes) -> None: ...
    async def commit(self) -> None: ...
    async def abort(self) -> None: ...


class FileStore(Protocol):
    description: str

    async def writer(self, key: str) -> Writer: ...
    def read(self, key: str) -> AsyncIterator[bytes]: ...
    async def delete(self, key: str) -> None: ...
    async def exists(self, key: str) -> bool: ...
    async def keys(self) -> list[str]: ...


def key_for(file_id: str) -> str:
    """Spread files over folders by a hash of the id; the id is ours, never client input."""
    digest = file_id.removeprefix("file_")
    return f"{digest[:2]}/{digest[2:4]}/{file_id}"


# Local folder ------------------------------------------------------------------------------


class LocalWriter:
    def __init__(self, final: Path, tmp_dir: Path) -> None:
        self.final = final
        fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
        self.tmp = Path(name)
        self.file = os.fdopen(fd, "wb")

    async def write(self, data: bytes) -> None:
        # Page-cache writes of a 64 KiB chunk take microseconds: not worth a thread hop.
        self.file.write(data)

    async def commit(self) -> None:
        def finish() -> None:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            self.final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.tmp, self.final)

        await asyncio.to_thread(finish)

    async def abort(self) -> None:
        self.file.close()
        self.tmp.unlink(missing_ok=True)


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.tmp = self.root / ".tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.description = f"local folder {self.root}"

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise ValueError("key outside the store")
        return path

    async def writer(self, key: str) -> Writer:
        return LocalWriter(self._path(key), self.tmp)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        with open(self._path(key), "rb") as f:  # noqa: ASYNC230 - chunked, page-cache reads
            while chunk := f.read(CHUNK):
                yield chunk

    async def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    async def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    async def keys(self) -> list[str]:
        return sorted(
            str(p.relative_to(self.root))
            for p in self.root.rglob("*")
            if p.is_file() and self.tmp not in p.parents
        ) + sorted(f".tmp/{p.name}" for p in self.tmp.iterdir())


# S3 ----------------------------------------------------------------------------------------


class S3Writer:
    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self.client, self.bucket, self.key = client, bucket, key
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []
        self.buffer = bytearray()

    async def _flush(self) -> None:
        if self.upload_id is None:
            created = await asyncio.to_thread(
                self.client.create_multipart_upload, Bucket=self.bucket, Key=self.key
            )
            self.upload_id = created["UploadId"]
        number = len(self.parts) + 1
        body, self.buffer = bytes(self.buffer), bytearray()
        result = await asyncio.to_thread(
            self.client.upload_part,
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=body,
        )
        self.parts.append({"PartNumber": number, "ETag": result["ETag"]})

    async def write(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) >= S3_PART:
            await self._flush()

    async def commit(self) -> None:
        if self.upload_id is None:  # small file: one request
            await asyncio.to_thread(
                self.client.put_object, Bucket=self.bucket, Key=self.key, Body=bytes(self.buffer)
            )
            return
        if self.buffer:
            await self._flush()
        await asyncio.to_thread(
            self.client.complete_multipart_upload,
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},
        )

    async def abort(self) -> None:
        self.buffer = bytearray()
        if self.upload_id is not None:
            await asyncio.to_thread(
                self.client.abort_multipart_upload,
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self.upload_id,
            )


class S3Store:
    """Any S3-compatible bucket; credentials, region and endpoint from the standard AWS
    settings (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL...)."""

    def __init__(self, bucket: str, prefix: str = "", client: Any = None) -> None:
        import boto3

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client or boto3.client("s3")
        self.description = f"s3://{bucket}/{self.prefix}"

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    async def writer(self, key: str) -> Writer:
        return S3Writer(self.client, self.bucket, self._key(key))

    async def read(self, key: str) -> AsyncIterator[bytes]:
        obj = await asyncio.to_thread(
            self.client.get_object, Bucket=self.bucket, Key=self._key(key)
        )
        body = obj["Body"]
        try:
            while chunk := await asyncio.to_thread(body.read, CHUNK):
                yield chunk
        finally:
            body.close()

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=self._key(key))

    async def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            await asyncio.to_thread(self.client.head_object, Bucket=self.bucket, Key=self._key(key))
        except ClientError:
            return False
        return True

    async def keys(self) -> list[str]:
        """Stored objects and unfinished multipart uploads (both would be orphans)."""
        prefix = f"{self.prefix}/" if self.prefix else ""
        listed = await asyncio.to_thread(
            self.client.list_objects_v2, Bucket=self.bucket, Prefix=prefix
        )
        uploads = await asyncio.to_thread(
            self.client.list_multipart_uploads, Bucket=self.bucket, Prefix=prefix
        )
        return sorted(o["Key"].removeprefix(prefix) for o in listed.get("Contents", [])) + sorted(
            "multipart:" + u["Key"].removeprefix(prefix) for u in uploads.get("Uploads", [])
        )


def open_store(url: str | None, data_dir: Path) -> FileStore:
    """FILE_STORE_URL: unset (a folder under the data dir), file:///path or s3://bucket/prefix."""
    if not url:
        return LocalStore(data_dir / "files")
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        return S3Store(parsed.netloc, parsed.path)
    if parsed.scheme == "file":
        return LocalStore(Path(parsed.path))
    raise ValueError(f"unsupported FILE_STORE_URL scheme: {parsed.scheme!r}")


def new_file_id() -> str:
    return ids.random_id("file")
