"""The Airflow DAG file: integrity, task graph and parse cost (real Airflow DagBag)."""

from __future__ import annotations

import ast
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import nodes
from pipeline.run.airflow_dag import REFRESH_DASHBOARD, WAIT_FOR_DATA

DAG_ID = "clicks_pipeline"


@pytest.fixture(scope="module")
def dagbag(repo: Path):
    from airflow.models import DagBag

    return DagBag(dag_folder=str(repo / "dags"), include_examples=False)


def test_dag_files_import_without_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {DAG_ID}


def test_a_sensor_then_one_task_per_component_with_resolvers_inside(dagbag) -> None:
    dag = dagbag.dags[DAG_ID]
    components = set(nodes.UPSTREAM) - set(nodes.RESOLVERS)
    assert {task.task_id for task in dag.tasks} == components | {WAIT_FOR_DATA, REFRESH_DASHBOARD}
    # A node waits for the task of each of its upstream nodes, a resolver's upstream
    # included (the resolver runs in its consumer's task).
    task_of = {node: nodes.CONSUMER.get(node, node) for node in nodes.UPSTREAM}
    for task in dag.tasks:
        if task.task_id == WAIT_FOR_DATA:
            assert task.upstream_task_ids == set()
            continue
        if task.task_id == REFRESH_DASHBOARD:
            # After everything, whatever it ended in; a teardown never decides the
            # run's state, so a stopped day is still a failed run.
            assert task.upstream_task_ids == {t.task_id for t in dag.tasks} - {task.task_id}
            assert task.is_teardown and task.trigger_rule == "all_done_setup_success"
            continue
        launched = nodes.tasks(tflite=True)[task.task_id].nodes
        expected = {task_of[p] for n in launched for p in nodes.UPSTREAM[n]} - {task.task_id}
        assert task.upstream_task_ids == (expected or {WAIT_FOR_DATA}), task.task_id
    # Every resolver runs in exactly one task, before the node that consumes it.
    launched_everywhere = [n for t in nodes.tasks(tflite=True).values() for n in t.nodes]
    assert sorted(launched_everywhere) == sorted(nodes.UPSTREAM)
    for resolver, consumer in nodes.CONSUMER.items():
        order = nodes.tasks(tflite=True)[consumer].nodes
        assert order.index(resolver) < order.index(consumer)


def test_the_sensor_waits_in_reschedule_mode_with_the_configured_limits(dagbag) -> None:
    sensor = dagbag.dags[DAG_ID].get_task(WAIT_FOR_DATA)
    assert sensor.mode == "reschedule"
    assert sensor.poke_interval == 300
    assert sensor.timeout == 6 * 3600


def test_schedule_retries_and_tags(dagbag) -> None:
    dag = dagbag.dags[DAG_ID]
    assert dag.schedule_interval == "@daily"
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert set(dag.tags) == {"tfx", "clicks"}
    assert dag.dagrun_timeout == datetime.timedelta(hours=12)
    # Alerts: the run past its time limit, and every task failing after its last try.
    from pipeline.alerts.callbacks import RunTimeoutAlert, TaskFailureAlert

    assert isinstance(dag.on_failure_callback, RunTimeoutAlert)
    for task in dag.tasks:
        assert isinstance(task.on_failure_callback, TaskFailureAlert), task.task_id
    for task in dag.tasks:
        if task.task_id == WAIT_FOR_DATA:
            continue
        assert task.execution_timeout == datetime.timedelta(hours=2)
        # The data gate's verdict is deterministic; every other task retries.
        assert task.retries == (0 if task.task_id == nodes.DATA_GATE else 2)
        assert task.retry_exponential_backoff is True
        assert task.retry_delay == datetime.timedelta(seconds=300)


