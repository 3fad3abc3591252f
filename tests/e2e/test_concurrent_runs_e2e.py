"""Two `python -m pipeline run` started at once against the same ML Metadata.

SQLite: the runs take turns through the run lock (the second says it waits, for
whom, then finds everything cached); a run told not to wait refuses and records
nothing. MySQL (a real MariaDB on loopback): no lock, both runs complete.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from ml_metadata.proto import metadata_store_pb2

from pipeline.config import PipelineConfig, load_config
from pipeline.devtools.services import MariaDB
from pipeline.mlmd import connection as metadata
from pipeline.ops import history
from pipeline.run.guards import run_lock
from tests.support.cli import REPO, run_cli
from tests.support.data import write_click_spans

DAY1 = datetime.date(2026, 11, 1)


@dataclasses.dataclass
class Pair:
    """Two runs started together, and where they wrote."""

    config: PipelineConfig
    config_path: Path
    env: dict[str, str]
    results: list[subprocess.CompletedProcess[str]]
    pids: list[int]
    seconds: float

    def store(self):
        return metadata.open_store(self.config, self.env)

    def versions(self) -> list[str]:
        push_dir = self.config.push_dir
        return sorted(p.name for p in push_dir.iterdir()) if push_dir.exists() else []


def _setup(root: Path, extra_env: dict[str, str]) -> tuple[Path, dict[str, str]]:
    # One day: no backfill run before the main one (the suite's time), 1,500 rows.
    write_click_spans(root / "data", days=1, rows=1500, start=DAY1)
    # The committed config, lighter: the same pipeline, fewer steps, no TFLite.
    raw = yaml.safe_load((REPO / "pipeline" / "configs" / "clicks.yaml").read_text())
    raw["schema_file"] = str(REPO / "schemas" / "clicks" / "schema.pbtxt")
    raw["data"]["input_base"] = str(root / "data")
    raw["outputs"]["root"] = str(root / "out")
    raw["model"]["train_steps"] = 100
    raw["export"]["tflite"] = False
    config_path = root / "clicks.yaml"
    config_path.write_text(yaml.safe_dump(raw))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_", "MLMD_"))},
        **extra_env,
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    return config_path, env


def _run_two(config_path: Path, env: dict[str, str], root: Path) -> Pair:
    command = [sys.executable, "-m", "pipeline", "run", "--config", str(config_path)]
    started = time.monotonic()
    # Output to files, not pipes: the run holding the lock must never block on a
    # full pipe that nobody reads while the test waits for the other run.
    outputs = [(root / f"run{i}.stdout", root / f"run{i}.stderr") for i in range(2)]
    processes = []
    for stdout_path, stderr_path in outputs:
        with stdout_path.open("w") as stdout, stderr_path.open("w") as stderr:
            processes.append(
                subprocess.Popen(command, cwd=REPO, env=env, stdout=stdout, stderr=stderr)
            )
    try:
        for process in processes:
            process.wait(timeout=900)
    finally:
        for process in processes:
            if process.poll() is None:  # timed out: no run outlives the test
                process.kill()
                process.wait()
    results = [
        subprocess.CompletedProcess(
            process.args, process.returncode, out.read_text(), err.read_text()
        )
        for process, (out, err) in zip(processes, outputs, strict=True)
    ]
    seconds = time.monotonic() - started
    return Pair(
        load_config(config_path), config_path, env, results, [p.pid for p in processes], seconds
    )


def _node_states(store, run_id: str) -> dict[str, str]:
    """Each node's execution state in one run; resolvers (never cached) as RESOLVED."""
    run = store.get_context_by_type_and_name("pipeline_run", run_id)
    type_names = {t.id: t.name for t in store.get_execution_types()}
    states = {}
    for execution in store.get_executions_by_context(run.id):
        (node,) = [
            c.name for c in store.get_contexts_by_execution(execution.id) if c.type == "node"
        ]
        state = metadata_store_pb2.Execution.State.Name(execution.last_known_state)
        if type_names[execution.type_id].endswith(".Resolver") and state == "COMPLETE":
            state = "RESOLVED"
        states[node] = state
    return states


