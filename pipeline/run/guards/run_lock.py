"""One writer at a time on a SQLite ML Metadata store.

SQLite has no server to arbitrate between processes, only a file lock per write
transaction. Measured without this lock: two runs started at once against one new
SQLite file both finished and the file passed ``PRAGMA integrity_check``, but both
validated the same older span, both trained on the same window and both pushed: two
versions of the same data. A write that waits on the other run longer than SQLite's
busy timeout would also fail its run half-way. So a run (and a rollback) first takes
an exclusive ``fcntl.flock`` on ``<sqlite file>.lock`` and writes who holds it (run
id, pid, host, start time, command) into that file. A second run prints one line
naming the holder and waits its turn, up to ``outputs.lock_timeout_seconds``; then
it refuses with one paragraph, having run and recorded nothing. The kernel drops
the lock when the holder exits, however it ends (SIGKILL included), so a held lock
always means a live run and there is no stale lock to clean up. (flock is local to
one machine, and so is a SQLite file: SQLite's own locking is unreliable on network
filesystems.)

MySQL serves concurrent writers itself, so no lock is taken there and concurrent
runs both complete: TFX answers an ``AlreadyExists`` on registering a type or
context by reading the existing one, :func:`pipeline.mlmd.connection.connect` retries
MLMD's schema creation race on a new database, and the Pusher keeps a version
directory another run pushed in the same second.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import errno
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ml_metadata.proto import metadata_store_pb2

LOCK_SUFFIX = ".lock"
# How often a waiting run retries the lock; a run takes minutes, so this is cheap.
POLL_SECONDS = 0.5
# A run that just took the lock writes its holder record a moment later.
_HOLDER_READ_ATTEMPTS = 10


class RunLockTimeout(RuntimeError):
    """Another run held the lock for the whole wait; nothing ran. The message is one paragraph.

    Attributes:
        holder: Who held the lock when the wait ended (None: it could not be read).
        lock_path: The lock file.
    """

    def __init__(self, message: str, holder: Holder | None, lock_path: Path) -> None:
        super().__init__(message)
        self.holder = holder
        self.lock_path = lock_path


@dataclasses.dataclass(frozen=True)
class Holder:
    """Who holds the lock, as written into the lock file.

    Attributes:
        pid: The holding process.
        host: Its host name.
        start: When it took the lock (ISO 8601, UTC).
        purpose: The command (``run`` or ``rollback``).
        run_id: The run's id, once chosen ("" until then).
    """

    pid: int
    host: str
    start: str
    purpose: str
    run_id: str = ""

    def describe(self) -> str:
        """Names the holder for people.

        Returns:
            E.g. ``run 2026-11-22T11:30:00.1 (pid 1234 on host h, since 2026-11-22T10:30:00Z)``.
        """
        what = f"{self.purpose} {self.run_id}" if self.run_id else self.purpose
        return f"{what} (pid {self.pid} on host {self.host}, since {self.start})"


class RunLock:
    """A held lock (or, on MySQL, the absence of one); :func:`hold` yields it."""

    def __init__(self, fd: int | None, holder: Holder, path: Path | None) -> None:
        self._fd = fd
        self.holder = holder
        self.path = path

    def record(self, run_id: str) -> None:
        """Writes the run id into the holder record (a no-op without a lock file).

        Args:
            run_id: The id of the run now holding the lock.
        """
        self.holder = dataclasses.replace(self.holder, run_id=run_id)
        if self._fd is not None:
            _write_holder(self._fd, self.holder)


def lock_path(connection: metadata_store_pb2.ConnectionConfig) -> Path | None:
    """The lock file of a metadata connection.

    Args:
        connection: The ML Metadata connection.

    Returns:
        ``<sqlite file>.lock`` for SQLite; None for MySQL (no lock is needed).
    """
    if not connection.HasField("sqlite"):
        return None
    return Path(connection.sqlite.filename_uri + LOCK_SUFFIX)


def read_holder(path: Path) -> Holder | None:
    """Reads the holder record of a lock file.

    Args:
        path: The lock file.

    Returns:
        The holder, or None if the file is missing, empty (no holder) or unreadable.
    """
    try:
        return Holder(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _write_holder(fd: int, holder: Holder) -> None:
    data = (json.dumps(dataclasses.asdict(holder)) + "\n").encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _current_holder(path: Path) -> Holder | None:
    # The holder writes its record right after taking the lock; give it a moment.
    for _ in range(_HOLDER_READ_ATTEMPTS):
        holder = read_holder(path)
        if holder is not None:
            return holder
        time.sleep(0.05)
    return None


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@contextlib.contextmanager
def hold(
    connection: metadata_store_pb2.ConnectionConfig,
    *,
    timeout_seconds: float,
    purpose: str = "run",
    notify: Callable[[str], None] = _stderr,
) -> Iterator[RunLock]:
    """Holds the metadata store's run lock for the ``with`` block (SQLite only).

    Args:
        connection: The ML Metadata connection; MySQL takes no lock.
        timeout_seconds: How long to wait for another holder (0: refuse at once).
        purpose: What this process does (``run``, ``rollback``), for the holder record.
        notify: Receives the one line said when this process has to wait
            (default: printed to stderr).

    Yields:
        The held lock; call :meth:`RunLock.record` once the run id is known.

    Raises:
        RunLockTimeout: If another process held the lock for all of
            ``timeout_seconds``; nothing was done.
    """
    holder = Holder(
        pid=os.getpid(),
        host=socket.gethostname(),
        start=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        purpose=purpose,
    )
    path = lock_path(connection)
    if path is None:
        yield RunLock(None, holder, None)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # No O_TRUNC: the file holds the current holder's record until we own it. The
    # file is never deleted (a deleted lock file lets two processes lock two inodes).
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(fd, path, timeout_seconds, purpose, notify)
        # Stamped when the lock is taken, not when the wait began.
        holder = dataclasses.replace(
            holder,
            start=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        _write_holder(fd, holder)
        try:
            yield RunLock(fd, holder, path)
        finally:
            # An empty file means "nobody": clear the record before letting go.
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(
    fd: int, path: Path, timeout_seconds: float, purpose: str, notify: Callable[[str], None]
) -> None:
    if _try_lock(fd):
        return
    holder = _current_holder(path)
    named = holder.describe() if holder else "another process (its record is unreadable)"
    deadline = time.monotonic() + timeout_seconds
    if timeout_seconds > 0:
        notify(
            f"Waiting for the ML Metadata lock {path}: held by {named}; this {purpose} "
            f"starts when that one ends (waiting up to {_duration(timeout_seconds)}, "
            "outputs.lock_timeout_seconds)."
        )
    while time.monotonic() < deadline:
        time.sleep(min(POLL_SECONDS, max(deadline - time.monotonic(), 0.0)))
        if _try_lock(fd):
            return
    holder = _current_holder(path) or holder
    named = holder.describe() if holder else "another process (its record is unreadable)"
    waited = (
        f"after waiting {_duration(timeout_seconds)} (outputs.lock_timeout_seconds)"
        if timeout_seconds > 0
        else "and this one was told not to wait (--no-wait or outputs.lock_timeout_seconds: 0)"
    )
    raise RunLockTimeout(
        f"This {purpose} did not start: the ML Metadata lock {path} is still held by "
        f"{named} {waited}. Runs against one SQLite metadata file take turns, because two "
        "writers at once break runs half-way and train and push the same data twice; "
        f"nothing was run or recorded by this {purpose}. The kernel releases the lock "
        "when its holder exits, so that process is still alive: let it finish (`python -m "
        "pipeline runs` shows its progress), stop it, or raise outputs.lock_timeout_seconds.",
        holder,
        path,
    )
