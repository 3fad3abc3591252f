"""The DAG under a real ``airflow scheduler``: LocalExecutor, PostgreSQL, MLMD in MariaDB.

The compose stack's shape without Docker (pipeline.devtools.airflow_stack): every task
runs in a process of the scheduler's executor, states live in PostgreSQL, and the
tests only unpause, trigger and read what the scheduler did.

Days follow the real clock, because the scheduler does: it never runs a logical date
in the future (``allow_trigger_in_future`` only applies to unscheduled DAGs). With a
weekly cron on today's weekday, the newest finished interval began exactly seven days
ago, so unpausing schedules that one day (start date = that day, catchup off) and the
six days after it are in the past, free to trigger as the following days.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import time
from collections.abc import Iterator
from pathlib import Path

import ml_metadata as mlmd
import psutil
import pytest
import yaml
from ml_metadata.proto import metadata_store_pb2

from pipeline import nodes
from pipeline.config import PipelineConfig, load_config, with_env_overrides
from pipeline.devtools import clickgen
from pipeline.devtools.airflow_stack import AirflowStack, DagRunState
from pipeline.devtools.services import MariaDB, PostgreSQL
from pipeline.mlmd import connection as metadata
from pipeline.mlmd import queries
from pipeline.run.airflow_dag import REFRESH_DASHBOARD, TIMING_PREFIX, WAIT_FOR_DATA
from tests.support.cli import REPO
from tests.support.data import pushed_versions, write_click_spans
from tests.support.receivers import HttpReceiver

pytestmark = pytest.mark.requires_root(
    "starts PostgreSQL (as the postgres user) and MariaDB, installed with apt-get"
)

DAG_ID = "clicks_pipeline"
PIPELINE = "clicks"
ROWS = 1500
SEED = 11  # write_click_spans' seed: the bad day differs from a good one only by its fault
# [core] executor of the scheduler: the compose stack's, TFX imported once.
EXECUTOR = "pipeline.run.airflow_executor.PreloadedLocalExecutor"
# CsvExampleGen's execution_timeout: minutes more than it needs on these days
# (no older span to validate first), short enough to wait for twice (HUNG).
EXAMPLE_GEN_TIMEOUT = 45

TODAY = datetime.datetime.now(datetime.timezone.utc).date()
FIRST = TODAY - datetime.timedelta(days=7)  # the day unpausing schedules
NEXT = FIRST + datetime.timedelta(days=1)  # triggered: evaluated against FIRST's model
BAD = FIRST + datetime.timedelta(days=2)  # purchase_quantity -1: stopped by the DataGate
AFTER_BAD = FIRST + datetime.timedelta(days=3)  # triggered after the bad day: still runs
LATE = FIRST + datetime.timedelta(days=4)  # its file lands after the sensor started
HUNG = FIRST + datetime.timedelta(days=5)  # its file is a FIFO nobody writes: reads hang
# Cron weekdays count from Sunday (0), Python's from Monday (0).
WEEKLY_ON_TODAY = f"0 0 * * {(TODAY.weekday() + 1) % 7}"


@dataclasses.dataclass
class Stack:
    """The running services, the pipeline config and the DAG's task graph."""

    airflow: AirflowStack
    mariadb: MariaDB
    postgres: PostgreSQL
    config: PipelineConfig
    data: Path
    store: mlmd.MetadataStore
    graph: dict[str, list[str]]

    def stop(self) -> None:
        """Stops the scheduler, then the databases it used (each by pid)."""
        self.airflow.stop()
        self.mariadb.stop()
        self.postgres.stop()

    def states(self, run_id: str) -> dict[str, str | None]:
        return {t.task_id: t.state for t in self.airflow.task_instances(DAG_ID, run_id)}

    def downstream_of(self, task_id: str) -> set[str]:
        found: set[str] = set()
        frontier = {task_id}
        while frontier:
            frontier = {t for t, up in self.graph.items() if frontier & set(up)} - found
            found |= frontier
        return found

    def pushed(self) -> list[metadata_store_pb2.Artifact]:
        return [
            a
            for a in self.store.get_artifacts_by_type("PushedModel")
            if a.custom_properties["pushed"].int_value == 1
        ]


