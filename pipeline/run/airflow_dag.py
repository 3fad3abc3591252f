"""The Airflow DAG: the same ``create_pipeline(config)``, one task per TFX component.

Airflow parses DAG files every few seconds with a 30 s budget, and ``import tfx``
alone takes ~15 s, so nothing here imports TensorFlow or TFX at module level: the
task graph comes from :func:`pipeline.nodes.tasks` (checked against the compiled
pipeline by the tests) and each task imports TFX when it runs (or finds it already
imported: :mod:`pipeline.run.airflow_executor`).

A task compiles the pipeline to IR with the Airflow run id as TFX's pipeline run id
and launches its nodes with TFX's IR launcher (:mod:`pipeline.run.launch`), exactly
as the local runner does, so ML Metadata has one layout whichever runner ran. A
resolver node has no task: it is launched in its consumer's task, just before it,
and records the same execution and lineage as in a local run.

The first task, ``wait_for_data``, waits for the day's files in ``reschedule`` mode
(it frees its worker slot between looks), so a late upload delays the run instead
of failing it. The last, ``refresh_dashboard``, runs whatever the others ended in
(an Airflow teardown task, so it never decides the DAG run's state): it writes the
run's ``report.html`` and the pipeline's ``dashboard.html``.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from airflow import DAG
from airflow.operators.python import PythonOperator
from airflow.sensors.python import PythonSensor

from pipeline import nodes
from pipeline.alerts.callbacks import dag_failure_callback, task_failure_callback
from pipeline.config import (
    DEFAULT_CONFIG,
    ENV_DATA_ROOT,
    ENV_METADATA_PATH,
    ENV_OUTPUT_ROOT,
    ENV_SERVING_DIR,
    PipelineConfig,
    load_config,
    with_env_overrides,
)

ENV_CONFIG = "PIPELINE_CONFIG"
ENV_START_DATE = "PIPELINE_START_DATE"
ENV_SCHEDULE = "PIPELINE_SCHEDULE"
ENV_CATCHUP = "PIPELINE_CATCHUP"
ENV_RETRIES = "PIPELINE_TASK_RETRIES"
ENV_RETRY_DELAY = "PIPELINE_RETRY_DELAY_SECONDS"
ENV_MAX_RETRY_DELAY = "PIPELINE_MAX_RETRY_DELAY_SECONDS"
WAIT_FOR_DATA = "wait_for_data"
REFRESH_DASHBOARD = "refresh_dashboard"
# The days the refreshed dashboard shows (the CLI's default).
DASHBOARD_DAYS = 30
# A task's log line with where its seconds went (read by `make bench`).
TIMING_PREFIX = "TASK_SECONDS "

# Settings a task reads from its environment, or else from an Airflow Variable of
# the same name (Variables are read only when a task runs, never at parse time).
RUNTIME_KEYS = (
    ENV_DATA_ROOT,
    ENV_OUTPUT_ROOT,
    ENV_SERVING_DIR,
    ENV_METADATA_PATH,
    "MLMD_MYSQL_HOST",
    "MLMD_MYSQL_PORT",
    "MLMD_MYSQL_DATABASE",
    "MLMD_MYSQL_USER",
    "MLMD_MYSQL_PASSWORD",
)


def _runtime_environ() -> dict[str, str]:
    """The task's environment, with Airflow Variables filling unset runtime keys."""
    from airflow.models import Variable

    environ = dict(os.environ)
    for key in RUNTIME_KEYS:
        if not environ.get(key):
            value = Variable.get(key, default_var=None)
            if value:
                environ[key] = value
    return environ


def _task_config(config_path: str) -> tuple[PipelineConfig, dict[str, str]]:
    environ = _runtime_environ()
    return with_env_overrides(load_config(config_path), environ), environ


def day_has_data(config_path: str, **context: Any) -> bool:
    """Sensor body: whether the files of this DAG run's day have arrived.

    Args:
        config_path: The pipeline config file.
        **context: Airflow's task context (``logical_date``).

    Returns:
        True once a file matches the day's span (for a ``{SPAN}`` layout, which
        has no dates: once any span exists).
    """
    from pipeline import spans

    config, _ = _task_config(config_path)
    day = context["logical_date"].date()
    span = spans.span_for_date(config, day)
    if span is None:
        try:
            spans.newest_span(config)
        except FileNotFoundError as missing:
            logging.info("No span yet: %s", missing)
            return False
        return True
    files = spans.span_files(config, span)
    logging.info(
        "Span %s (%s) under %s: %s",
        span,
        day,
        config.data.input_base,
        ", ".join(files) if files else f"no file matching {config.data.span_pattern!r} yet",
    )
    return bool(files)


