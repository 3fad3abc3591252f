"""Runs the whole pipeline in-process with TFX's ``LocalDagRunner``.

The pipeline is compiled to IR by :mod:`pipeline.launch` (the same compile the
Airflow tasks use) with a run id chosen here, so the run can be summarised from ML
Metadata by that id; ``LocalDagRunner.run_with_ir`` then launches every node.
"""

from __future__ import annotations

import dataclasses
import logging
import traceback
from pathlib import Path
from typing import Mapping

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from tfx.v1.orchestration import LocalDagRunner

from pipeline import launch, metadata, spans
from pipeline.config import PipelineConfig
from pipeline.nodes import EXAMPLE_GEN
from pipeline.summary import RunSummary, ingested_spans, summarize_run


class PipelineRunError(RuntimeError):
    """A component failed; the message is one paragraph, the traceback is in a log file.

    Attributes:
        summary: What the run did up to the failure, from ML Metadata (if recorded).
        log_path: File holding the full traceback.
    """

    def __init__(self, message: str, summary: RunSummary | None, log_path: Path) -> None:
        super().__init__(message)
        self.summary = summary
        self.log_path = log_path


def short_reason(error: BaseException) -> str:
    """The last ``SomeError: message`` line of an error, for a one-paragraph report.

    Beam re-raises worker errors with the whole remote traceback in the message; the
    root cause is its last exception line.

    Args:
        error: The exception a component raised.

    Returns:
        At most 2,000 characters naming the error type and its message.
    """
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    causes = [line for line in lines if "Error:" in line or "Exception:" in line]
    reason = causes[-1] if causes else (lines[-1] if lines else "")
    if not reason.startswith(type(error).__name__):
        reason = f"{type(error).__name__}: {reason}" if reason else type(error).__name__
    return reason[:2000]


def check_inputs(config: PipelineConfig, span: int | None = None) -> None:
    """Fails before any component runs when the schema file or the data is missing.

    Args:
        config: The pipeline config.
        span: The span a run will ingest (default: the newest on disk).

    Raises:
        FileNotFoundError: Naming the missing file or span pattern.
    """
    if not config.schema_file.is_file():
        raise FileNotFoundError(
            f"schema file {config.schema_file} (schema_file in {config.source}) does not "
            "exist; infer one with `python -m pipeline schema --config "
            f"{config.source}` and curate it"
        )
    if span is None:
        spans.newest_span(config)


def backfill(
    config: PipelineConfig,
    connection: metadata_store_pb2.ConnectionConfig,
    up_to: int | None = None,
) -> list[int]:
    """Ingests the older spans of the rolling window that ExampleGen never ingested.

    Each run ingests one span, and the window is made of ingested spans, so on a
    fresh metadata store (or after a gap) the window would hold a single day. Each
    missing span gets a CsvExampleGen-only run of the same pipeline.

    Args:
        config: The pipeline config.
        connection: The ML Metadata connection.
        up_to: The span this run ingests (default: the newest on disk); only spans
            before it are considered.

    Returns:
        The spans ingested, oldest first.
    """
    # The window's last span is the one this run ingests itself.
    older = spans.newest_spans(config, config.data.window_spans, up_to=up_to)[:-1]
    store = mlmd.MetadataStore(connection)
    have = ingested_spans(store, config.pipeline_name, EXAMPLE_GEN)
    missing = [span for span in older if span not in have]
    for span in missing:
        launch.ingest_span(config, connection, span)
    return missing


def run(config: PipelineConfig, environ: Mapping[str, str] | None = None) -> RunSummary:
    """Fills the rolling window, runs every node once, and summarises the run.

    Args:
        config: The pipeline config (with any runner overrides applied).
        environ: The runner's environment, for the metadata connection (default
            ``os.environ``).

    Returns:
        The run's summary, read from ML Metadata.

    Raises:
        FileNotFoundError: If there is no span to ingest or no schema file; nothing ran.
        PipelineRunError: If a component fails.
    """
    check_inputs(config)
    connection = metadata.connection_config(config, environ)
    for directory in (config.outputs.pipeline_root, config.outputs.serving_dir):
        Path(directory).mkdir(parents=True, exist_ok=True)
    run_id = launch.new_run_id()
    backfilled: list[int] = []
    ir = None
    try:
        backfilled = backfill(config, connection)
        ir = launch.compile_pipeline(config, connection, run_id)
        LocalDagRunner().run_with_ir(ir)
    except Exception as error:  # noqa: BLE001 - re-raised as one paragraph, traceback kept
        log_path = Path(config.outputs.pipeline_root) / "last_failure.log"
        log_path.write_text("".join(traceback.format_exception(error)), encoding="utf-8")
        logging.error("Pipeline %s failed", config.pipeline_name, exc_info=error)
        summary = _summary_or_none(config, connection, run_id, ir)
        failed = [n.node_id for n in summary.nodes if n.state == "failed"] if summary else []
        where = f"component {failed[0]}" if failed else "the pipeline"
        raise PipelineRunError(
            f"Pipeline {config.pipeline_name!r} stopped: {where} failed with "
            f"{short_reason(error)}. Nothing was pushed by this run; the full traceback "
            f"is in {log_path}.",
            summary,
            log_path,
        ) from error
    summary = summarize_run(
        mlmd.MetadataStore(connection), config.pipeline_name, run_id, launch.node_ids(ir)
    )
    return dataclasses.replace(summary, backfilled_spans=tuple(backfilled))


def _summary_or_none(
    config: PipelineConfig,
    connection: metadata_store_pb2.ConnectionConfig,
    run_id: str,
    ir: object | None,
) -> RunSummary | None:
    if ir is None:
        return None
    try:
        return summarize_run(
            mlmd.MetadataStore(connection), config.pipeline_name, run_id, launch.node_ids(ir)
        )
    except LookupError:  # the run failed before any node was recorded
        return None
