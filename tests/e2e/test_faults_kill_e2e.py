"""Crash anywhere, and Ctrl-C during ``make run`` (issue 8, parts 1 and 5).

One chain of real runs on one small generated day, in one store. Each run is the
real CLI in its own process group (``tests.support.fault_runner`` pauses it when a chosen
component's executor starts) and is SIGKILLed there: CsvExampleGen, ImportSchemaGen,
StatisticsGen, ExampleValidator, Transform, Trainer, Evaluator, and the Pusher after
its staged copy, right before the rename. After every kill: TFX alone left the
execution RUNNING (what ``pipeline.run.guards.run_owner`` exists to fix), ``runs`` shows the
run as abandoned, the served directory holds only complete versions, and the next
run marks the execution CANCELED/abandoned, removes its partial outputs and reuses
every component that finished before (CACHED in ML Metadata). Then Ctrl-C goes to a
real ``make run`` process group mid-push, and a final plain run completes and
pushes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.cli import REPO, run_cli
from tests.support.data import write_click_spans

MARKER_TIMEOUT = 300.0
EXIT_TIMEOUT = 15.0


def _env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PIPELINE_DATA_ROOT"] = str(root / "data")
    env["PIPELINE_OUTPUT_ROOT"] = str(root / "out")
    env.pop("MLMD_MYSQL_HOST", None)
    return env


def _start(args: list[str], root: Path, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(
            args,
            cwd=REPO,
            env=_env(root),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _wait_for(marker: Path, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + MARKER_TIMEOUT
    while not marker.exists():
        if process.poll() is not None:
            pytest.fail(
                f"the run ended (exit {process.returncode}) before the pause:\n"
                f"{log.read_text()[-4000:]}"
            )
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail(f"no pause within {MARKER_TIMEOUT:.0f} s:\n{log.read_text()[-4000:]}")
        time.sleep(0.2)


def _store(config):
    from pipeline.mlmd import connection as metadata

    return metadata.open_store(config)


def _newest_run(store):
    from pipeline.mlmd.queries import RUN_CONTEXT

    return max(store.get_contexts_by_type(RUN_CONTEXT), key=lambda c: c.id)


def _executions(store, pipeline_name: str, context) -> dict[str, object]:
    """Node id -> the run's execution of it."""
    from pipeline.mlmd import queries

    node_of = queries.node_ids(store, pipeline_name)
    return {
        node_of[e.id]: e for e in store.get_executions_by_context(context.id) if e.id in node_of
    }


def _served(config) -> list[str]:
    return sorted(os.listdir(config.push_dir)) if config.push_dir.exists() else []


def _assert_served_complete(config) -> list[str]:
    """Every non-hidden entry is a complete numeric version; returns the versions."""
    versions = [n for n in _served(config) if not n.startswith(".")]
    for name in versions:
        assert name.isdigit(), f"{name} in {config.push_dir}"
        assert (config.push_dir / name / "saved_model.pb").is_file(), name
        assert (config.push_dir / name / "variables").is_dir(), name
    return versions


