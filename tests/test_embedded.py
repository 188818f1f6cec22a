"""The embedded PostgreSQL's start on a fresh machine, run as root."""

from __future__ import annotations

import multiprocessing
import os
import pwd
import secrets
import subprocess
from typing import Any

import pytest

from collection_cases import embedded

pytestmark = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="creates a system user: root only"
)


def _create(name: str, barrier: Any, uids: Any) -> None:
    barrier.wait()
    uids.put(embedded.ensure_system_user(name))


def test_processes_starting_at_once_agree_on_one_system_user() -> None:
    """Test workers (or `serve` and a CLI command) starting together on a machine without the
    server's system user: each ends up with the uid /etc/passwd keeps. Unserialised, concurrent
    useradd calls all succeed with different uids and initdb then runs as one that is gone."""
    name = f"cc_test_{secrets.token_hex(4)}"
    ctx = multiprocessing.get_context("fork")
    count = 6
    barrier = ctx.Barrier(count)
    uids = ctx.Queue()
    processes = [ctx.Process(target=_create, args=(name, barrier, uids)) for _ in range(count)]
    try:
        for process in processes:
            process.start()
        for process in processes:
            process.join(30)
            assert process.exitcode == 0
        seen = [uids.get(timeout=5) for _ in range(count)]
        kept = pwd.getpwnam(name).pw_uid
        assert seen == [kept] * count
        passwd = subprocess.run(["getent", "passwd"], capture_output=True, text=True, check=True)
        assert [line.split(":")[0] for line in passwd.stdout.splitlines()].count(name) == 1
    finally:
        subprocess.run(["userdel", name], capture_output=True, check=False)
