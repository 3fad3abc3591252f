"""Owner records, reconcile and the Ctrl-C watchdog, on real SQLite ML Metadata stores.

The end-to-end kills are in tests/e2e/test_faults_kill_e2e.py; these pin the rules
(which runs are abandoned, which are left alone) and the watchdog's timing.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import ml_metadata as mlmd
import pytest
from ml_metadata.proto import metadata_store_pb2

from pipeline.mlmd.queries import RUN_CONTEXT
from pipeline.ops import history
from pipeline.run.guards import run_owner
from tests.support.cli import REPO
from tests.support.mlmd_store import PIPELINE, ensure_context, record_execution, sqlite_store

Execution = metadata_store_pb2.Execution


def _owned_run(
    store: mlmd.MetadataStore, name: str, host: str | None, pid: int, start: str
) -> metadata_store_pb2.Context:
    context = ensure_context(store, RUN_CONTEXT, name)
    if host is not None:
        context.custom_properties[run_owner.OWNER_HOST].string_value = host
        context.custom_properties[run_owner.OWNER_PID].int_value = pid
        context.custom_properties[run_owner.OWNER_START].string_value = start
        store.put_contexts([context])
    return context


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _state(store: mlmd.MetadataStore, execution_id: int) -> Execution:
    return store.get_executions_by_id([execution_id])[0]


def test_reconcile_cancels_only_runs_whose_owner_is_dead(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path / "mlmd.sqlite")
    host, me = socket.gethostname(), run_owner.this_process()
    killed = _owned_run(store, "killed", host, _dead_pid(), "1")
    reused = _owned_run(
        store, "pid-reused", host, me.pid, me.start + "0"
    )  # same pid, other process
    alive = _owned_run(store, "alive", host, me.pid, me.start)
    elsewhere = _owned_run(store, "elsewhere", "another-host", 1, "1")
    airflow = _owned_run(store, "airflow", None, 0, "")
    done = record_execution(store, killed, "CsvExampleGen", Execution.COMPLETE)
    stuck = record_execution(store, killed, "Trainer", Execution.RUNNING)
    stuck_reused = record_execution(store, reused, "Transform", Execution.RUNNING)
    untouched = [
        record_execution(store, run, "Trainer", Execution.RUNNING)
        for run in (alive, elsewhere, airflow)
    ]
    root = tmp_path / "root"
    partial = [
        root / "Trainer" / "model" / str(stuck),
        root / "Trainer" / ".system" / "executor_execution" / str(stuck),
    ]
    other = root / "Trainer" / "model" / str(untouched[0])
    for directory in (*partial, other):
        directory.mkdir(parents=True)

    # Before reconcile: the reader already tells the dead run from a live one.
    before = {r.run_id: r for r in history.list_runs(store, PIPELINE)}
    assert before["killed"].status == "abandoned"
    assert before["killed"].stopped_by == "abandoned in Trainer"
    assert before["alive"].status == before["airflow"].status == "running"

    canceled = run_owner.reconcile(store, PIPELINE, "now", str(root))

    assert sorted(e.id for e in canceled) == sorted([stuck, stuck_reused])
    assert _state(store, done).last_known_state == Execution.COMPLETE
    for execution_id in (stuck, stuck_reused):
        execution = _state(store, execution_id)
        assert execution.last_known_state == Execution.CANCELED
        reason = execution.custom_properties[run_owner.ABANDONED].string_value
        assert (
            f"on host {host} ended (killed?)" in reason and "marked abandoned by run now" in reason
        )
    for execution_id in untouched:
        assert _state(store, execution_id).last_known_state == Execution.RUNNING
    assert not any(p.exists() for p in partial) and other.exists()
    after = {r.run_id: r for r in history.list_runs(store, PIPELINE)}
    assert after["killed"].status == "abandoned" and "ended (killed?)" in after["killed"].reason
    assert after["pid-reused"].status == "abandoned"
    assert after["elsewhere"].status == "running"
    # Idempotent: nothing left to cancel.
    assert run_owner.reconcile(store, PIPELINE, "later", str(root)) == []


def test_claim_then_cancel_own_records_an_interruption(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path / "mlmd.sqlite")
    run = run_owner.claim(store, "mine")
    assert run_owner.owner_of(run) == run_owner.this_process()
    assert run_owner.owner_alive(store.get_context_by_type_and_name(RUN_CONTEXT, "mine")) is True
    running = record_execution(store, run, "Trainer", Execution.RUNNING)
    # Claiming again (TFX created the context already) keeps the context.
    assert run_owner.claim(store, "mine").id == run.id

    assert run_owner.reconcile(store, PIPELINE, "other") == []  # its owner lives
    assert run_owner.cancel_own(store, PIPELINE) == ["mine"]

    execution = _state(store, running)
    assert execution.last_known_state == Execution.CANCELED
    assert execution.custom_properties[run_owner.INTERRUPTED].string_value == "interrupted (Ctrl-C)"
    [record] = history.list_runs(store, PIPELINE)
    assert (record.status, record.stopped_by, record.reason) == (
        "interrupted",
        "interrupted in Trainer",
        "interrupted (Ctrl-C)",
    )


# A process that owns a RUNNING execution and whose main thread never unwinds on
# Ctrl-C, as one blocked in C++ would not: its Python SIGINT handler does nothing
# (the C-level handler still wakes InterruptWatch), so only the watchdog can end it.
_STUCK = textwrap.dedent(
    """
    import signal, sys, time
    sys.path.insert(0, {repo!r})
    from pipeline.run.guards import run_owner
    from tests.support.mlmd_store import record_execution, sqlite_store
    from ml_metadata.proto import metadata_store_pb2

    store = sqlite_store({db!r})
    run = run_owner.claim(store, "stuck")
    record_execution(store, run, "Trainer", metadata_store_pb2.Execution.RUNNING)
    with run_owner.InterruptWatch(lambda: run_owner.cancel_own(store, "clicks"), grace={grace}):
        signal.signal(signal.SIGINT, lambda signum, frame: None)
        print("ready", flush=True)
        while True:
            time.sleep(0.1)
    """
)


def _start_stuck(tmp_path: Path, grace: float) -> tuple[subprocess.Popen, Path]:
    db = tmp_path / "mlmd.sqlite"
    script = _STUCK.format(repo=str(REPO), db=str(db), grace=grace)
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "ready", process.stderr.read()
    return process, db


@pytest.mark.parametrize("grace", [1.0])
def test_watchdog_records_and_exits_when_the_main_thread_is_stuck(
    tmp_path: Path, grace: float
) -> None:
    process, db = _start_stuck(tmp_path, grace)
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=grace + 10) == run_owner.EXIT_INTERRUPTED
    elapsed = time.monotonic() - sent
    assert grace <= elapsed < grace + 5, elapsed
    [record] = history.list_runs(sqlite_store(db), PIPELINE)
    assert record.status == "interrupted"


def test_second_ctrl_c_exits_at_once(tmp_path: Path) -> None:
    process, db = _start_stuck(tmp_path, grace=60.0)
    process.send_signal(signal.SIGINT)
    time.sleep(0.3)
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == run_owner.EXIT_INTERRUPTED
    assert time.monotonic() - sent < 3
    assert "second Ctrl-C" in process.stderr.read()
    # Not recorded by the process: left to the next run's reconcile, which sees
    # the owner dead.
    store = sqlite_store(db)
    [record] = history.list_runs(store, PIPELINE)
    assert record.status == "abandoned"
    assert len(run_owner.reconcile(store, PIPELINE, "next")) == 1


def test_a_ctrl_c_that_tensorflow_turned_into_an_error_is_an_interruption(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What TF's pybind11 layer raises when Ctrl-C lands in a traced function.
    disguised = RuntimeError(
        "pybind11::error_already_set: MISMATCH of original and normalized active exception "
        "types: ORIGINAL InvalidArgumentError REPLACED BY KeyboardInterrupt: <EMPTY MESSAGE>"
    )
    assert run_owner.caused_by_ctrl_c(disguised)
    assert not run_owner.caused_by_ctrl_c(ValueError("bad column"))

    store = sqlite_store(tmp_path / "mlmd.sqlite")
    run = run_owner.claim(store, "mine")
    before = record_execution(store, run, "Transform", Execution.FAILED)  # a real failure
    time.sleep(0.05)
    monkeypatch.setattr(run_owner, "_ctrl_c_ms", int(time.time() * 1000))
    assert run_owner.caused_by_ctrl_c(ValueError("anything, once Ctrl-C was pressed"))
    after = record_execution(store, run, "Trainer", Execution.FAILED)  # TFX's record of the Ctrl-C

    run_owner.cancel_own(store, PIPELINE)

    assert _state(store, before).last_known_state == Execution.FAILED
    assert _state(store, after).last_known_state == Execution.CANCELED
    assert run_owner.INTERRUPTED in _state(store, after).custom_properties
