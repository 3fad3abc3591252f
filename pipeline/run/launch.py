"""Compiles the pipeline to IR for a run and launches nodes with TFX's IR launcher.

Both runners compile here: the local runner hands the IR to ``LocalDagRunner``, and
an Airflow task launches its one node with :func:`launch_nodes`, which does for the
chosen nodes exactly what ``LocalDagRunner.run_with_ir`` does for all of them (the
same ``tfx.orchestration.portable.launcher.Launcher``). So ML Metadata gets one
lineage layout (``pipeline`` / ``pipeline_run`` / ``node`` contexts) whichever runner
made a model. (TFX's own ``AirflowDagRunner`` uses the older launcher and records
``pipeline`` / ``run`` / ``component_run`` instead.)
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import resource
from collections.abc import Iterable

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
from tfx.dsl.compiler import compiler, constants
from tfx.orchestration import metadata as tfx_metadata
from tfx.orchestration.local import runner_utils
from tfx.orchestration.portable import launcher, runtime_parameter_utils
from tfx.proto.orchestration import pipeline_pb2

from components.data_gate import find_gate_error
from pipeline.config import PipelineConfig
from pipeline.mlmd import queries
from pipeline.nodes import DATA_GATE, VALIDATION_NODES
from pipeline.pipeline import create_pipeline


def new_run_id() -> str:
    """Returns a run id the way LocalDagRunner makes one (local ISO timestamp).

    Returns:
        The run id.
    """
    return datetime.datetime.now().isoformat()


def compile_pipeline(
    config: PipelineConfig,
    connection: metadata_store_pb2.ConnectionConfig,
    run_id: str,
    span: int | None = None,
) -> pipeline_pb2.Pipeline:
    """Compiles the pipeline to IR for one run.

    Args:
        config: The pipeline config.
        connection: The ML Metadata connection.
        run_id: The ``pipeline_run`` context every node of this run is recorded under.
        span: Ingest this span instead of the newest (see ``create_pipeline``).

    Returns:
        The IR with the run id substituted.
    """
    ir = compiler.Compiler().compile(
        create_pipeline(
            config,
            metadata_connection_config=connection,
            beam_pipeline_args=config.beam_args,
            span=span,
        )
    )
    runtime_parameter_utils.substitute_runtime_parameter(
        ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id}
    )
    return ir


def node_ids(ir: pipeline_pb2.Pipeline) -> list[str]:
    """Returns the IR's node ids in topological (execution) order.

    Args:
        ir: A compiled pipeline.

    Returns:
        Node ids.
    """
    return [node.pipeline_node.node_info.id for node in ir.nodes]


def launch_nodes(ir: pipeline_pb2.Pipeline, only: Iterable[str] | None = None) -> None:
    """Launches nodes of a compiled pipeline in order, as LocalDagRunner does.

    Each launch resolves inputs from ML Metadata, checks the cache, runs the
    executor and publishes outputs, so nodes may run in different processes (one
    Airflow task each) and still see each other's outputs.

    Args:
        ir: A pipeline from :func:`compile_pipeline`.
        only: Node ids to launch (default: all).

    Raises:
        KeyError: If ``only`` names a node the pipeline does not have.
        Exception: Whatever a component's executor raised.
    """
    wanted = None if only is None else set(only)
    known = set(node_ids(ir))
    if wanted is not None and not wanted <= known:
        raise KeyError(f"no node(s) {sorted(wanted - known)} in pipeline; nodes: {sorted(known)}")
    deployment = runner_utils.extract_local_deployment_config(ir)
    kind = deployment.metadata_connection_config.WhichOneof("connection_config")
    connection = getattr(deployment.metadata_connection_config, kind)
    for node in ir.nodes:
        pipeline_node = node.pipeline_node
        node_id = pipeline_node.node_info.id
        if wanted is not None and node_id not in wanted:
            continue
        node_launcher = launcher.Launcher(
            pipeline_node=pipeline_node,
            mlmd_connection=tfx_metadata.Metadata(connection),
            pipeline_info=ir.pipeline_info,
            pipeline_runtime_spec=ir.runtime_spec,
            executor_spec=runner_utils.extract_executor_spec(deployment, node_id),
            custom_driver_spec=runner_utils.extract_custom_driver_spec(deployment, node_id),
        )
        try:
            node_launcher.launch()
        except Exception as error:
            record_gate_rejection(connection, ir, error)
            raise


def record_gate_rejection(
    connection: metadata_store_pb2.ConnectionConfig,
    ir: pipeline_pb2.Pipeline,
    error: BaseException,
) -> bool:
    """Records on the run's failed DataGate execution which features blocked it.

    TFX's launcher marks the execution FAILED and deletes its outputs, the gate's
    report included, and keeps no message; the :class:`DataGateError` carries the
    blocking features and the distances measured, so the runner writes them to the
    execution as ``blocking_features`` (JSON: feature -> anomaly types), where the
    metrics exporter and its alert read them, and ``gate_distances`` (JSON: a list of
    :class:`components.distances.Distance` fields), where the dashboard's drift heat
    map reads them.

    Args:
        connection: The run's ML Metadata connection.
        ir: The run's compiled pipeline (its name and run id).
        error: What the run raised; anything but a data gate rejection is ignored.

    Returns:
        True if a rejection was recorded.
    """
    gate_error = find_gate_error(error)
    if gate_error is None or not gate_error.blocking:
        return False
    run_id = ir.runtime_spec.pipeline_run_id.field_value.string_value
    store = mlmd.MetadataStore(connection)
    execution = queries.run(store, ir.pipeline_info.id, run_id).by_node.get(DATA_GATE)
    if execution is None or execution.last_known_state != metadata_store_pb2.Execution.FAILED:
        return False
    execution.custom_properties[queries.GATE_BLOCKING_PROPERTY].string_value = json.dumps(
        gate_error.blocking, sort_keys=True
    )
    execution.custom_properties[queries.GATE_DISTANCES_PROPERTY].string_value = json.dumps(
        [dataclasses.asdict(d) for d in gate_error.distances]
    )
    store.put_executions([execution])
    return True


def peak_rss_mib() -> float:
    """This process's peak resident memory, or its largest waited-for child's if larger.

    Beam's in-memory runner and TensorFlow run inside the process; a Beam
    multi-processing worker is a child. ``ru_maxrss`` is in KiB on Linux.

    Returns:
        Mebibytes.
    """
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, children) / 1024.0, 1)


def record_peak_rss(
    connection: metadata_store_pb2.ConnectionConfig,
    pipeline_name: str,
    run_id: str,
    node_ids: Iterable[str] | None = None,
) -> None:
    """Records :func:`peak_rss_mib` in ML Metadata as ``peak_rss_mib``, for the dashboard.

    The local runner runs every node in one process: the peak is the run's, on its
    ``pipeline_run`` context. An Airflow task runs some nodes: the peak goes on the
    execution of the node it is named after, which no other task writes. (MLMD moves
    an updated execution's last-update time, which the run summary's seconds are
    measured to, so the update comes right after that node.)

    Args:
        connection: The run's ML Metadata connection.
        pipeline_name: The pipeline.
        run_id: The run.
        node_ids: The nodes this process ran; None for the whole run.
    """
    store = mlmd.MetadataStore(connection)
    run = queries.run(store, pipeline_name, run_id)
    peak = peak_rss_mib()
    if node_ids is None:
        context = run.context
        context.custom_properties[queries.PEAK_RSS_PROPERTY].double_value = peak
        store.put_contexts([context])
        return
    executions = [run.by_node[n] for n in node_ids if n in run.by_node]
    for execution in executions:
        execution.custom_properties[queries.PEAK_RSS_PROPERTY].double_value = peak
    if executions:
        store.put_executions(executions)


def validation_run_id(span: int) -> str:
    """Returns a new run id for a validation-only run of ``span``.

    Args:
        span: The span to validate.

    Returns:
        ``<timestamp>-validate-<span>``.
    """
    return f"{new_run_id()}-validate-{span}"


def validate_span(
    config: PipelineConfig,
    connection: metadata_store_pb2.ConnectionConfig,
    span: int,
    run_id: str | None = None,
) -> str:
    """Ingests and validates one span (no training), as its own pipeline run.

    Runs :data:`pipeline.nodes.VALIDATION_NODES`: ExampleGen, StatisticsGen, the
    schema check and the DataGate (anomalies and drift against the previous passed
    span), so the span enters later training windows only if it passes.

    Args:
        config: The pipeline config.
        connection: The ML Metadata connection.
        span: The span to ingest.
        run_id: The run id to record it under (default: a new
            :func:`validation_run_id`).

    Returns:
        The run id it was recorded under.

    Raises:
        Exception: Whatever a node raised (``DataGateError`` when the span is rejected).
    """
    run_id = run_id or validation_run_id(span)
    launch_nodes(compile_pipeline(config, connection, run_id, span=span), only=VALIDATION_NODES)
    return run_id
