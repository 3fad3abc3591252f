"""Who owns a local run, and what happens to a run whose process is gone.

TFX records an execution as RUNNING when its executor starts and as COMPLETE or
FAILED when it ends, but only if the Python process survives to say so: a SIGKILL,
an OOM kill or a power cut leaves the execution RUNNING forever, and TFX's launcher
catches ``Exception`` only, so a Ctrl-C (``KeyboardInterrupt``) leaves it RUNNING too.

The local runner therefore writes an *owner record* on the run's ``pipeline_run``
context before anything launches (TFX reuses an existing context of that type and
name): the host, the pid and the process start time (from ``/proc/<pid>/stat``, so
a pid the kernel has since given to another process is not mistaken for the owner).
:func:`reconcile`, called at the start of every local run, sets every execution
still NEW/RUNNING whose run's owner is dead to CANCELED, with a custom property
``abandoned`` saying why, and removes its partial output directories. A Ctrl-C is
recorded the same way by the interrupted process itself (:func:`cancel_own`,
property ``interrupted``), and :class:`InterruptWatch` makes it prompt even when the
main thread is blocked in Beam or TensorFlow C++ code.

Runs without an owner record (Airflow runs, runs from before this module) and runs
owned by another host are left alone: from here there is no telling whether they
are still going.
"""

from __future__ import annotations

import dataclasses
import glob
import logging
import os
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from components import processes
from pipeline.mlmd import queries
from pipeline.mlmd.queries import RUN_CONTEXT, Execution

OWNER_HOST = "owner_host"
OWNER_PID = "owner_pid"
OWNER_START = "owner_start"
# Custom properties on an execution the runner canceled, holding the one-line reason.
ABANDONED = "abandoned"
INTERRUPTED = "interrupted"
INTERRUPTED_REASON = "interrupted (Ctrl-C)"

# Exit code of a process ended by SIGINT, as shells report it (128 + 2).
EXIT_INTERRUPTED = 130

# After the main thread recorded a Ctrl-C and returned, how long interpreter
# shutdown may take before the process is ended anyway.
SHUTDOWN_SECONDS = 1.0

# When this process got its first Ctrl-C (ms since the epoch), set by InterruptWatch.
_ctrl_c_ms: int | None = None


def ctrl_c_seen() -> int | None:
    """When this process first got Ctrl-C under :class:`InterruptWatch`.

    Returns:
        Milliseconds since the epoch, or None.
    """
    return _ctrl_c_ms


def caused_by_ctrl_c(error: BaseException) -> bool:
    """Whether an exception is a Ctrl-C in disguise.

    TensorFlow's C++ bindings turn a ``KeyboardInterrupt`` raised inside them into
    a ``RuntimeError`` ("... REPLACED BY KeyboardInterrupt"), and TFX's launcher
    then records an ordinary failure; Beam may wrap it too.

    Args:
        error: An exception a run raised.

    Returns:
        True if this process got Ctrl-C, or the exception (or one it was raised
        from) is or names a ``KeyboardInterrupt``.
    """
    if _ctrl_c_ms is not None:
        return True
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt) or "KeyboardInterrupt" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@dataclasses.dataclass(frozen=True)
class Owner:
    """A process that owns a run.

    Attributes:
        host: ``socket.gethostname()`` of the process.
        pid: Its process id.
        start: Its start time in clock ticks since boot (field 22 of
            ``/proc/<pid>/stat``); "" where /proc is not available.
    """

    host: str
    pid: int
    start: str


def this_process() -> Owner:
    """The owner record of the calling process.

    Returns:
        Host, pid and start time of this process.
    """
    pid = os.getpid()
    return Owner(socket.gethostname(), pid, processes.process_start(pid) or "")


def owner_of(context: metadata_store_pb2.Context) -> Owner | None:
    """Reads a run context's owner record.

    Args:
        context: A ``pipeline_run`` context.

    Returns:
        The owner, or None when the run has no owner record (an Airflow run, or a
        run from before owner records).
    """
    props = context.custom_properties
    if OWNER_PID not in props:
        return None
    return Owner(
        props[OWNER_HOST].string_value if OWNER_HOST in props else "",
        int(props[OWNER_PID].int_value),
        props[OWNER_START].string_value if OWNER_START in props else "",
    )


def owner_alive(context: metadata_store_pb2.Context) -> bool | None:
    """Whether the process that owns a run is still running.

    Args:
        context: A ``pipeline_run`` context.

    Returns:
        True or False for a run owned by a process on this host; None when that
        cannot be told (no owner record, or another host).
    """
    owner = owner_of(context)
    if owner is None:
        return None
    return processes.running_here(owner.host, owner.pid, owner.start)