@pytest.fixture(scope="module")
def receiver() -> Iterator[HttpReceiver]:
    """The JSON webhook the DAG's alerts go to (``alerts.webhook_url``)."""
    with HttpReceiver() as http:
        yield http


def _alerts(receiver: HttpReceiver, kind: str) -> list[dict]:
    return [body for body in receiver.bodies if body["kind"] == kind]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, receiver: HttpReceiver) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("airflow_scheduler")
    # A lighter copy of the committed config: the same pipeline, fewer steps; small
    # days, so a looser regression allowance judges the model, not eval-split noise.
    raw = yaml.safe_load((REPO / "pipeline" / "configs" / "clicks.yaml").read_text())
    raw["schema_file"] = str(REPO / "schemas" / "clicks" / "schema.pbtxt")
    raw["data"]["input_base"] = str(root / "data")
    raw["outputs"]["root"] = str(root / "out")
    raw["model"]["train_steps"] = 100
    raw["evaluation"]["max_regression"] = 0.1
    raw["alerts"] = {"webhook_url": receiver.url}
    raw["airflow"] = {
        "poke_interval_seconds": 2,
        "wait_for_data_seconds": 600,
        "dagrun_timeout_seconds": 1800,
        "task_timeouts": {nodes.EXAMPLE_GEN: EXAMPLE_GEN_TIMEOUT},
        "retries": 1,
    }
    config_path = root / "clicks.yaml"
    config_path.write_text(yaml.safe_dump(raw))
    config = with_env_overrides(load_config(config_path), {})
    # FIRST alone: the window fills day by day, so no CsvExampleGen task validates
    # older spans first and EXAMPLE_GEN_TIMEOUT stays short.
    write_click_spans(root / "data", days=1, rows=ROWS, start=FIRST)

    postgres = PostgreSQL()
    mariadb = MariaDB(root / "mariadb")
    airflow = AirflowStack(
        root / "airflow",
        postgres.url,
        mariadb.environ(),
        config_path,
        executor=EXECUTOR,
        extra_environ={
            "PIPELINE_START_DATE": FIRST.isoformat(),
            "PIPELINE_SCHEDULE": WEEKLY_ON_TODAY,
            "PIPELINE_CATCHUP": "false",
            "PIPELINE_RETRY_DELAY_SECONDS": "3",
        },
    )
    try:
        postgres.start()
        mariadb.start()
        airflow.start()
        yield Stack(
            airflow,
            mariadb,
            postgres,
            config,
            root / "data",
            metadata.open_store(config, mariadb.environ()),
            airflow.task_graph(DAG_ID),
        )
    finally:
        airflow.stop()
        mariadb.stop()
        postgres.stop()


@pytest.fixture(scope="module")
def first_run(stack: Stack) -> DagRunState:
    assert stack.airflow.runs(DAG_ID) == []  # paused at creation: nothing ran yet
    stack.airflow.unpause(DAG_ID)
    return stack.airflow.wait_for_run(DAG_ID, logical_date=FIRST, timeout=1800)


def test_unpausing_schedules_the_newest_day_which_succeeds_and_pushes(
    stack: Stack, first_run: DagRunState
) -> None:
    assert first_run.run_type == "scheduled"
    assert first_run.state == "success", stack.states(first_run.run_id)
    # Only the due interval ran: catchup off, and no later interval has ended.
    assert [r.run_id for r in stack.airflow.runs(DAG_ID)] == [first_run.run_id]
    assert stack.states(first_run.run_id) == {task: "success" for task in stack.graph}

    versions = pushed_versions(stack.config)
    assert len(versions) == 1
    (pushed,) = stack.pushed()
    assert pushed.custom_properties["pushed_destination"].string_value == str(
        stack.config.push_dir / versions[0]
    )
    # ML Metadata in MariaDB has the local runner's layout: the Airflow run id names
    # the pipeline_run context, which holds the push and every task's node.
    context_types = {t.name for t in stack.store.get_context_types()}
    assert {queries.PIPELINE_CONTEXT, queries.RUN_CONTEXT, queries.NODE_CONTEXT} <= context_types
    assert not {"run", "component_run"} & context_types  # TFX's Airflow runner's layout
    run = queries.run(stack.store, PIPELINE, first_run.run_id)
    # Resolvers included: each ran inside its consumer's task, recorded as locally.
    assert set(run.by_node) == set(nodes.UPSTREAM)
    producer = queries.producer(stack.store, pushed.id)
    assert producer is not None and producer.id == run.by_node[nodes.PUSHER].id