def test_settings_come_from_the_environment(repo: Path) -> None:
    from pipeline.run.airflow_dag import build_dag

    dag = build_dag(
        repo / "pipeline" / "configs" / "wine.yaml",
        {
            "PIPELINE_CATCHUP": "true",
            "PIPELINE_TASK_RETRIES": "4",
            "PIPELINE_RETRY_DELAY_SECONDS": "7",
            "PIPELINE_START_DATE": "2026-01-15",
            "PIPELINE_SCHEDULE": "none",
        },
    )
    assert dag.dag_id == "wine_pipeline"
    assert dag.schedule_interval is None
    assert dag.catchup is True
    assert dag.start_date.date() == datetime.date(2026, 1, 15)
    retried = {t for t in dag.tasks if t.task_id not in (nodes.DATA_GATE, WAIT_FOR_DATA)}
    assert {t.retries for t in retried} == {4}
    assert {t.retry_delay for t in dag.tasks} == {datetime.timedelta(seconds=7)}


def test_timeouts_and_the_wait_come_from_the_config(repo: Path, tmp_path: Path) -> None:
    import yaml

    from pipeline.run.airflow_dag import build_dag

    raw = yaml.safe_load((repo / "pipeline" / "configs" / "wine.yaml").read_text())
    raw["airflow"] = {
        "wait_for_data_seconds": 600,
        "poke_interval_seconds": 30,
        "task_timeout_seconds": 900,
        "task_timeouts": {"Trainer": 1800},
        "dagrun_timeout_seconds": 3600,
        "retries": 1,
    }
    path = tmp_path / "wine.yaml"
    path.write_text(yaml.safe_dump(raw))
    dag = build_dag(path, {})
    assert dag.dagrun_timeout == datetime.timedelta(hours=1)
    sensor = dag.get_task(WAIT_FOR_DATA)
    assert (sensor.timeout, sensor.poke_interval) == (600, 30)
    timeouts = {t.task_id: t.execution_timeout for t in dag.tasks if t.task_id != WAIT_FOR_DATA}
    assert timeouts.pop(nodes.TRAINER) == datetime.timedelta(minutes=30)
    assert set(timeouts.values()) == {datetime.timedelta(minutes=15)}
    assert dag.get_task(nodes.TRANSFORM).retries == 1


def test_parsing_is_fast_and_imports_no_tensorflow(repo: Path, tmp_path: Path) -> None:
    # A fresh interpreter, as Airflow's DAG processor uses: the file's own parse time
    # (Airflow's dagbag_stats) must stay far below the 30 s dagbag_import_timeout.
    code = (
        "import json, sys\n"
        "from airflow.models import DagBag\n"
        f"bag = DagBag(dag_folder={str(repo / 'dags')!r}, include_examples=False)\n"
        "print(json.dumps({'seconds': max(s.duration.total_seconds() for s in bag.dagbag_stats),"
        " 'errors': list(bag.import_errors), 'tf': 'tensorflow' in sys.modules,"
        " 'tfx': 'tfx' in sys.modules}))\n"
    )
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    stats = json.loads(result.stdout.strip().splitlines()[-1])
    assert stats["errors"] == []
    # The speed itself is guarded by what the file does not import (TF, TFX); the
    # bound is Airflow's own dagbag_import_timeout, past which the DAG is dropped.
    assert stats["tf"] is False and stats["tfx"] is False
    assert stats["seconds"] < 30.0, stats


def test_tasks_backfill_without_importing_the_local_runner(repo: Path) -> None:
    # Every import statement of the DAG file, at module level or inside a task body,
    # run in a fresh interpreter: the window backfill comes from pipeline.run.backfill,
    # and nothing a task imports pulls in the local runner (LocalDagRunner).
    tree = ast.parse((repo / "pipeline" / "run" / "airflow_dag.py").read_text(encoding="utf-8"))
    imports = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    statements = "\n".join(ast.unparse(node) for node in imports)
    code = (
        f"{statements}\n"
        "import sys\n"
        "print('pipeline.run.local' in sys.modules, 'pipeline.run.backfill' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=repo, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-2:] == ["False", "True"]