def _runs_table(root: Path) -> str:
    result = run_cli(
        ["runs", "--data-root", str(root / "data"), "--output-root", str(root / "out")]
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _run_line(table: str, run_id: str) -> str:
    lines = [line for line in table.splitlines() if line.startswith(run_id)]
    assert lines, f"run {run_id} not in:\n{table}"
    return lines[0]


def test_kill_at_every_component_then_ctrl_c_in_make_run(tmp_path: Path) -> None:
    from ml_metadata.proto import metadata_store_pb2

    from pipeline import nodes
    from pipeline.config import DEFAULT_CONFIG, load_config, with_env_overrides
    from pipeline.run.guards import run_owner
    from tests.support.fault_runner import RENAME_POINT

    Execution = metadata_store_pb2.Execution
    write_click_spans(tmp_path / "data", days=1, rows=1500)
    config = with_env_overrides(load_config(DEFAULT_CONFIG), _env(tmp_path))
    name = config.pipeline_name
    python = sys.executable
    started = time.monotonic()

    # Components that run an executor, in the order LocalDagRunner launches them.
    executed = [
        nodes.EXAMPLE_GEN,
        nodes.SCHEMA_GEN,
        nodes.STATISTICS_GEN,
        nodes.EXAMPLE_VALIDATOR,
        nodes.DATA_GATE,
        nodes.TRANSFORM,
        nodes.TRAINER,
        nodes.TFLITE_CONVERTER,
        nodes.EVALUATOR,
        nodes.PUSHER,
    ]
    kills = [
        nodes.EXAMPLE_GEN,
        nodes.SCHEMA_GEN,
        nodes.STATISTICS_GEN,
        nodes.EXAMPLE_VALIDATOR,
        nodes.TRANSFORM,
        nodes.TRAINER,
        nodes.EVALUATOR,
        RENAME_POINT,
    ]
    finished: set[str] = set()  # nodes some earlier run completed (cacheable now)
    previous = None  # (run id, node id, execution id) of the last killed execution
    timings = []

    def check_previous_reconciled(store, executions: dict) -> None:
        # The killed execution is CANCELED with the reason, its partial outputs gone.
        run_id, node, execution_id = previous
        [killed] = store.get_executions_by_id([execution_id])
        assert killed.last_known_state == Execution.CANCELED, (run_id, node)
        assert "ended (killed?)" in killed.custom_properties[run_owner.ABANDONED].string_value
        node_dir = Path(config.outputs.pipeline_root) / node
        assert not list(node_dir.glob(f"*/{execution_id}")), f"partial outputs of {node} left"

    def check_reused(executions: dict, upto: str) -> None:
        # Everything before ``upto`` finished in this run: from the cache if an
        # earlier run had finished it, else executed now.
        for node in executed[: executed.index(upto)]:
            want = Execution.CACHED if node in finished else Execution.COMPLETE
            got = executions[node].last_known_state
            assert got == want, (
                f"{node}: {Execution.State.Name(got)}, want {Execution.State.Name(want)}"
            )
        finished.update(executed[: executed.index(upto)])

    for point in kills:
        node = nodes.PUSHER if point == RENAME_POINT else point
        marker = tmp_path / f"paused-{point}"
        log = tmp_path / f"run-{point}.log"
        begin = time.monotonic()
        process = _start(
            [python, "-m", "tests.support.fault_runner", point, str(marker), "--", "run"],
            tmp_path,
            log,
        )
        _wait_for(marker, process, log)
        os.killpg(process.pid, signal.SIGKILL)
        assert process.wait(timeout=EXIT_TIMEOUT) == -signal.SIGKILL
        timings.append((point, round(time.monotonic() - begin, 1)))

        store = _store(config)
        context = _newest_run(store)
        executions = _executions(store, name, context)
        killed = executions[node]
        # What TFX alone leaves behind: the execution RUNNING with its process gone.
        assert killed.last_known_state == Execution.RUNNING, point
        assert run_owner.owner_alive(context) is False
        if previous is not None:
            check_previous_reconciled(store, executions)
        check_reused(executions, node)
        line = _run_line(_runs_table(tmp_path), context.name)
        assert " abandoned " in line and f"abandoned in {node}" in line, line
        assert _assert_served_complete(config) == []  # nothing was ever pushed whole
        previous = (context.name, node, killed.id)

    # Killed between the staged copy and the rename: a hidden staging dir is left.
    staging = [n for n in _served(config) if n.startswith(".staging-")]
    assert len(staging) == 1, _served(config)

    # Ctrl-C to a real `make run` process group (make + python), mid-push.
    marker = tmp_path / "paused-make"
    log = tmp_path / "make-run.log"
    hooked = f"{python} -m tests.support.fault_runner {RENAME_POINT} {marker} --"
    # -o venv: the venv exists (the suite runs in it); make must not re-sync it.
    process = _start(
        ["make", "--no-print-directory", "-o", "venv", "run", f"VPY={hooked}"], tmp_path, log
    )
    _wait_for(marker, process, log)
    # The stale staging dir of the killed push was removed when this push started.
    assert not (config.push_dir / staging[0]).exists()
    sigint = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)
    code = process.wait(timeout=EXIT_TIMEOUT)
    sigint_to_exit = round(time.monotonic() - sigint, 2)
    output = log.read_text()
    assert code in (130, 2, -signal.SIGINT), output
    assert "interrupted: Pipeline 'clicks' was interrupted (Ctrl-C)" in output, output
    assert "Traceback" not in output, output
    store = _store(config)
    context = _newest_run(store)
    executions = _executions(store, name, context)
    check_previous_reconciled(store, executions)
    check_reused(executions, nodes.PUSHER)
    pusher = executions[nodes.PUSHER]
    assert pusher.last_known_state == Execution.CANCELED
    assert (
        pusher.custom_properties[run_owner.INTERRUPTED].string_value == run_owner.INTERRUPTED_REASON
    )
    assert _served(config) == []  # nothing pushed, no staging dir left
    line = _run_line(_runs_table(tmp_path), context.name)
    assert " interrupted " in line and f"interrupted in {nodes.PUSHER}" in line, line

    # A plain rerun completes, reuses everything but the Pusher, and pushes.
    log = tmp_path / "final.log"
    process = _start([python, "-m", "pipeline", "run"], tmp_path, log)
    assert process.wait(timeout=MARKER_TIMEOUT) == 0, log.read_text()[-4000:]
    store = _store(config)
    executions = _executions(store, name, _newest_run(store))
    for node in executed[:-1]:
        assert executions[node].last_known_state == Execution.CACHED, node
    assert executions[nodes.PUSHER].last_known_state == Execution.COMPLETE
    assert len(_assert_served_complete(config)) == 1
    assert [n for n in _served(config) if n.startswith(".")] == []
    unfinished = [
        e.id
        for e in store.get_executions()
        if e.last_known_state in (Execution.NEW, Execution.RUNNING)
    ]
    assert unfinished == []
    table = _runs_table(tmp_path)
    statuses = [line.split()[3] for line in table.splitlines()[2:] if not line.startswith(" ")]
    assert sorted(statuses) == sorted(["abandoned"] * len(kills) + ["interrupted", "succeeded"]), (
        table
    )
    print(
        f"\nkill timings (start to kill): {timings}; SIGINT to make exit: {sigint_to_exit} s; "
        f"total {time.monotonic() - started:.0f} s"
    )