def test_every_task_starts_with_tfx_already_imported(stack: Stack, first_run: DagRunState) -> None:
    # PreloadedLocalExecutor: each task process is forked from the scheduler, which
    # imported TFX once; a task importing it itself spends ~15 s there.
    imports = {}
    # The sensor and the dashboard's refresh launch no TFX node.
    for task in stack.airflow.task_instances(DAG_ID, first_run.run_id):
        if task.task_id in (WAIT_FOR_DATA, REFRESH_DASHBOARD):
            continue
        timing = stack.airflow.task_log_json(
            DAG_ID, first_run.run_id, task.task_id, task.try_number, TIMING_PREFIX
        )
        assert timing is not None, task.task_id
        imports[task.task_id] = timing["imports"]
    assert set(imports) == set(stack.graph) - {WAIT_FOR_DATA, REFRESH_DASHBOARD}
    assert max(imports.values()) < 1.0, imports


@pytest.fixture(scope="module")
def next_run(stack: Stack, first_run: DagRunState) -> DagRunState:
    write_click_spans(stack.data, days=1, rows=ROWS, start=NEXT)
    run_id = stack.airflow.trigger(DAG_ID, NEXT)
    return stack.airflow.wait_for_run(DAG_ID, run_id, timeout=1800)


def test_a_triggered_next_day_succeeds_against_the_first_model(
    stack: Stack, first_run: DagRunState, next_run: DagRunState
) -> None:
    assert next_run.state == "success", stack.states(next_run.run_id)
    assert stack.states(next_run.run_id) == {task: "success" for task in stack.graph}
    first = queries.run(stack.store, PIPELINE, first_run.run_id)
    first_model = queries.artifact(stack.store, first.by_node[nodes.TRAINER], "model")
    evaluator = queries.run(stack.store, PIPELINE, next_run.run_id).by_node[nodes.EVALUATOR]
    baseline = queries.artifact(
        stack.store, evaluator, "baseline_model", metadata_store_pb2.Event.INPUT
    )
    assert first_model is not None and baseline is not None
    assert baseline.id == first_model.id


@pytest.fixture(scope="module")
def bad_and_after(stack: Stack, next_run: DagRunState) -> tuple[DagRunState, DagRunState, int]:
    pushed_before = len(stack.pushed())
    clickgen.write_day(stack.data, BAD, rows=ROWS, seed=SEED, inject=("negative_quantity",))
    bad = stack.airflow.wait_for_run(DAG_ID, stack.airflow.trigger(DAG_ID, BAD), timeout=1800)
    pushed_after_bad = len(stack.pushed()) - pushed_before
    write_click_spans(stack.data, days=1, rows=ROWS, start=AFTER_BAD)
    after = stack.airflow.wait_for_run(
        DAG_ID, stack.airflow.trigger(DAG_ID, AFTER_BAD), timeout=1800
    )
    return bad, after, pushed_after_bad


def test_a_bad_day_fails_at_the_data_gate_with_its_paragraph_and_pushes_nothing(
    stack: Stack, bad_and_after: tuple[DagRunState, DagRunState, int]
) -> None:
    bad, _, pushed = bad_and_after
    assert bad.state == "failed"
    states = stack.states(bad.run_id)
    # The refresh ran after the stop; a teardown, it left the run failed.
    assert states.pop(REFRESH_DASHBOARD) == "success"
    stopped = stack.downstream_of(nodes.DATA_GATE) - {REFRESH_DASHBOARD}
    assert states[nodes.DATA_GATE] == "failed"
    assert {t: states[t] for t in stopped} == {t: "upstream_failed" for t in stopped}
    before_gate = set(stack.graph) - stopped - {nodes.DATA_GATE, REFRESH_DASHBOARD}
    assert {t: states[t] for t in before_gate} == {t: "success" for t in before_gate}
    assert pushed == 0

    (gate,) = [
        t for t in stack.airflow.task_instances(DAG_ID, bad.run_id) if t.task_id == nodes.DATA_GATE
    ]
    log = stack.airflow.task_log(DAG_ID, bad.run_id, nodes.DATA_GATE, gate.try_number)
    assert "purchase_quantity: INT_TYPE_SMALL_INT" in log
    assert "Unexpectedly small value: -" in log
    # The DataGate's verdict is deterministic: no retry.
    assert gate.try_number == 1


