"""The one liveness check (components/processes.py), on real processes of this host."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

from components import processes


def test_this_process_is_running_and_a_reused_pid_is_not() -> None:
    start = processes.process_start(os.getpid())
    assert start  # this host has /proc
    assert processes.is_running(os.getpid(), start)
    assert processes.is_running(os.getpid())  # no start recorded: the pid alone
    # The same pid with another start time is another process: the owner is gone.
    assert not processes.is_running(os.getpid(), start + "0")


def test_an_ended_process_and_a_zombie_are_not_running() -> None:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    assert processes.process_start(ended.pid) is None
    assert not processes.is_running(ended.pid)

    # Killed but not reaped by its parent (us): a zombie, which owns nothing any more.
    zombie = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        os.kill(zombie.pid, signal.SIGKILL)
        os.waitid(os.P_PID, zombie.pid, os.WEXITED | os.WNOWAIT)  # dead, still unreaped
        assert processes.process_start(zombie.pid) is None
    finally:
        zombie.wait()


def test_another_host_s_process_cannot_be_told() -> None:
    assert processes.running_here("another-host", os.getpid()) is None
    assert processes.running_here(socket.gethostname(), os.getpid()) is True
