"""Two hosts on one machine: Linux network namespaces joined by a veth pair.

Each namespace has its own network stack (interfaces, addresses, ports, routes), so
a process started with ``ip netns exec <namespace>`` sees only its own address and
reaches the other host over the veth link, as two machines on one subnet would. The
filesystem stays shared, as an NFS or gcsfuse mount shared by real hosts would be.
Creating namespaces needs root (``CAP_SYS_ADMIN`` and ``CAP_NET_ADMIN``).
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import time
from collections.abc import Sequence

from pipeline.devtools.services import ensure_debian_package

# Every namespace and link this module creates starts with it, followed by the
# creating process's pid, so a session can tell its leftovers from a live session's.
PREFIX = "mwh"
SUBNET_PREFIX = 24


def ip_binary() -> str:
    """The ``ip`` command (iproute2), installed from Debian if missing.

    Returns:
        Its path.
    """
    return ensure_debian_package("ip", "iproute2")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([ip_binary(), *args], capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")
    return result


@dataclasses.dataclass(frozen=True)
class Host:
    """One network namespace with one veth end and one IPv4 address.

    Attributes:
        namespace: The namespace's name (``ip netns``).
        link: Its end of the veth pair.
        address: Its IPv4 address on the shared subnet.
    """

    namespace: str
    link: str
    address: str

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside this host's namespace.

        Args:
            argv: The command.

        Returns:
            ``[ip, netns, exec, namespace, *argv]``.
        """
        return [ip_binary(), "netns", "exec", self.namespace, *argv]

    def pids(self) -> list[int]:
        """The processes running in this host's namespace.

        Returns:
            Their pids (empty when the namespace is gone).
        """
        result = _ip("netns", "pids", self.namespace, check=False)
        return [int(word) for word in result.stdout.split() if word.isdigit()]


class TwoHosts:
    """A chief host and a worker host on one subnet (``10.231.0.1`` and ``.2``).

    One pair per process: the names carry the process's pid (a link name has at
    most 15 characters, which ``mwh<pid>a`` fits).
    """

    def __init__(self) -> None:
        base = f"{PREFIX}{os.getpid()}"
        self.chief = Host(f"{base}-a", f"{base}a", "10.231.0.1")
        self.worker = Host(f"{base}-b", f"{base}b", "10.231.0.2")

    def create(self) -> None:
        """Creates both namespaces and the link between them."""
        _ip("netns", "add", self.chief.namespace)
        self.connect_worker()

    def connect_worker(self) -> None:
        """Creates the worker's namespace and the veth link to the chief's (again)."""
        _ip("netns", "add", self.worker.namespace)
        _ip("link", "add", self.chief.link, "type", "veth", "peer", "name", self.worker.link)
        for host in (self.chief, self.worker):
            _ip("link", "set", host.link, "netns", host.namespace)
            _ip(
                "-n",
                host.namespace,
                "addr",
                "add",
                f"{host.address}/{SUBNET_PREFIX}",
                "dev",
                host.link,
            )
            _ip("-n", host.namespace, "link", "set", host.link, "up")
            _ip("-n", host.namespace, "link", "set", "lo", "up")

    def remove_worker(self) -> None:
        """Makes the worker host vanish: SIGKILL its processes, delete its namespace.

        Deleting the namespace deletes its veth end and so the chief's end too: the
        chief is left with no route to the worker's address, as when a host's power
        or network goes.
        """
        _kill_all(self.worker)
        _ip("netns", "del", self.worker.namespace, check=False)
        _ip("link", "del", self.chief.link, check=False)

    def remove(self) -> None:
        """Kills every process in both namespaces and deletes them (safe to repeat)."""
        self.remove_worker()
        _kill_all(self.chief)
        _ip("netns", "del", self.chief.namespace, check=False)


def _kill_all(host: Host) -> None:
    for _ in range(20):
        pids = host.pids()
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)


def remove_leftovers() -> list[str]:
    """Deletes namespaces and links of this module whose creating process is gone.

    A test killed before its cleanup ran leaves them behind; a live session's pairs
    (its pid still running) are left alone.

    Returns:
        The names removed.
    """
    removed = []
    namespaces = [line.split()[0] for line in _ip("netns", "list").stdout.splitlines() if line]
    links = [
        line.split(":")[1].strip().split("@")[0]
        for line in _ip("-o", "link", "show").stdout.splitlines()
        if line.count(":") >= 2
    ]
    for name in namespaces + links:
        owner = re.fullmatch(rf"{PREFIX}(\d+)(-?[ab])", name)
        if owner is None or _alive(int(owner[1])):
            continue
        if name in namespaces:
            _kill_all(Host(name, "", ""))
            _ip("netns", "del", name, check=False)
        else:
            _ip("link", "del", name, check=False)
        removed.append(name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid != 0
