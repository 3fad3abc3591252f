"""Whether the process that left something behind is still running: the one liveness check.

Three things are owned by a process and outlive it when it is killed (SIGKILL, OOM,
power cut): a Pusher's or rollback's staging directory in the serving directory
(:mod:`components.serving_dir`), a run's ``pipeline_run`` owner record in ML Metadata
(:mod:`pipeline.run.guards.run_owner`) and a run's temporary directory
(:mod:`pipeline.run.guards.scratch`). Each is cleaned up only once its owner is known
to be dead, and all three ask here.

A pid alone is not an identity: the kernel hands freed pids to new processes. Where
the owner recorded its start time (field 22 of ``/proc/<pid>/stat``, clock ticks
since boot), a live pid with another start time is a different process, so the
owner is dead. A zombie (killed, not yet reaped by its parent) is dead too.
"""

from __future__ import annotations

import os
import socket


def process_start(pid: int) -> str | None:
    """Returns a process's start time (clock ticks since boot), None if it is gone.

    Args:
        pid: A process id on this host.

    Returns:
        Field 22 of ``/proc/<pid>/stat``; "" when /proc is unavailable (macOS) but
        the pid exists; None when there is no such live process (a zombie included).
    """
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            stat = handle.read()
    except FileNotFoundError:
        return None
    except OSError:  # no /proc: fall back to "does the pid exist"
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:  # it exists, owned by another user
            return ""
        return ""
    # The command name (field 2) is in parentheses and may contain spaces.
    fields = stat[stat.rfind(")") + 2 :].split()
    state, start = fields[0], fields[19]
    return None if state in ("Z", "X") else start


def is_running(pid: int, start: str = "") -> bool:
    """Whether a process of this host is alive and is the one that recorded ``start``.

    Args:
        pid: A process id on this host.
        start: The start time the owner recorded (see :func:`process_start`); ""
            when it recorded none, in which case any live process with the pid counts.

    Returns:
        False when the pid is gone, a zombie, or now belongs to a process started at
        another time; True otherwise.
    """
    current = process_start(pid)
    if current is None:
        return False
    # Both known and different: the pid was reused by another process.
    return not (start and current and current != start)


def running_here(host: str, pid: int, start: str = "") -> bool | None:
    """Whether an owner process, named by host, pid and start time, is still running.

    Args:
        host: ``socket.gethostname()`` of the owner.
        pid: Its process id.
        start: Its recorded start time ("" when unknown).

    Returns:
        :func:`is_running` for an owner on this host; None for another host's, whose
        liveness cannot be told from here (so what it owns must be left alone).
    """
    if host != socket.gethostname():
        return None
    return is_running(pid, start)
