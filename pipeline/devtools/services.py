"""Real services on loopback for the tests and the bench: MariaDB and PostgreSQL.

Nothing runs at boot on CI machines, so the tests and ``make bench`` install what
they need (as root, from Debian's archive) and start servers on 127.0.0.1
themselves, each in a throw-away data directory, and stop them by pid.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

# Test-only credentials of throw-away servers on 127.0.0.1; never a real secret.
TEST_PASSWORD = "test-only-password"


def _apt_install(package: str) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {result.stderr[-2000:]}")


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
    _apt_install(package)
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


def stop_process(process: subprocess.Popen[bytes] | None, sig: int, timeout: float) -> None:
    """Signals a server we started (by its pid), waits, and kills it if it hangs.

    Args:
        process: The server's process (None or already ended: nothing to do).
        sig: The signal that asks it to stop cleanly.
        timeout: Seconds to wait before SIGKILL.
    """
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)


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
        self.password = TEST_PASSWORD
        self.socket = root / "mysqld.sock"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The server's pid once started (None before)."""
        return self._process.pid if self._process else None

    def start(self) -> MariaDB:
        """Installs (if needed), initialises and starts the server, then creates the user.

        Returns:
            self, running.

        Raises:
            RuntimeError: If the server does not answer within 60 s (with its log tail).
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
        """Stops the server (SIGTERM by pid, then SIGKILL after 60 s)."""
        stop_process(self._process, signal.SIGTERM, 60)


def _postgres_bin_dir() -> Path | None:
    """The newest installed PostgreSQL server's bin directory (Debian's layout)."""
    found = glob.glob("/usr/lib/postgresql/*/bin/postgres")
    if not found:
        return None
    newest = max(found, key=lambda p: int(Path(p).parent.parent.name.split(".")[0]))
    return Path(newest).parent


class PostgreSQL:
    """A throw-away PostgreSQL server on 127.0.0.1 with one database and one user.

    PostgreSQL refuses to run as root, so under root the server runs as the
    ``postgres`` system user Debian's package creates, in a data directory of its
    own under the system temp dir (a test's tmp path is often unreadable to it).

    Attributes:
        port: The TCP port.
        database: The database.
        user: A password-authenticated user owning ``database``.
        password: That user's password.
        root: The server's directory (data, socket, log); removed by :meth:`stop`.
    """

    def __init__(self, database: str = "airflow", user: str = "airflow") -> None:
        [self.port] = free_ports(1)
        self.database = database
        self.user = user
        self.password = TEST_PASSWORD
        self.root: Path | None = None
        self._bin: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The postmaster's pid once started (None before)."""
        return self._process.pid if self._process else None

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the database (psycopg2 driver), as Airflow takes it."""
        return (
            f"postgresql+psycopg2://{self.user}:{self.password}"
            f"@127.0.0.1:{self.port}/{self.database}"
        )

    @property
    def dsn(self) -> str:
        """The libpq connection string of the database, as ``psycopg2.connect`` takes it."""
        return (
            f"host=127.0.0.1 port={self.port} dbname={self.database} "
            f"user={self.user} password={self.password}"
        )

    def _run_as(self) -> str | None:
        # Root may not run the server; any other user runs it as itself.
        return "postgres" if os.geteuid() == 0 else None

    def start(self) -> PostgreSQL:
        """Installs (if needed), initialises and starts the server, then creates the user.

        Returns:
            self, running.

        Raises:
            RuntimeError: If initdb fails or the server does not answer within 60 s
                (with its log tail).
        """
        self._bin = _postgres_bin_dir()
        if self._bin is None:
            _apt_install("postgresql")
            self._bin = _postgres_bin_dir()
            if self._bin is None:
                raise RuntimeError("installing postgresql did not provide /usr/lib/postgresql")
        run_as = self._run_as()
        self.root = Path(tempfile.mkdtemp(prefix="postgresql-"))
        datadir = self.root / "data"
        datadir.mkdir()
        if run_as is not None:
            for path in (self.root, datadir):
                shutil.chown(path, run_as, run_as)
        result = subprocess.run(
            [
                str(self._bin / "initdb"),
                "-D",
                str(datadir),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            user=run_as,
            cwd=self.root,
        )
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed: {(result.stdout + result.stderr)[-2000:]}")
        log = self.root / "server.log"
        with open(log, "wb") as out:
            self._process = subprocess.Popen(
                [
                    str(self._bin / "postgres"),
                    "-D",
                    str(datadir),
                    "-k",
                    str(self.root),
                    "-p",
                    str(self.port),
                    "-h",
                    "127.0.0.1",
                    # Throw-away data: durability costs time and buys nothing here.
                    "-c",
                    "fsync=off",
                    "-c",
                    "full_page_writes=off",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                user=run_as,
                cwd=self.root,
            )
        deadline = time.monotonic() + 60
        while not self._sql("SELECT 1", check=False):
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"PostgreSQL did not start: {log.read_text(errors='replace')[-2000:]}"
                )
            time.sleep(0.3)
        self._sql(f"CREATE USER {self.user} WITH PASSWORD '{self.password}'")
        self._sql(f"CREATE DATABASE {self.database} OWNER {self.user}")
        return self

    def _sql(self, statement: str, check: bool = True) -> bool:
        assert self._bin is not None and self.root is not None
        result = subprocess.run(
            [
                str(self._bin / "psql"),
                "-h",
                str(self.root),
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                statement,
            ],
            capture_output=True,
            text=True,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"SQL failed: {statement}: {result.stderr}")
        return result.returncode == 0

    def stop(self) -> None:
        """Stops the server by pid and removes its directory.

        SIGINT is PostgreSQL's fast shutdown: it disconnects any client left (SIGTERM
        would wait for every session to end), then the postmaster stops its workers.
        """
        stop_process(self._process, signal.SIGINT, 60)
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
