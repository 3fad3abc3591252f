"""Real services for the tests: Debian packages installed on demand, MariaDB on loopback.

Nothing runs at boot on CI machines, so the tests install what they need (as root,
from Debian's archive) and start servers on 127.0.0.1 themselves.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path


def ensure_debian_package(binary: str, package: str) -> str:
    """Returns the path of ``binary``, installing Debian's ``package`` if it is missing.

    Args:
        binary: An executable the package provides.
        package: The Debian package name.

    Returns:
        The executable's path.

    Raises:
        RuntimeError: If the install fails (the message carries apt's output tail).
    """
    found = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/bin")
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {result.stderr[-2000:]}")
    found = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/bin")
    if not found:
        raise RuntimeError(f"installing {package} did not provide {binary}")
    return found


def free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 right now (all bound at once, so distinct).

    Args:
        count: How many ports.

    Returns:
        The port numbers.
    """
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class MariaDB:
    """A throw-away MariaDB server on 127.0.0.1 with one database and one user.

    Attributes:
        port: The TCP port.
        database: The database MLMD uses.
        user: A password-authenticated user with all rights on ``database``.
        password: That user's password.
    """

    def __init__(self, root: Path, database: str = "mlmd", user: str = "mlmd") -> None:
        self.root = root
        [self.port] = free_ports(1)
        self.database = database
        self.user = user
        self.password = "test-only-password"
        self.socket = root / "mysqld.sock"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> MariaDB:
        """Installs (if needed), initialises and starts the server, then creates the user.

        Returns:
            self, running.
        """
        mariadbd = ensure_debian_package("mariadbd", "mariadb-server")
        datadir = self.root / "data"
        datadir.mkdir(parents=True)
        subprocess.run(
            ["mariadb-install-db", "--user=root", f"--datadir={datadir}", "--skip-test-db"],
            check=True,
            capture_output=True,
        )
        self._process = subprocess.Popen(
            [
                mariadbd,
                "--no-defaults",
                "--user=root",
                f"--datadir={datadir}",
                f"--socket={self.socket}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--pid-file={self.root / 'mysqld.pid'}",
                f"--log-error={self.root / 'error.log'}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not self._sql("SELECT 1", check=False):
            if self._process.poll() is not None or time.monotonic() > deadline:
                log = (self.root / "error.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"MariaDB did not start: {log}")
            time.sleep(0.3)
        self._sql(
            f"CREATE DATABASE {self.database}; "
            f"CREATE USER '{self.user}'@'127.0.0.1' IDENTIFIED BY '{self.password}'; "
            f"GRANT ALL ON {self.database}.* TO '{self.user}'@'127.0.0.1';"
        )
        return self

    def _sql(self, statement: str, check: bool = True) -> bool:
        result = subprocess.run(
            ["mariadb", "--no-defaults", "-uroot", f"--socket={self.socket}", "-e", statement],
            capture_output=True,
            text=True,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"SQL failed: {statement}: {result.stderr}")
        return result.returncode == 0

    def environ(self) -> dict[str, str]:
        """The ``MLMD_MYSQL_*`` variables a runner reads to use this server."""
        return {
            "MLMD_MYSQL_HOST": "127.0.0.1",
            "MLMD_MYSQL_PORT": str(self.port),
            "MLMD_MYSQL_DATABASE": self.database,
            "MLMD_MYSQL_USER": self.user,
            "MLMD_MYSQL_PASSWORD": self.password,
        }

    def stop(self) -> None:
        """Stops the server."""
        if self._process and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=60)