def run_task(task_id: str, config_path: str, **context: Any) -> None:
    """Airflow task body: launch the task's TFX nodes for this DAG run's day.

    The logical date selects the span CsvExampleGen ingests (date layouts). Before
    ingesting it, CsvExampleGen's task validates any older spans of the training
    window never validated (:mod:`pipeline.run.backfill`, as the local runner does).
    A task named after a node that consumes a resolver launches the resolver first
    (:data:`pipeline.nodes.CONSUMER`).

    Args:
        task_id: The task (the node it is named after).
        config_path: The pipeline config file.
        **context: Airflow's task context (``dag_run``, ``logical_date``, ...).

    Raises:
        Exception: The component's error, so Airflow marks the try failed and retries.
    """
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    # Free when the executor preloaded TFX (pipeline.run.airflow_executor), ~15 s if not.
    from components.data_gate import DataGateError
    from pipeline import spans
    from pipeline.alerts import notify_if_not_blessed
    from pipeline.mlmd import connection as metadata
    from pipeline.run import backfill, launch
    from pipeline.run.guards import output_check, scratch

    seconds["imports"] = time.perf_counter() - started
    config, environ = _task_config(config_path)
    # Every task: each may run on another worker, and a disk fills up between tasks;
    # ExampleGen's check stops a run at its first task, before it records anything.
    output_check.check_outputs(config, environ)
    day = context["logical_date"].date()
    span = spans.span_for_date(config, day)
    connection = metadata.connection_config(config, environ)
    # The first tasks of a new deployment run side by side (CsvExampleGen,
    # ImportSchemaGen): whichever connects first creates ML Metadata's tables, and
    # the other must wait for them rather than fail on a half-made schema.
    metadata.connect(connection)
    task = nodes.tasks(
        serving=config.validation.serving_data is not None, tflite=config.export.tflite
    )[task_id]

    # Temporary files TFX leaves (an sdist per Beam component with beam_args) go
    # with the task.
    with scratch.scratch_dir():
        if task_id == nodes.EXAMPLE_GEN:
            mark = time.perf_counter()
            backfill.check_inputs(config, span)
            backfill.backfill(config, connection, up_to=span)
            seconds["backfill"] = time.perf_counter() - mark
        mark = time.perf_counter()
        ir = launch.compile_pipeline(
            config, connection, run_id=context["dag_run"].run_id, span=span
        )
        seconds["compile"] = time.perf_counter() - mark
        for node_id in task.nodes:
            mark = time.perf_counter()
            try:
                launch.launch_nodes(ir, only=[node_id])
            except DataGateError as error:
                # The task log keeps the gate's full report (TFX deletes the failed output).
                logging.error("Data gate report:\n%s", error.report)
                raise
            except Exception:
                logging.error("Node %s of task %s failed", node_id, task_id)
                raise
            seconds[node_id] = time.perf_counter() - mark
        # On the node the task is named after (its last): an update moves an
        # execution's last-update time, which would stretch a resolver's seconds.
        launch.record_peak_rss(
            connection, config.pipeline_name, context["dag_run"].run_id, task.nodes[-1:]
        )
    if nodes.EVALUATOR in task.nodes:
        # Not blessed is a successful task, but worth a message (a failing task
        # alerts through its on_failure_callback instead). The alert must not fail
        # the Evaluator's task: its error is logged, as a failed delivery is.
        try:
            notify_if_not_blessed(config, connection, context["dag_run"].run_id, day)
        except Exception:  # noqa: BLE001 - logged with its traceback; the task stands
            logging.exception("Could not send the not-blessed alert for %s", day)
    seconds["total"] = time.perf_counter() - started
    logging.info("%s%s", TIMING_PREFIX, json.dumps({k: round(v, 3) for k, v in seconds.items()}))


def refresh_dashboard(config_path: str, **context: Any) -> None:
    """Airflow task body: this run's report and the dashboard, from ML Metadata.

    Runs after every other task, whatever they ended in, so a day the gate stopped
    shows on the page too. A run with no execution (the data never came) has no
    report; the dashboard is written anyway.

    Args:
        config_path: The pipeline config file.
        **context: Airflow's task context (``dag_run``).
    """
    from pipeline.mlmd import connection as metadata
    from pipeline.run.outputs import HTML_REPORT_FILE, run_dir
    from pipeline.views import dashboard, report

    config, environ = _task_config(config_path)
    store = metadata.open_store(config, environ)
    run_id = context["dag_run"].run_id
    try:
        written = report.write_run_report(
            store, config, run_id, run_dir(config, run_id) / HTML_REPORT_FILE
        )
        logging.info("Wrote the run report %s", written)
    except LookupError:
        logging.info("Run %s recorded no execution: no run report", run_id)
    logging.info("Wrote %s", dashboard.write_dashboard(store, config, DASHBOARD_DAYS))


def _int(environ: Mapping[str, str], key: str, default: int) -> int:
    value = environ.get(key)
    return int(value) if value else default


