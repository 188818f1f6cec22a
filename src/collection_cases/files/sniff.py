"""What a file is, read from its first bytes (never from the client's Content-Type).

Binary formats by their signatures (puremagic); the ZIP family (DOCX, XLSX, plain ZIP) and the
OLE family (DOC, XLS) refined by the entry names near their start; text formats (CSV, TXT,
EML) by decoding and shape.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

import puremagic

SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class FileType:
    mime: str
    label: str  # the short name shown in the API's `type` field


PDF = FileType("application/pdf", "pdf")
JPEG = FileType("image/jpeg", "jpeg")
PNG = FileType("image/png", "png")
DOC = FileType("application/msword", "doc")
DOCX = FileType("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx")
XLS = FileType("application/vnd.ms-excel", "xls")
XLSX = FileType("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx")
ZIP = FileType("application/zip", "zip")
CSV = FileType("text/csv", "csv")
TXT = FileType("text/plain", "txt")
EML = FileType("message/rfc822", "eml")

ALLOWED = "PDF, JPEG, PNG, DOC, DOCX, XLS, XLSX, CSV, TXT, EML or ZIP"
ALL_TYPES = (PDF, JPEG, PNG, DOC, DOCX, XLS, XLSX, CSV, TXT, EML, ZIP)
_BY_MIME = {t.mime: t for t in (PDF, JPEG, PNG)}
_EML_HEADERS = (
    b"from:",
    b"to:",
    b"subject:",
    b"received:",
    b"return-path:",
    b"message-id:",
    b"mime-version:",
    b"date:",
    b"delivered-to:",
)


def _zip_kind(head: bytes) -> FileType:
    # Local file headers carry entry names in order; OOXML puts its parts near the start.
    names = head.split(b"PK\x03\x04")[1:]
    for entry in names:
        name = entry[26 : 26 + int.from_bytes(entry[22:24], "little")]
        if name.startswith(b"word/"):
            return DOCX
        if name.startswith(b"xl/"):
            return XLSX
    return ZIP


def _ole_kind(head: bytes) -> FileType | None:
    # Directory entries are UTF-16LE stream names.
    if "WordDocument".encode("utf-16-le") in head:
        return DOC
    if "Workbook".encode("utf-16-le") in head or "Book".encode("utf-16-le") in head:
        return XLS
    return None


def _text_kind(head: bytes, filename: str, complete: bool) -> FileType | None:
    if b"\x00" in head:
        return None
    sample = head if complete else head[: len(head) - 4]  # a cut multibyte char at the end
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = sample.decode("cp1252")
        except UnicodeDecodeError:
            return None
    printable = sum(ch.isprintable() or ch in "\r\n\t\f" for ch in text)
    if text and printable / len(text) < 0.98:
        return None
    first = head.lstrip().split(b"\n", 1)[0].lower()
    if first.startswith(_EML_HEADERS) and b":" in first:
        lines = head.split(b"\n", 20)[:20]
        headers = sum(1 for line in lines if line.lower().startswith(_EML_HEADERS))
        if headers >= 2:
            return EML
    lower = filename.lower()
    if lower.endswith((".csv", ".tsv")):
        return CSV
    # csv.Sniffer backtracks badly on hostile input: count delimiters on a few bounded lines.
    text_lines = [line[:1024] for line in text.splitlines()[:21] if line.strip()][:20]
    if not complete:
        text_lines = text_lines[:-1]  # the last line may be cut
    if len(text_lines) >= 2:
        for delimiter in (",", ";", "\t", "|"):
            counts = {len(row) for row in csv.reader(text_lines, delimiter=delimiter)}
            if len(counts) == 1 and counts.pop() >= 2:
                return CSV
    return TXT


def detect(head: bytes, filename: str, *, complete: bool) -> FileType | None:
    """The type of a file from its first bytes (`complete`: head is the whole file)."""
    if not head:
        return None
    if head.startswith(b"PK\x03\x04"):
        return _zip_kind(head)
    if head.startswith(bytes.fromhex("D0CF11E0A1B11AE1")):
        return _ole_kind(head)
    try:
        matches = puremagic.magic_string(head[:8192])
    except puremagic.PureError:
        matches = []
    for match in matches:
        if match.mime_type in _BY_MIME:
            return _BY_MIME[match.mime_type]
        if match.mime_type == "message/rfc822":
            return EML
    if matches and matches[0].confidence >= 0.8:
        return None  # something binary we know and do not accept (an executable, say)
    return _text_kind(head, filename, complete)
