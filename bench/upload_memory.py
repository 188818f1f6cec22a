"""Peak memory of one 25 MiB upload: the body must stream, never be held whole.

Starts `collection-cases serve` (1 worker, DATABASE_URL or the bench's embedded database),
warms it up with a small upload, then streams a 25 MiB PDF (chunked, no Content-Length) and
compares the server's peak RSS (VmHWM) before and after.

    .venv/bin/python bench/upload_memory.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402

SIZE = 25 * 1024 * 1024 - 4096
PDF_HEAD = (Path(__file__).resolve().parent.parent / "tests" / "data" / "invoice.pdf").read_bytes()


def vm(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def body(boundary: str, size: int):  # type: ignore[no-untyped-def]
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()
    yield PDF_HEAD
    chunk = os.urandom(65536)
    sent = len(PDF_HEAD)
    while sent < size:
        piece = chunk[: min(65536, size - sent)]
        sent += len(piece)
        yield piece
    yield (
        f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="document_type"\r\n\r\n'
        f"miscellaneous\r\n--{boundary}--\r\n"
    ).encode()


def main() -> int:
    url = run.database_url()
    run.prepare(url, rows=1)
    port = run.free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="cc-upload-bench-"))
    os.environ["COLLECTION_CASES_DATA_DIR"] = str(data_dir)
    proc = run.start("project", url, 1, port)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {run.BENCH_KEY}"}
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
            case = client.post("/v1/collection_cases", json=run.DOCUMENTED_BODY).json()
            files_url = f"/v1/collection_cases/{case['id']}/files"
            for _ in range(3):  # warm-up: imports, pools, first-request allocations
                client.post(
                    files_url,
                    files={"file": ("a.pdf", PDF_HEAD)},
                    data={"document_type": "miscellaneous"},
                ).raise_for_status()
            before_peak, before_rss = vm(proc.pid, "VmHWM"), vm(proc.pid, "VmRSS")
            boundary = "benchBOUNDARY"
            started = time.monotonic()
            response = client.post(
                files_url,
                content=body(boundary, SIZE),
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            )
            elapsed = time.monotonic() - started
            response.raise_for_status()
            after_peak = vm(proc.pid, "VmHWM")
            stored = response.json()["size"]
    finally:
        run.stop(proc)
    mib = 2**20
    print(f"uploaded {stored / mib:.1f} MiB in {elapsed:.2f}s ({stored / mib / elapsed:.0f} MiB/s)")  # noqa: T201
    print(
        f"RSS before {before_rss / mib:.1f} MiB; peak before {before_peak / mib:.1f} MiB, "  # noqa: T201
        f"peak after {after_peak / mib:.1f} MiB: +{(after_peak - before_peak) / mib:.1f} MiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