def claim(store: mlmd.MetadataStore, run_id: str) -> metadata_store_pb2.Context:
    """Registers this process as the owner of a run, before any node launches.

    Creates the run's ``pipeline_run`` context (TFX's launcher reuses an existing
    context of that type and name) or updates it, with ``owner_host``,
    ``owner_pid`` and ``owner_start`` custom properties.

    Args:
        store: The metadata store.
        run_id: The run id (the ``pipeline_run`` context name).

    Returns:
        The context.
    """
    context_type = store.get_context_type(RUN_CONTEXT) if _has_type(store) else None
    if context_type is None:
        type_id = store.put_context_type(metadata_store_pb2.ContextType(name=RUN_CONTEXT))
    else:
        type_id = context_type.id
    context = store.get_context_by_type_and_name(RUN_CONTEXT, run_id)
    if context is None:
        context = metadata_store_pb2.Context(type_id=type_id, name=run_id)
    me = this_process()
    context.custom_properties[OWNER_HOST].string_value = me.host
    context.custom_properties[OWNER_PID].int_value = me.pid
    context.custom_properties[OWNER_START].string_value = me.start
    [context.id] = store.put_contexts([context])
    return context


def _has_type(store: mlmd.MetadataStore) -> bool:
    return any(t.name == RUN_CONTEXT for t in store.get_context_types())


def remove_partial_outputs(pipeline_root: str, node_id: str, execution_id: int) -> list[str]:
    """Removes what an unfinished execution wrote under the pipeline root.

    TFX writes an execution's outputs to ``<root>/<node>/<output key>/<execution
    id>`` and its scratch files to ``<root>/<node>/.system/executor_execution/<id>``;
    it removes them itself when an executor raises an ``Exception``, but not when
    the process dies or is interrupted. Nothing in ML Metadata points at them (TFX
    publishes output artifacts only when an execution succeeds).

    Args:
        pipeline_root: The pipeline root.
        node_id: The execution's node id.
        execution_id: The execution id.

    Returns:
        The directories removed.
    """
    node_dir = os.path.join(pipeline_root, node_id)
    candidates = glob.glob(os.path.join(glob.escape(node_dir), "*", str(execution_id)))
    candidates.append(os.path.join(node_dir, ".system", "executor_execution", str(execution_id)))
    removed = []
    for path in candidates:
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _cancel(
    store: mlmd.MetadataStore,
    executions: Iterable[Execution],
    key: str,
    reason: str,
    node_of: Mapping[int, str],
    pipeline_root: str | None,
) -> list[Execution]:
    canceled = []
    for execution in executions:
        if execution.last_known_state not in queries.UNFINISHED:
            continue
        execution.last_known_state = Execution.CANCELED
        execution.custom_properties[key].string_value = reason
        canceled.append(execution)
    if canceled:
        store.put_executions(canceled)
        if pipeline_root:
            for execution in canceled:
                if execution.id in node_of:
                    remove_partial_outputs(pipeline_root, node_of[execution.id], execution.id)
    return canceled


def reconcile(
    store: mlmd.MetadataStore,
    pipeline_name: str,
    by_run: str,
    pipeline_root: str | None = None,
) -> list[Execution]:
    """Marks the unfinished executions of runs whose owner died as CANCELED.

    Each such execution gets the custom property ``abandoned``: one line naming the
    dead process and the run that noticed. With ``pipeline_root`` its partial
    outputs are removed too (see :func:`remove_partial_outputs`).

    Args:
        store: The metadata store.
        pipeline_name: Only executions of this pipeline's nodes are considered.
        by_run: The run id doing the reconciling (named in the reason).
        pipeline_root: The pipeline root, to remove partial outputs (optional).

    Returns:
        The executions canceled (as written).
    """
    canceled: list[Execution] = []
    for run in queries.runs(store, pipeline_name):
        if run.run_id == by_run:
            continue
        executions = [e for e in run.executions if e.last_known_state in queries.UNFINISHED]
        if not executions or owner_alive(run.context) is not False:
            continue
        owner = owner_of(run.context)
        assert owner is not None  # owner_alive is False only with a record
        for execution in executions:
            when = queries.utc(execution.last_update_time_since_epoch)
            reason = (
                f"process {owner.pid} on host {owner.host} ended (killed?) while "
                f"{run.nodes[execution.id]} ran (last update {when}); marked abandoned by "
                f"run {by_run}"
            )
            for done in _cancel(store, [execution], ABANDONED, reason, run.nodes, pipeline_root):
                logging.warning(
                    "Execution %s (%s) of run %s was left unfinished by a dead process; "
                    "marked CANCELED/abandoned",
                    done.id,
                    run.nodes[done.id],
                    by_run,
                )
                canceled.append(done)
    return canceled