def test_a_bad_day_alerts_once_with_the_day_and_the_feature(
    receiver: HttpReceiver, bad_and_after: tuple[DagRunState, DagRunState, int]
) -> None:
    (alert,) = _alerts(receiver, "gate_stopped")
    assert alert["details"]["day"] == BAD.isoformat()
    assert BAD.isoformat() in alert["text"]
    assert "purchase_quantity" in alert["text"] and "INT_TYPE_SMALL_INT" in alert["text"]
    # Neither a task_failed alert for the same stop, nor anything for the good days.
    assert [b["kind"] for b in receiver.bodies] == ["gate_stopped"]


def test_the_day_after_a_bad_day_still_runs_and_succeeds(
    stack: Stack, bad_and_after: tuple[DagRunState, DagRunState, int]
) -> None:
    bad, after, _ = bad_and_after
    assert after.state == "success", stack.states(after.run_id)
    assert after.start is not None and bad.end is not None and after.start >= bad.end
    assert stack.states(after.run_id) == {task: "success" for task in stack.graph}


def test_each_run_refreshes_its_report_and_the_dashboard(
    stack: Stack, bad_and_after: tuple[DagRunState, DagRunState, int]
) -> None:
    from pipeline.run.outputs import HTML_REPORT_FILE, dashboard_path, run_dir

    bad, after, _ = bad_and_after
    for run in (bad, after):
        assert (run_dir(stack.config, run.run_id) / HTML_REPORT_FILE).is_file(), run.run_id
    page = dashboard_path(stack.config).read_text()
    # Written by the last DAG run's refresh: every day so far, the bad one stopped.
    for day in (FIRST, NEXT, BAD, AFTER_BAD):
        assert f'id="day-{day.isoformat()}"' in page, day
    assert "stopped days: data gate 1" in page
    assert f'href="runs/{bad.run_id.replace(":", "-")}/report.html"' in page


@pytest.fixture(scope="module")
def late_run(stack: Stack, bad_and_after: tuple[DagRunState, DagRunState, int]) -> DagRunState:
    run_id = stack.airflow.trigger(DAG_ID, LATE)
    # The sensor looks, finds nothing and gives its slot back (reschedule mode)...
    deadline = time.monotonic() + 300
    while stack.states(run_id).get(WAIT_FOR_DATA) != "up_for_reschedule":
        assert time.monotonic() < deadline, stack.states(run_id)
        time.sleep(0.5)
    assert stack.states(run_id)[nodes.EXAMPLE_GEN] is None  # nothing ran yet
    # ...then the day's file lands.
    write_click_spans(stack.data, days=1, rows=ROWS, start=LATE)
    return stack.airflow.wait_for_run(DAG_ID, run_id, timeout=1800)


def test_a_late_file_delays_the_run_without_a_failed_try(
    stack: Stack, late_run: DagRunState
) -> None:
    assert late_run.state == "success", stack.states(late_run.run_id)
    tries = stack.airflow.task_instances(DAG_ID, late_run.run_id)
    assert {t.task_id: (t.state, t.try_number) for t in tries} == {
        task: ("success", 1) for task in stack.graph
    }
    assert stack.airflow.earlier_tries(DAG_ID, late_run.run_id) == []


@pytest.fixture(scope="module")
def hung_run(stack: Stack, late_run: DagRunState) -> Iterator[tuple[DagRunState, list[str]]]:
    # Reading a FIFO nobody writes blocks forever: CsvExampleGen hangs as on a stuck
    # network mount. The sensor sees a file and lets the run start.
    (stack.data / HUNG.isoformat()).mkdir()
    fifo = stack.data / HUNG.isoformat() / "clicks.csv"
    os.mkfifo(fifo)
    served = pushed_versions(stack.config)
    try:
        run = stack.airflow.wait_for_run(DAG_ID, stack.airflow.trigger(DAG_ID, HUNG), timeout=1800)
        yield run, served
    finally:
        fifo.unlink()


