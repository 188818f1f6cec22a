"""Streaming multipart uploads: parsed as they arrive, hashed and written to the store.

Nothing is held whole in memory: python-multipart's streaming parser is fed the request body
chunk by chunk; file data goes straight to a store writer, only the first 64 KiB are kept
(for type detection). Every way out that is not success aborts the writer, so a refused or
broken upload leaves no bytes behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from collection_cases.errors import (
    InvalidRequestError,
    ParameterMissing,
    ParameterUnknown,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from collection_cases.files import sniff
from collection_cases.files.models import DOCUMENT_TYPES
from collection_cases.files.storage import FileStore, Writer, key_for, new_file_id

FIELD_LIMIT = 4096  # bytes of a non-file field (description: 500 characters at most)
DESCRIPTION_MAX = 500
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers on top of the file itself


@dataclass
class Upload:
    file_id: str
    key: str
    filename: str
    size: int
    sha256: str
    type: sniff.FileType
    document_type: str
    description: str | None


def display_filename(raw: str | None) -> str:
    """A client's filename made safe to show and to put in a header (never a path)."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '"<>|*?:')
    name = name.strip(" .")[:200]
    return name or "file"


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    is_file: bool = False
    value: bytearray = field(default_factory=bytearray)


class _Receiver:
    def __init__(self, store: FileStore, limit: int) -> None:
        self.store = store
        self.limit = limit
        self.events: list[tuple[str, Any]] = []
        self.headers: dict[bytes, bytes] = {}
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.part: _Part | None = None
        self.fields: dict[str, str] = {}
        self.writer: Writer | None = None
        self.file_id = new_file_id()
        self.filename: str | None = None
        self.size = 0
        self.hash = hashlib.sha256()
        self.head = bytearray()
        self.type: sniff.FileType | None = None
        self.file_done = False

    # python-multipart callbacks: synchronous, so they only record what happened.
    def callbacks(self) -> dict[str, Any]:
        def on_header_field(data: bytes, start: int, end: int) -> None:
            self.header_field += data[start:end]

        def on_header_value(data: bytes, start: int, end: int) -> None:
            self.header_value += data[start:end]

        def on_header_end() -> None:
            self.headers[bytes(self.header_field).lower()] = bytes(self.header_value)
            self.header_field.clear()
            self.header_value.clear()

        def on_headers_finished() -> None:
            self.events.append(("part", dict(self.headers)))
            self.headers.clear()

        def on_part_data(data: bytes, start: int, end: int) -> None:
            self.events.append(("data", bytes(data[start:end])))

        def on_part_end() -> None:
            self.events.append(("end", None))

        return {
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        }

    async def handle(self) -> None:
        events, self.events = self.events, []
        for kind, payload in events:
            if kind == "part":
                await self._begin(payload)
            elif kind == "data":
                await self._data(payload)
            else:
                await self._end()

    async def _begin(self, headers: dict[bytes, bytes]) -> None:
        _, options = parse_options_header(headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        part = _Part(name=name)
        if name == "file":
            if self.writer is not None or self.file_done:
                raise InvalidRequestError(
                    "Only one file can be uploaded per request.", param="file"
                )
            part.is_file = True
            self.filename = display_filename(
                filename.decode("utf-8", "replace") if filename is not None else None
            )
            self.writer = await self.store.writer(key_for(self.file_id))
        elif name in ("document_type", "description"):
            if name in self.fields:
                raise InvalidRequestError(f"{name} was sent more than once.", param=name)
        else:
            shown = name[:64] or "(unnamed part)"
            raise ParameterUnknown(f"Received unknown parameter: {shown}.", param=name[:64])
        self.part = part

    async def _data(self, data: bytes) -> None:
        part = self.part
        if part is None:
            return
        if not part.is_file:
            part.value += data
            if len(part.value) > FIELD_LIMIT:
                raise InvalidRequestError(f"{part.name} is too long.", param=part.name)
            return
        assert self.writer is not None
        self.size += len(data)
        if self.size > self.limit:
            raise PayloadTooLarge(
                f"The file is larger than the {self.limit} bytes allowed.", param="file"
            )
        self.hash.update(data)
        if self.type is None:
            self.head += data
            if len(self.head) >= sniff.SNIFF_BYTES:
                self._sniff(complete=False)
        await self.writer.write(data)

    async def _end(self) -> None:
        part, self.part = self.part, None
        if part is None:
            return
        if part.is_file:
            self.file_done = True
            if self.size == 0:
                raise InvalidRequestError("The uploaded file is empty.", param="file")
            if self.type is None:
                self._sniff(complete=True)
            return
        try:
            self.fields[part.name] = part.value.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequestError(f"{part.name} is not UTF-8 text.", param=part.name) from None

    def _sniff(self, *, complete: bool) -> None:
        self.type = sniff.detect(bytes(self.head), self.filename or "", complete=complete)
        self.head = bytearray()
        if self.type is None:
            raise UnsupportedMediaType(
                f"This file type is not accepted; upload a {sniff.ALLOWED} file.",
                code="file_type_invalid",
                param="file",
            )

    def result(self) -> Upload:
        if not self.file_done:
            raise ParameterMissing("Missing required param: file.", param="file")
        document_type = self.fields.get("document_type")
        if document_type is None:
            raise ParameterMissing("Missing required param: document_type.", param="document_type")
        if document_type not in DOCUMENT_TYPES:
            raise InvalidRequestError(
                f"Invalid document_type: must be one of {', '.join(DOCUMENT_TYPES)}.",
                param="document_type",
            )
        description = self.fields.get("description")
        if description is not None:
            if len(description) > DESCRIPTION_MAX:
                raise InvalidRequestError(
                    f"description must be at most {DESCRIPTION_MAX} characters.",
                    param="description",
                )
            if "\x00" in description:
                raise InvalidRequestError("description must not contain NUL.", param="description")
        assert self.type is not None
        return Upload(
            file_id=self.file_id,
            key=key_for(self.file_id),
            filename=self.filename or "file",
            size=self.size,
            sha256=self.hash.hexdigest(),
            type=self.type,
            document_type=document_type,
            description=description or None,
        )


def _boundary(request: Request) -> bytes:
    content_type = request.headers.get("content-type", "")
    media_type, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if media_type != b"multipart/form-data" or not boundary:
        raise UnsupportedMediaType(
            'Upload files as multipart/form-data (curl -F "file=@invoice.pdf" ...).'
        )
    return boundary


async def receive_upload(request: Request, store: FileStore, limit: int) -> Upload:
    """Stream the request's multipart body into the store; return what was stored.

    On any failure (bad input, size limit, client gone) the partial bytes are removed and the
    error propagates. On success the bytes are committed at `Upload.key`.
    """
    boundary = _boundary(request)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
        raise PayloadTooLarge(f"The file is larger than the {limit} bytes allowed.", param="file")
    receiver = _Receiver(store, limit)
    parser = MultipartParser(boundary, receiver.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            if chunk:
                parser.write(chunk)
                await receiver.handle()
        parser.finalize()
        await receiver.handle()
        upload = receiver.result()
        assert receiver.writer is not None
        await receiver.writer.commit()
    except BaseException as exc:  # cancellation and disconnects too: leave nothing behind
        if receiver.writer is not None:
            await asyncio.shield(receiver.writer.abort())
        if type(exc).__module__.startswith("python_multipart"):
            raise InvalidRequestError(f"Malformed multipart body: {exc}") from None
        raise
    return upload