@pytest.fixture(scope="module")
def sqlite_pair(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    root = tmp_path_factory.mktemp("concurrent_sqlite")
    config_path, env = _setup(root, {})
    return _run_two(config_path, env, root)


def test_sqlite_runs_take_turns_and_the_database_stays_whole(sqlite_pair: Pair) -> None:
    pair = sqlite_pair
    assert [r.returncode for r in pair.results] == [0, 0], [r.stderr[-3000:] for r in pair.results]
    waited = [
        i for i, r in enumerate(pair.results) if "Waiting for the ML Metadata lock" in r.stderr
    ]
    assert len(waited) == 1, [r.stderr[-2000:] for r in pair.results]
    second, first = waited[0], 1 - waited[0]
    (line,) = [x for x in pair.results[second].stderr.splitlines() if "Waiting for" in x]
    lock_file = f"{pair.config.outputs.metadata_path}{run_lock.LOCK_SUFFIX}"
    assert f"lock {lock_file}: held by run " in line
    assert f"(pid {pair.pids[first]} on host " in line

    with sqlite3.connect(pair.config.outputs.metadata_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]

    result = run_cli(["runs", "--json", "--config", str(pair.config_path)])
    assert result.returncode == 0, result.stderr
    runs = [r for r in json.loads(result.stdout) if r["kind"] == "run"]
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    # Newest first: the waiting run went second, and found every node's result cached.
    newer, older = runs
    assert newer["run_id"] in pair.results[second].stdout
    assert older["run_id"] in pair.results[first].stdout
    store = pair.store()
    assert set(_node_states(store, newer["run_id"]).values()) == {"CACHED", "RESOLVED"}
    assert _node_states(store, older["run_id"])["clicks.Trainer"] == "COMPLETE"
    # One model trained and pushed.
    assert len(store.get_artifacts_by_type("Model")) == 1
    assert pair.versions() == [older["pushed_version"]] and newer["pushed_version"] is None
    assert run_lock.read_holder(Path(lock_file)) is None  # both released it


def test_a_run_or_rollback_told_not_to_wait_refuses_and_records_nothing(sqlite_pair: Pair) -> None:
    pair = sqlite_pair
    store = pair.store()
    before = (len(store.get_executions()), len(store.get_contexts()), len(store.get_artifacts()))
    runs_dir = pair.config.outputs.pipeline_root / "runs"
    reports_before = sorted(runs_dir.iterdir())
    connection = metadata.connection_config(pair.config, pair.env)
    # This test process plays the run in progress.
    with run_lock.hold(connection, timeout_seconds=0) as lock:
        lock.record("2026-11-22T09:00:00.000001")
        started = time.monotonic()
        refused = run_cli(["run", "--no-wait", "--config", str(pair.config_path)])
        rollback = run_cli(["rollback", "--no-wait", "--config", str(pair.config_path)])
        seconds = time.monotonic() - started
    assert seconds < 30
    for result, what in ((refused, "run"), (rollback, "rollback")):
        assert result.returncode == 3, result.stderr
        (paragraph,) = [x for x in result.stderr.splitlines() if x.strip()]
        assert paragraph.startswith(f"error: This {what} did not start: the ML Metadata lock ")
        assert f"held by run 2026-11-22T09:00:00.000001 (pid {os.getpid()} on host " in paragraph
        assert f"nothing was run or recorded by this {what}" in paragraph
    store = pair.store()
    assert (
        len(store.get_executions()),
        len(store.get_contexts()),
        len(store.get_artifacts()),
    ) == before
    assert sorted(runs_dir.iterdir()) == reports_before


@pytest.fixture(scope="module")
def mysql_pair(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("concurrent_mysql")
    mariadb = MariaDB(root / "mariadb").start()
    try:
        # A new, empty database: both runs also race to create MLMD's schema.
        config_path, env = _setup(root, mariadb.environ())
        yield _run_two(config_path, env, root)
    finally:
        mariadb.stop()


@pytest.mark.requires_root("starts MariaDB as root, installed with apt-get")
def test_mysql_runs_both_complete(mysql_pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    pair = mysql_pair
    assert [r.returncode for r in pair.results] == [0, 0], [r.stderr[-3000:] for r in pair.results]
    assert not any("Waiting for" in r.stderr for r in pair.results)  # no lock on MySQL
    assert not Path(f"{pair.config.outputs.metadata_path}{run_lock.LOCK_SUFFIX}").exists()
    store = pair.store()
    records = history.list_runs(store, pair.config.pipeline_name)
    runs = [r for r in records if r.kind == "run"]
    assert len(runs) == 2 and {r.status for r in records} == {"succeeded"}
    for record in runs:
        assert record.run_id in pair.results[0].stdout + pair.results[1].stdout
        states = set(_node_states(store, record.run_id).values())
        assert states and states <= {"COMPLETE", "CACHED", "RESOLVED"}, states
    # Every served version is complete (renamed into place whole), none half-copied,
    # and no staging directory is left.
    versions = pair.versions()
    assert versions and all(v.isdigit() for v in versions)
    for version in versions:
        assert (pair.config.push_dir / version / "saved_model.pb").is_file()
        assert (pair.config.push_dir / version / "variables" / "variables.index").is_file()
    pushed = {r.pushed_version for r in runs if r.pushed_version}
    assert pushed <= set(versions) and pushed
    for key, value in pair.env.items():
        if key.startswith("MLMD_"):  # `runs` in this process reads the same MariaDB
            monkeypatch.setenv(key, value)
    result = run_cli(["runs", "--config", str(pair.config_path)])
    assert result.returncode == 0, result.stderr
    assert all(r.run_id in result.stdout for r in runs), result.stdout
