"""The Airflow DAG: the same ``create_pipeline(config)``, one task per TFX node.

Airflow parses DAG files every few seconds with a 30 s budget, and ``import tfx``
alone takes ~10 s, so nothing here imports TensorFlow or TFX at module level: the
task graph comes from :func:`pipeline.nodes.upstream` (checked against the compiled
pipeline by the tests) and each task imports TFX when it runs.

A task compiles the pipeline to IR with the Airflow run id as TFX's pipeline run id
and launches its one node with TFX's IR launcher (:mod:`pipeline.run.launch`), exactly
as the local runner does, so ML Metadata has one layout whichever runner ran.
"""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Mapping
from typing import Any

from airflow import DAG
from airflow.operators.python import PythonOperator

from pipeline import nodes
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


def run_node(node_id: str, config_path: str, **context: Any) -> None:
    """Airflow task body: launch one TFX node for this DAG run's day.

    The logical date selects the span CsvExampleGen ingests (date layouts). Before
    ingesting it, CsvExampleGen's task validates any older spans of the training
    window never validated (:mod:`pipeline.run.backfill`, as the local runner does).

    Args:
        node_id: The TFX node this task runs.
        config_path: The pipeline config file.
        **context: Airflow's task context (``dag_run``, ``logical_date``, ...).

    Raises:
        Exception: The component's error, so Airflow marks the try failed and retries.
    """
    from components.data_gate import DataGateError
    from pipeline import spans
    from pipeline.mlmd import connection as metadata
    from pipeline.run import backfill, launch
    from pipeline.run.guards import output_check, scratch

    environ = _runtime_environ()
    config = with_env_overrides(load_config(config_path), environ)
    # Every task: each may run on another worker, and a disk fills up between tasks;
    # ExampleGen's check stops a run at its first task, before it records anything.
    output_check.check_outputs(config, environ)
    day = context["logical_date"].date()
    span = spans.span_for_date(config, day)
    connection = metadata.connection_config(config, environ)

    # Temporary files TFX leaves (an sdist per Beam component with beam_args) go
    # with the task.
    with scratch.scratch_dir():
        if node_id == nodes.EXAMPLE_GEN:
            backfill.check_inputs(config, span)
            backfill.backfill(config, connection, up_to=span)
        ir = launch.compile_pipeline(
            config, connection, run_id=context["dag_run"].run_id, span=span
        )
        try:
            launch.launch_nodes(ir, only=[node_id])
        except DataGateError as error:
            # The task log keeps the gate's full report (TFX deletes the failed output).
            logging.error("Data gate report:\n%s", error.report)
            raise


def _int(environ: Mapping[str, str], key: str, default: int) -> int:
    value = environ.get(key)
    return int(value) if value else default


def build_dag(
    config_path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> DAG:
    """Builds the daily retraining DAG for a pipeline config.

    Args:
        config_path: The pipeline config (default ``$PIPELINE_CONFIG`` or the bundled
            clicks config).
        environ: Where DAG-level settings come from (default ``os.environ``):
            ``PIPELINE_START_DATE`` (YYYY-MM-DD), ``PIPELINE_SCHEDULE`` (default
            ``@daily``), ``PIPELINE_CATCHUP`` (``true`` to catch up; default off),
            ``PIPELINE_TASK_RETRIES`` (2), ``PIPELINE_RETRY_DELAY_SECONDS`` (300,
            doubling per try) and ``PIPELINE_MAX_RETRY_DELAY_SECONDS`` (3600).

    Returns:
        The DAG: ``<pipeline_name>_pipeline``, one task per pipeline node.
    """
    env = os.environ if environ is None else environ
    path = str(config_path or env.get(ENV_CONFIG) or DEFAULT_CONFIG)
    config: PipelineConfig = load_config(path)
    start = datetime.date.fromisoformat(env.get(ENV_START_DATE, "2026-11-01"))
    retries = _int(env, ENV_RETRIES, 2)
    default_args = {
        "owner": "ml-platform",
        "retries": retries,
        "retry_delay": datetime.timedelta(seconds=_int(env, ENV_RETRY_DELAY, 300)),
        "retry_exponential_backoff": True,
        "max_retry_delay": datetime.timedelta(seconds=_int(env, ENV_MAX_RETRY_DELAY, 3600)),
    }
    dag = DAG(
        dag_id=f"{config.pipeline_name}_pipeline",
        description=f"Daily TFX retraining of {config.model_name!r} from {path}",
        schedule=env.get(ENV_SCHEDULE, "@daily"),
        start_date=datetime.datetime(
            start.year, start.month, start.day, tzinfo=datetime.timezone.utc
        ),
        catchup=env.get(ENV_CATCHUP, "false").lower() in ("1", "true", "yes"),
        max_active_runs=1,
        default_args=default_args,
        tags=["tfx", config.pipeline_name],
        doc_md=__doc__,
    )
    graph = nodes.upstream(
        serving=config.validation.serving_data is not None, tflite=config.export.tflite
    )
    tasks = {
        node_id: PythonOperator(
            task_id=node_id,
            python_callable=run_node,
            op_kwargs={"node_id": node_id, "config_path": path},
            # The gate's verdict on a span is deterministic: retrying cannot help.
            retries=0 if node_id == nodes.DATA_GATE else retries,
            dag=dag,
        )
        for node_id in graph
    }
    for node_id, upstream in graph.items():
        for parent in upstream:
            tasks[parent] >> tasks[node_id]
    return dag
