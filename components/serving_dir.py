"""The one way a model version enters a TF Serving directory: stage, fsync, rename.

TF Serving polls its base directory for numeric version directories and loads any it
finds, possibly while it is still being copied. The Pusher (:mod:`components.pusher`)
publishes through here (``rollback`` and ``promote`` copy nothing: they move labels in
``models.config``, :mod:`components.serving_config`):

1. The version is written to ``<base>/.staging-<host>-<pid>-<uuid>/<version>``: inside
   the base directory, so on the same filesystem and the final rename is atomic;
   non-numeric, so TF Serving ignores it; named after its owner, so a leftover can be
   told from a push in progress.
2. Every file and directory of it is fsynced, so a power cut after the rename cannot
   publish a version whose ``saved_model.pb`` is empty.
3. It is renamed to ``<base>/<version>`` and the base directory is fsynced, which
   makes the rename itself durable. TF Serving sees no version or a complete one.
4. When another push created the same version first (two runs sharing a serving
   directory can pick the same Unix-second version), its complete directory is kept:
   TFX's rule for an existing version.

A publish first removes the staging directories of processes of this host that died
between their copy and their rename, and the ``.tmp-<version>`` directories that
rollbacks of earlier releases left (they staged there, without an owner).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from components import processes

STAGING_PREFIX = ".staging-"
# Where rollbacks staged before this module; nothing writes there any more.
LEGACY_TEMP_PREFIX = ".tmp-"

PathLike = str | os.PathLike[str]


def staging_name() -> str:
    """A staging directory name naming its owner: ``.staging-<host>-<pid>-<uuid>``.

    Returns:
        The name (TF Serving ignores it: not a number).
    """
    return f"{STAGING_PREFIX}{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex}"


def staging_owner(name: str) -> tuple[str, int] | None:
    """Reads the owner out of a staging directory name.

    Args:
        name: A directory name in a serving base directory.

    Returns:
        ``(host, pid)``, or None when the name is not an owned staging directory (a
        version, or a staging directory named before owners were recorded).
    """
    if not name.startswith(STAGING_PREFIX):
        return None
    # The host name may contain "-"; the pid and the uuid hex cannot.
    host, _, pid = name[len(STAGING_PREFIX) :].rpartition("-")[0].rpartition("-")
    if not host or not pid.isdigit():
        return None
    return host, int(pid)


def _leftover(name: str) -> bool:
    if name.startswith(LEGACY_TEMP_PREFIX):
        return name[len(LEGACY_TEMP_PREFIX) :].isdigit()
    owner = staging_owner(name)
    # Another host's staging directory, or a live one's, may be mid-push.
    return owner is not None and processes.running_here(*owner) is False


def remove_dead_staging(base: PathLike) -> list[str]:
    """Removes staging directories left by publishes whose process died on this host.

    A push or rollback killed between its copy and its rename (SIGKILL, OOM, power
    cut) leaves its staging directory behind; TF Serving ignores it, but it holds a
    whole model. One owned by another host's process, or by a live one, is left
    alone. ``.tmp-<version>`` directories are removed too: earlier releases' rollback
    staged there, and no current writer does.

    Args:
        base: The serving base directory.

    Returns:
        The names of the directories removed.
    """
    removed = []
    for name in sorted(os.listdir(base)):
        if _leftover(name):
            _discard(os.path.join(base, name))
            removed.append(name)
    return removed


def fsync_dir(path: PathLike) -> None:
    """Makes a directory's entries (new files, renames into it) durable.

    Args:
        path: The directory.
    """
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def fsync_tree(root: PathLike) -> None:
    """Flushes every file and directory under ``root`` to disk, ``root`` included.

    Args:
        root: A staged version directory.
    """
    for directory, _, files in os.walk(root):
        for name in files:
            with open(os.path.join(directory, name), "rb") as handle:
                os.fsync(handle.fileno())
        fsync_dir(directory)


def publish(staged_version: PathLike, final: PathLike) -> bool:
    """Flushes a staged version to disk (fsync) and renames it into place.

    Two runs sharing a serving dir (MySQL metadata takes concurrent runs) can push in
    the same second, so both pass the "version exists?" check. rename(2) onto a
    non-empty directory fails (ENOTEMPTY; EEXIST on some filesystems), and the other
    push's version directory is complete (it was renamed into place too): it is kept.

    Args:
        staged_version: ``<staging dir>/<version>``, complete.
        final: ``<base>/<version>``.

    Returns:
        True if this copy was published; False if another push created ``final``
        first and that one was kept.
    """
    fsync_tree(staged_version)
    try:
        os.rename(staged_version, final)
    except OSError as err:
        if err.errno in (errno.ENOTEMPTY, errno.EEXIST) and os.path.isdir(final):
            logging.warning("Version %s was pushed concurrently by another run; kept it", final)
            return False
        raise
    fsync_dir(os.path.dirname(os.path.abspath(final)))
    return True


@contextlib.contextmanager
def staging(base: PathLike) -> Iterator[Path]:
    """A fresh staging directory path in ``base``, removed (with what is left in it) after.

    The directory itself is not created: the writer (TFX's Pusher, ``copytree``)
    creates it with the version inside. Dead owners' leftovers are removed first.

    Args:
        base: The serving base directory; created if missing.

    Yields:
        ``<base>/.staging-<host>-<pid>-<uuid>``.
    """
    os.makedirs(base, exist_ok=True)
    remove_dead_staging(base)
    path = Path(base) / staging_name()
    try:
        yield path
    finally:
        _discard(path)


def _discard(path: PathLike) -> None:
    # Clean-up must not hide the error of the push it follows; what stays behind is
    # hidden from TF Serving and removed by a later publish once this process ended.
    def report(function: Any, failed: str, exc_info: Any) -> None:
        logging.warning("Could not remove %s (%s): %s", failed, function.__name__, exc_info[1])

    if os.path.lexists(path):
        shutil.rmtree(path, onerror=report)