def test_a_hung_task_is_failed_at_its_timeout_retried_and_alerted(
    stack: Stack, receiver: HttpReceiver, hung_run: tuple[DagRunState, list[str]]
) -> None:
    hung, served = hung_run
    assert hung.state == "failed"
    (gen,) = [
        t
        for t in stack.airflow.task_instances(DAG_ID, hung.run_id)
        if t.task_id == nodes.EXAMPLE_GEN
    ]
    assert (gen.state, gen.try_number) == ("failed", 2)
    (first,) = stack.airflow.earlier_tries(DAG_ID, hung.run_id)
    assert (first.task_id, first.try_number) == (nodes.EXAMPLE_GEN, 1)
    for attempt in (first, gen):
        log = stack.airflow.task_log(DAG_ID, hung.run_id, nodes.EXAMPLE_GEN, attempt.try_number)
        assert "AirflowTaskTimeout" in log, log[-3000:]
        assert attempt.duration is not None
        assert EXAMPLE_GEN_TIMEOUT <= attempt.duration < EXAMPLE_GEN_TIMEOUT + 60
    # One alert, after the last try, naming the task, the day and the timeout.
    (alert,) = _alerts(receiver, "task_failed")
    assert alert["details"]["day"] == HUNG.isoformat()
    assert alert["details"]["task_id"] == nodes.EXAMPLE_GEN
    assert alert["details"]["try_number"] == "2"
    assert "AirflowTaskTimeout" in alert["text"]
    assert pushed_versions(stack.config) == served


def _component_executions(stack: Stack, run_id: str) -> dict[str, list[int]]:
    context = stack.store.get_context_by_type_and_name(queries.RUN_CONTEXT, run_id)
    found: dict[str, list[int]] = {}
    for execution in sorted(stack.store.get_executions_by_context(context.id), key=lambda e: e.id):
        (node,) = [
            c.name.split(".", 1)[1]
            for c in stack.store.get_contexts_by_execution(execution.id)
            if c.type == queries.NODE_CONTEXT
        ]
        if node not in nodes.RESOLVERS:
            found.setdefault(node, []).append(execution.id)
    return found


def test_clearing_a_finished_day_reruns_it_without_recomputing_or_pushing(
    stack: Stack, late_run: DagRunState, hung_run: tuple[DagRunState, list[str]]
) -> None:
    served = pushed_versions(stack.config)
    before = _component_executions(stack, late_run.run_id)
    assert set(before) == set(stack.graph) - {WAIT_FOR_DATA, REFRESH_DASHBOARD}
    day = LATE.isoformat()
    stack.airflow.airflow("tasks", "clear", "--yes", "-s", day, "-e", day, DAG_ID)
    rerun = stack.airflow.wait_for_run(DAG_ID, late_run.run_id, timeout=900)
    assert rerun.state == "success", stack.states(rerun.run_id)
    assert rerun.start is not None and late_run.end is not None and rerun.start > late_run.end
    # Same Airflow run id, same TFX pipeline_run context: TFX's launcher finds each
    # component's successful execution in it and exits without running the executor
    # again or overwriting its outputs (only the resolvers look their inputs up anew).
    assert _component_executions(stack, late_run.run_id) == before
    assert pushed_versions(stack.config) == served


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_stopping_the_stack_leaves_none_of_its_processes_alive(stack: Stack) -> None:
    # Last in the module: stops what the fixture started (its teardown then finds
    # everything stopped already).
    scheduler = stack.airflow.scheduler_pid
    servers = [stack.postgres.pid, stack.mariadb.pid]
    started = set(stack.airflow.started_pids)
    assert scheduler in stack.airflow.alive_pids()
    assert len(started) > 1  # the scheduler and the processes it started
    assert all(pid is not None and _running(pid) for pid in servers)
    stack.stop()
    assert stack.airflow.alive_pids() == []
    still = [pid for pid in [*servers, *started] if pid is not None and _running(pid)]
    assert still == []