def cancel_own(
    store: mlmd.MetadataStore,
    pipeline_name: str,
    reason: str = INTERRUPTED_REASON,
    pipeline_root: str | None = None,
) -> list[str]:
    """Cancels the unfinished executions of every run this process owns.

    Used when this process is interrupted: each execution gets the custom
    property ``interrupted`` holding ``reason``. Executions TFX recorded as FAILED
    after the Ctrl-C (see :func:`caused_by_ctrl_c`) are canceled too.

    Args:
        store: The metadata store.
        pipeline_name: Only executions of this pipeline's nodes are considered.
        reason: The one-line reason.
        pipeline_root: The pipeline root, to remove partial outputs (optional).

    Returns:
        The ids of the runs that had unfinished executions.
    """
    me = this_process()
    since = _ctrl_c_ms
    canceled_runs = []
    for run in queries.runs(store, pipeline_name):
        if owner_of(run.context) != me:
            continue
        executions = list(run.executions)
        if since is not None:
            # TFX recorded a Ctrl-C that TensorFlow turned into an error as FAILED.
            for execution in executions:
                if (
                    execution.last_known_state == Execution.FAILED
                    and execution.last_update_time_since_epoch >= since
                ):
                    execution.last_known_state = Execution.RUNNING  # canceled below
        if _cancel(store, executions, INTERRUPTED, reason, run.nodes, pipeline_root):
            canceled_runs.append(run.run_id)
    return canceled_runs


class InterruptWatch:
    """Makes Ctrl-C end a run within ``grace`` seconds, recorded, whatever runs.

    Python runs its SIGINT handler (which raises ``KeyboardInterrupt``) only when
    the main thread returns to the interpreter; a Beam or TensorFlow call blocked in
    C++ may not do so for minutes. The C-level handler still writes the signal
    number to the wakeup fd at once, so a watcher thread reading that fd sees every
    Ctrl-C immediately. On the first, the main thread is given ``grace`` seconds to
    unwind (and record the interruption itself); if it has not finished by then,
    the watcher calls ``on_timeout`` (record the cancellation) and ends the process
    with ``os._exit(130)``. When the main thread did unwind, the process still gets
    only :data:`SHUTDOWN_SECONDS` to exit (Beam may leave threads that interpreter
    shutdown would wait for). A second Ctrl-C ends it at once (the next run's
    :func:`reconcile` then marks what was left unfinished as abandoned).

    Use as a context manager in the main thread; elsewhere it does nothing.
    """

    def __init__(self, on_timeout: Callable[[], None], grace: float = 5.0) -> None:
        """Prepares the watch.

        Args:
            on_timeout: Called from the watcher thread before ``os._exit`` when the
                main thread did not unwind in time; should record the cancellation.
            grace: Seconds the main thread has after the first Ctrl-C.
        """
        self._on_timeout = on_timeout
        self._grace = grace
        self._first: float | None = None
        self._done = threading.Event()
        self._fds: tuple[int, int] | None = None
        self._previous_fd = -1

    @property
    def interrupted_at(self) -> float | None:
        """``time.monotonic()`` of the first Ctrl-C, if there was one."""
        return self._first

    def __enter__(self) -> InterruptWatch:
        if threading.current_thread() is not threading.main_thread():
            return self
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)  # the C handler must never block
        self._previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        self._fds = (read_fd, write_fd)
        threading.Thread(target=self._watch, name="interrupt-watch", daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._fds is None:
            return
        signal.set_wakeup_fd(self._previous_fd)
        if self._first is None:
            # Finished without a Ctrl-C: the watcher must not end the process.
            self._done.set()
            os.close(self._fds[1])  # wakes the watcher with EOF
            return
        # Interrupted, and the main thread recorded it while unwinding. Interpreter
        # shutdown may still wait on threads Beam or TensorFlow left running (a
        # Ctrl-C in Transform waited for the whole grace period), so the process
        # gets SHUTDOWN_SECONDS to exit by itself before it is ended.
        self._on_timeout = lambda: None
        threading.Thread(target=self._exit_soon, name="interrupt-exit", daemon=True).start()

    def _exit_soon(self) -> None:
        time.sleep(SHUTDOWN_SECONDS)
        _flush()
        os._exit(EXIT_INTERRUPTED)

    def _watch(self) -> None:
        assert self._fds is not None
        read_fd = self._fds[0]
        try:
            while not self._done.is_set():
                data = os.read(read_fd, 64)
                if not data:
                    return
                if signal.SIGINT not in data:
                    continue
                if self._first is not None:
                    _say("second Ctrl-C: exiting at once; the next run marks this run abandoned")
                    _flush()
                    os._exit(EXIT_INTERRUPTED)
                self._first = time.monotonic()
                global _ctrl_c_ms  # noqa: PLW0603 - one process, one Ctrl-C moment
                _ctrl_c_ms = int(time.time() * 1000)
                threading.Thread(
                    target=self._deadline, name="interrupt-deadline", daemon=True
                ).start()
        finally:
            os.close(read_fd)

    def _deadline(self) -> None:
        if self._done.wait(self._grace):
            return
        try:
            self._on_timeout()
        except Exception:  # noqa: BLE001 - exiting anyway; the next run reconciles
            logging.exception("Could not record the interruption in ML Metadata")
        _flush()
        os._exit(EXIT_INTERRUPTED)


def _flush() -> None:
    # os._exit skips Python's buffered stdio; what was printed must still appear.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed terminal must not stop the exit
            pass


def _say(line: str) -> None:
    try:
        print(line, file=sys.stderr, flush=True)
    except Exception:  # noqa: BLE001 - a closed terminal must not stop the exit
        pass