def _schedule(value: str) -> str | None:
    # "none": runs only when triggered (by a backfill, the CLI or another system).
    return None if value.strip().lower() == "none" else value


def build_dag(
    config_path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> DAG:
    """Builds the daily retraining DAG for a pipeline config.

    Args:
        config_path: The pipeline config (default ``$PIPELINE_CONFIG`` or the bundled
            clicks config). Its ``airflow`` section sets the data wait, timeouts
            and retries.
        environ: Where DAG-level settings come from (default ``os.environ``):
            ``PIPELINE_START_DATE`` (YYYY-MM-DD), ``PIPELINE_SCHEDULE`` (default
            ``@daily``; ``none``: only triggered runs), ``PIPELINE_CATCHUP``
            (``true`` to catch up; default off), and
            overrides of the config's retries: ``PIPELINE_TASK_RETRIES``,
            ``PIPELINE_RETRY_DELAY_SECONDS`` (doubling per try) and
            ``PIPELINE_MAX_RETRY_DELAY_SECONDS``.

    Returns:
        The DAG: ``<pipeline_name>_pipeline``, a sensor for the day's data, one
        task per pipeline node that runs an executor, and the dashboard's refresh.
    """
    env = os.environ if environ is None else environ
    path = str(config_path or env.get(ENV_CONFIG) or DEFAULT_CONFIG)
    config: PipelineConfig = load_config(path)
    settings = config.airflow
    start = datetime.date.fromisoformat(env.get(ENV_START_DATE, "2026-11-01"))
    retries = _int(env, ENV_RETRIES, settings.retries)
    default_args = {
        "owner": "ml-platform",
        "retries": retries,
        "retry_delay": datetime.timedelta(
            seconds=_int(env, ENV_RETRY_DELAY, int(settings.retry_delay_seconds))
        ),
        "retry_exponential_backoff": True,
        "max_retry_delay": datetime.timedelta(
            seconds=_int(env, ENV_MAX_RETRY_DELAY, int(settings.max_retry_delay_seconds))
        ),
        # Called after the last try only: a day the data gate stopped, or any task
        # that failed for good (the sensor's timeout included), alerts once.
        "on_failure_callback": task_failure_callback(path),
    }
    dag = DAG(
        dag_id=f"{config.pipeline_name}_pipeline",
        description=f"Daily TFX retraining of {config.model_name!r} from {path}",
        schedule=_schedule(env.get(ENV_SCHEDULE, "@daily")),
        start_date=datetime.datetime(
            start.year, start.month, start.day, tzinfo=datetime.timezone.utc
        ),
        catchup=env.get(ENV_CATCHUP, "false").lower() in ("1", "true", "yes"),
        max_active_runs=1,
        dagrun_timeout=datetime.timedelta(seconds=settings.dagrun_timeout_seconds),
        # Alerts when the scheduler fails a run past dagrun_timeout.
        on_failure_callback=dag_failure_callback(path),
        default_args=default_args,
        tags=["tfx", config.pipeline_name],
        doc_md=__doc__,
    )
    sensor = PythonSensor(
        task_id=WAIT_FOR_DATA,
        python_callable=day_has_data,
        op_kwargs={"config_path": path},
        mode="reschedule",
        poke_interval=settings.poke_interval_seconds,
        timeout=settings.wait_for_data_seconds,
        # A missing day is not fixed by retrying the wait; the timeout is the answer.
        retries=0,
        dag=dag,
    )
    graph = nodes.tasks(
        serving=config.validation.serving_data is not None, tflite=config.export.tflite
    )
    tasks = {
        task_id: PythonOperator(
            task_id=task_id,
            python_callable=run_task,
            op_kwargs={"task_id": task_id, "config_path": path},
            execution_timeout=datetime.timedelta(seconds=settings.timeout_for(task_id)),
            # The gate's verdict on a span is deterministic: retrying cannot help.
            retries=0 if task_id == nodes.DATA_GATE else retries,
            doc_md=f"Launches {', then '.join(task.nodes)}.",
            dag=dag,
        )
        for task_id, task in graph.items()
    }
    for task_id, task in graph.items():
        for parent in task.upstream:
            tasks[parent] >> tasks[task_id]
        if not task.upstream:
            sensor >> tasks[task_id]
    # A teardown: it runs once every task is done, failed or not, and its own result
    # never decides the DAG run's (a stopped day stays a failed run, and alerts).
    refresh = PythonOperator(
        task_id=REFRESH_DASHBOARD,
        python_callable=refresh_dashboard,
        op_kwargs={"config_path": path},
        execution_timeout=datetime.timedelta(seconds=settings.timeout_for(REFRESH_DASHBOARD)),
        doc_md="Writes the run's report.html and the pipeline's dashboard.html.",
        dag=dag,
    ).as_teardown()
    [sensor, *tasks.values()] >> refresh
    return dag
