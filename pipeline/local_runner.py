"""Runs the pipeline in-process with TFX's LocalDagRunner and SQLite ML Metadata."""

from __future__ import annotations

import dataclasses
import logging
import traceback
from pathlib import Path

import ml_metadata as mlmd
from tfx import v1 as tfx
from tfx.orchestration.pipeline import RunOptions

from pipeline import metadata, spans
from pipeline.config import PipelineConfig
from pipeline.nodes import EXAMPLE_GEN
from pipeline.pipeline import create_pipeline
from pipeline.summary import RunSummary, ingested_spans, latest_run_id, summarize_run


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


def _short_reason(error: BaseException) -> str:
    """The last ``SomeError: message`` line of an error, for a one-paragraph report.

    Beam re-raises worker errors with the whole remote traceback in the message; the
    root cause is its last exception line.
    """
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    causes = [line for line in lines if "Error:" in line or "Exception:" in line]
    reason = causes[-1] if causes else (lines[-1] if lines else "")
    if not reason.startswith(type(error).__name__):
        reason = f"{type(error).__name__}: {reason}" if reason else type(error).__name__
    return reason[:500]


def node_ids(pipeline: tfx.dsl.Pipeline) -> list[str]:
    """Returns the pipeline's node ids in topological (execution) order.

    Args:
        pipeline: A pipeline from ``create_pipeline``.

    Returns:
        Node ids.
    """
    return [component.id for component in pipeline.components]


def _pipeline(config: PipelineConfig, span: int | None = None) -> tfx.dsl.Pipeline:
    return create_pipeline(
        config,
        metadata_connection_config=metadata.connection_config(config),
        beam_pipeline_args=config.beam_args,
        span=span,
    )


def spans_to_backfill(config: PipelineConfig, store: mlmd.MetadataStore) -> list[int]:
    """Returns the older spans of the rolling window that ExampleGen never ingested.

    Each pipeline run ingests only the newest span, and the window is made of spans
    ExampleGen has ingested, so on a fresh metadata store (or after a gap) the
    window would hold a single day.

    Args:
        config: The pipeline config.
        store: The metadata store.

    Returns:
        Span numbers, oldest first (the newest span is never included).
    """
    window = spans.newest_spans(config, config.data.window_spans)[:-1]
    have = ingested_spans(store, config.pipeline_name, EXAMPLE_GEN)
    return [span for span in window if span not in have]


def backfill(config: PipelineConfig) -> list[int]:
    """Ingests the window's missing older spans, one CsvExampleGen-only run each.

    Uses a TFX partial run of the same pipeline with a static span range, so the
    backfilled Examples belong to the same ExampleGen node and the window resolver
    finds them.

    Args:
        config: The pipeline config.

    Returns:
        The spans ingested, oldest first.
    """
    missing = spans_to_backfill(config, metadata.open_store(config))
    for span in missing:
        tfx.orchestration.LocalDagRunner().run(
            _pipeline(config, span=span),
            run_options=RunOptions(from_nodes=[EXAMPLE_GEN], to_nodes=[EXAMPLE_GEN]),
        )
    return missing


def run(config: PipelineConfig) -> RunSummary:
    """Fills the rolling window, runs the whole pipeline once, and summarises it.

    Args:
        config: The pipeline config (with any runner overrides applied).

    Returns:
        The run's summary, read from ML Metadata.

    Raises:
        FileNotFoundError: If there is no span to ingest or no schema file; nothing ran.
        PipelineRunError: If a component fails.
    """
    if not config.schema_file.is_file():
        raise FileNotFoundError(
            f"schema file {config.schema_file} (schema_file in {config.source}) does not "
            "exist; infer one with `python -m pipeline schema --config "
            f"{config.source}` and curate it"
        )
    spans.newest_span(config)  # fail before any component runs when there is no data
    for directory in (config.outputs.pipeline_root, config.outputs.serving_dir):
        Path(directory).mkdir(parents=True, exist_ok=True)
    pipeline = _pipeline(config)
    backfilled: list[int] = []
    try:
        backfilled = backfill(config)
        tfx.orchestration.LocalDagRunner().run(pipeline)
    except Exception as error:  # noqa: BLE001 - re-raised as one paragraph, traceback kept
        log_path = Path(config.outputs.pipeline_root) / "last_failure.log"
        log_path.write_text("".join(traceback.format_exception(error)), encoding="utf-8")
        logging.error("Pipeline %s failed", config.pipeline_name, exc_info=error)
        summary = _summary_or_none(config, pipeline)
        failed = [n.node_id for n in summary.nodes if n.state == "failed"] if summary else []
        where = f"component {failed[0]}" if failed else "the pipeline"
        raise PipelineRunError(
            f"Pipeline {config.pipeline_name!r} stopped: {where} failed with "
            f"{_short_reason(error)}. Nothing was pushed by this run; the full traceback "
            f"is in {log_path}.",
            summary,
            log_path,
        ) from error
    summary = _summary_or_none(config, pipeline)
    if summary is None:
        raise PipelineRunError(
            f"Pipeline {config.pipeline_name!r} finished but recorded no run in "
            f"{config.outputs.metadata_path}",
            None,
            Path(config.outputs.pipeline_root),
        )
    return dataclasses.replace(summary, backfilled_spans=tuple(backfilled))


def _summary_or_none(config: PipelineConfig, pipeline: tfx.dsl.Pipeline) -> RunSummary | None:
    store = metadata.open_store(config)
    run_id = latest_run_id(store, config.pipeline_name)
    if run_id is None:
        return None
    return summarize_run(store, config.pipeline_name, run_id, node_ids(pipeline))
