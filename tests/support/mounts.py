"""Small real filesystems (tmpfs) for tests of full and read-only output directories.

Permission bits do not stop root, so a directory root cannot write to has to be a
read-only mount; a full one is a tiny tmpfs filled until the kernel says ENOSPC.
Mounting needs root (CAP_SYS_ADMIN): the tests that do are marked ``requires_root``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

Mount = Callable[..., Path]
"""``mount(name, size="1m", read_only=False) -> Path``: what the ``tmpfs`` fixture returns."""


class TmpfsMounts:
    """Mounts tmpfs filesystems under one directory and unmounts all of them at the end.

    Args:
        parent: The directory the mount points are created in.
    """

    def __init__(self, parent: Path) -> None:
        self.parent = parent
        self.mounted: list[Path] = []

    def mount(self, name: str, size: str = "1m", read_only: bool = False) -> Path:
        """Mounts a tmpfs of ``size`` at ``parent/name``.

        Args:
            name: The mount point's name under ``parent``.
            size: tmpfs's ``size=`` option, e.g. ``1m`` or ``64k``.
            read_only: Remount it read-only once mounted.

        Returns:
            The mount point.

        Raises:
            RuntimeError: If ``mount`` fails (not root, or no CAP_SYS_ADMIN).
        """
        path = self.parent / name
        path.mkdir(parents=True)
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            capture_output=True,
            text=True,
        )
        if result.returncode:
            raise RuntimeError(
                f"cannot mount a tmpfs at {path}: {result.stderr.strip()}; the output-check "
                "tests need root (CAP_SYS_ADMIN), as CI has"
            )
        self.mounted.append(path)
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
        return path

    def unmount_all(self) -> None:
        """Unmounts everything mounted, newest first (lazily if a file is still open)."""
        for path in reversed(self.mounted):
            if subprocess.run(["umount", str(path)], capture_output=True).returncode:
                subprocess.run(["umount", "-l", str(path)], check=False)
        self.mounted.clear()
