"""Real Airflow runs of the DAG, with ML Metadata in a real MariaDB on loopback.

The Airflow CLI runs in subprocesses with its own SQLite database; the DebugExecutor
makes `airflow dags backfill` run every task in that one process (one TFX import).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import ml_metadata as mlmd
import pytest
import yaml
from ml_metadata.proto import metadata_store_pb2
from tfx.components.example_gen import utils as example_gen_utils

from pipeline import nodes
from pipeline.config import load_config
from pipeline.mlmd import connection as metadata
from tests.support.cli import REPO
from tests.support.data import write_click_spans
from tests.support.services import MariaDB

pytestmark = pytest.mark.requires_root("starts MariaDB as root, installed with apt-get")

DAG_ID = "clicks_pipeline"
DAY1 = datetime.date(2026, 11, 1)
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def _span(day: datetime.date) -> int:
    return example_gen_utils.date_to_span_number(day.year, day.month, day.day)


@dataclasses.dataclass
class Stack:
    env: dict[str, str]
    data: Path
    serving: Path
    store: mlmd.MetadataStore

    def airflow(self, *args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [AIRFLOW, *args], capture_output=True, text=True, env=self.env, timeout=timeout
        )

    def versions(self) -> list[str]:
        return sorted(p.name for p in self.serving.iterdir()) if self.serving.exists() else []


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("airflow_e2e")
    mariadb = MariaDB(root / "mariadb").start()
    # A lighter copy of the committed config: the same pipeline, fewer steps.
    raw = yaml.safe_load((REPO / "pipeline" / "configs" / "clicks.yaml").read_text())
    raw["schema_file"] = str(REPO / "schemas" / "clicks" / "schema.pbtxt")
    raw["data"]["input_base"] = str(root / "data")
    raw["outputs"]["root"] = str(root / "out")
    raw["model"]["train_steps"] = 100
    config_path = root / "clicks.yaml"
    config_path.write_text(yaml.safe_dump(raw))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_", "MLMD_"))},
        **mariadb.environ(),
        "AIRFLOW_HOME": str(root / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "DebugExecutor",
        "PIPELINE_CONFIG": str(config_path),
        "PIPELINE_RETRY_DELAY_SECONDS": "3",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    for command in (["db", "migrate"], ["dags", "reserialize"]):
        result = subprocess.run(
            [AIRFLOW, *command], capture_output=True, text=True, env=env, timeout=300
        )
        assert result.returncode == 0, result.stderr[-2000:]
    write_click_spans(root / "data", days=4, rows=1500, start=DAY1)
    config = load_config(config_path)
    yield Stack(env, root / "data", config.push_dir, metadata.open_store(config, mariadb.environ()))
    mariadb.stop()


def _runs(stack: Stack) -> list[dict]:
    result = stack.airflow("dags", "list-runs", "-d", DAG_ID, "-o", "json")
    assert result.returncode == 0, result.stderr[-2000:]
    # Airflow may log lines (also starting with "[") before the JSON document.
    for line in reversed(result.stdout.splitlines()):
        if line.startswith("[{") or line == "[]":
            return json.loads(line)
    raise AssertionError(f"no JSON in: {result.stdout[-2000:]}")


def _node_executions(store: mlmd.MetadataStore, node_id: str) -> list[metadata_store_pb2.Execution]:
    context = store.get_context_by_type_and_name("node", f"clicks.{node_id}")
    return sorted(store.get_executions_by_context(context.id), key=lambda e: e.id)


def _ingested_span(store: mlmd.MetadataStore, execution_id: int) -> int:
    events = store.get_events_by_execution_ids([execution_id])
    (examples,) = store.get_artifacts_by_id(
        [e.artifact_id for e in events if e.type == metadata_store_pb2.Event.OUTPUT]
    )
    return examples.custom_properties["span"].int_value


@pytest.fixture(scope="module")
def first_day(stack: Stack) -> subprocess.CompletedProcess[str]:
    return stack.airflow("dags", "test", DAG_ID, DAY1.isoformat())


def test_dags_test_runs_every_task_and_pushes_the_first_model(
    stack: Stack, first_day: subprocess.CompletedProcess[str]
) -> None:
    output = first_day.stdout + first_day.stderr
    assert first_day.returncode == 0, output[-4000:]
    states = {
        task: state
        for state, task in re.findall(
            r"Marking task as (\w+)\. dag_id=clicks_pipeline, task_id=(\w+)", output
        )
    }
    assert states == {node: "SUCCESS" for node in nodes.UPSTREAM}
    assert len(stack.versions()) == 1
    (pushed,) = stack.store.get_artifacts_by_type("PushedModel")
    assert pushed.custom_properties["pushed"].int_value == 1
    assert pushed.custom_properties["pushed_destination"].string_value == str(
        stack.serving / stack.versions()[0]
    )


@pytest.fixture(scope="module")
def backfilled(stack: Stack, first_day: subprocess.CompletedProcess[str]) -> Stack:
    assert first_day.returncode == 0
    result = stack.airflow(
        "dags",
        "backfill",
        "-s",
        (DAY1 + datetime.timedelta(days=1)).isoformat(),
        "-e",
        (DAY1 + datetime.timedelta(days=3)).isoformat(),
        DAG_ID,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return stack


def test_backfill_processes_three_spans_in_order(backfilled: Stack) -> None:
    runs = [r for r in _runs(backfilled) if r["run_id"].startswith("backfill__")]
    assert sorted(r["execution_date"][:10] for r in runs) == [
        (DAY1 + datetime.timedelta(days=d)).isoformat() for d in (1, 2, 3)
    ]
    assert {r["state"] for r in runs} == {"success"}
    ingests = [
        e
        for e in _node_executions(backfilled.store, nodes.EXAMPLE_GEN)
        if e.last_known_state == metadata_store_pb2.Execution.COMPLETE
    ]
    assert [_ingested_span(backfilled.store, e.id) for e in ingests] == [
        _span(DAY1 + datetime.timedelta(days=d)) for d in range(4)
    ]


def test_metadata_in_mysql_has_the_local_runner_layout(backfilled: Stack) -> None:
    store = backfilled.store
    assert {t.name for t in store.get_context_types()} >= {"pipeline", "pipeline_run", "node"}
    assert not {"run", "component_run"} & {t.name for t in store.get_context_types()}
    # One pipeline_run context per Airflow DAG run, named by its run id, holding
    # every node's execution.
    run_contexts = {c.name for c in store.get_contexts_by_type("pipeline_run")}
    airflow_run_ids = {r["run_id"] for r in _runs(backfilled)}
    assert airflow_run_ids <= run_contexts
    for run_id in airflow_run_ids:
        context = store.get_context_by_type_and_name("pipeline_run", run_id)
        executed = {
            c.name.split(".", 1)[1]
            for e in store.get_executions_by_context(context.id)
            for c in store.get_contexts_by_execution(e.id)
            if c.type == "node"
        }
        assert executed == set(nodes.UPSTREAM)


def test_rerunning_a_date_pushes_nothing_new(backfilled: Stack) -> None:
    before = backfilled.versions()
    day4 = (DAY1 + datetime.timedelta(days=3)).isoformat()
    result = backfilled.airflow("dags", "test", DAG_ID, day4)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "state=success" in result.stdout + result.stderr
    run = backfilled.store.get_contexts_by_type("pipeline_run")
    newest = max(run, key=lambda c: c.id)
    states = {
        e.last_known_state
        for e in backfilled.store.get_executions_by_context(newest.id)
        if not any(
            c.name.endswith(nodes.RESOLVERS)
            for c in backfilled.store.get_contexts_by_execution(e.id)
            if c.type == "node"
        )
    }
    assert states == {metadata_store_pb2.Execution.CACHED}
    assert backfilled.versions() == before


def test_a_task_that_fails_once_is_retried_and_the_run_succeeds(backfilled: Stack) -> None:
    # The day's data lands late: CsvExampleGen's first try finds no span and fails;
    # the file arrives; the retry ingests it and the run completes.
    day5 = DAY1 + datetime.timedelta(days=4)
    process = subprocess.Popen(
        [AIRFLOW, "dags", "test", DAG_ID, day5.isoformat()],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=backfilled.env,
    )
    lines: list[str] = []
    landed = threading.Event()

    def read() -> None:
        for line in process.stdout:
            lines.append(line)
            if "UP_FOR_RETRY" in line and "task_id=CsvExampleGen" in line and not landed.is_set():
                write_click_spans(backfilled.data, days=1, rows=1500, start=day5)
                landed.set()

    reader = threading.Thread(target=read)
    reader.start()
    process.wait(timeout=900)
    reader.join(timeout=60)
    output = "".join(lines)
    assert landed.is_set(), output[-4000:]
    assert process.returncode == 0, output[-4000:]
    assert "Marking task as SUCCESS. dag_id=clicks_pipeline, task_id=CsvExampleGen" in output
    assert "state=success" in output
    ingests = [
        e
        for e in _node_executions(backfilled.store, nodes.EXAMPLE_GEN)
        if e.last_known_state == metadata_store_pb2.Execution.COMPLETE
    ]
    assert _ingested_span(backfilled.store, ingests[-1].id) == _span(day5)
