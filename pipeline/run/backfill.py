"""What both runners do before a run ingests its span: check inputs, fill the window.

The local runner (:mod:`pipeline.run.local`) and Airflow's CsvExampleGen task
(:mod:`pipeline.run.airflow_dag`) both call :func:`check_inputs` and then
:func:`backfill`, so a fresh metadata store gets the same training window whichever
runner starts it.
"""

from __future__ import annotations

import logging

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from pipeline import spans
from pipeline.config import PipelineConfig
from pipeline.ops.summary import validated_spans
from pipeline.run import launch
from pipeline.run.guards import run_owner


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
) -> tuple[list[int], dict[int, str]]:
    """Validates the older spans of the rolling window that were never validated.

    Each run ingests one span, and the window is made of spans that passed the
    data gate, so on a fresh metadata store (or after a gap) the window would hold
    a single day. Each missing span gets its own validation-only run of the same
    pipeline (ingest, statistics, schema check, drift check; no training), oldest
    first, so each is compared with the one before. A span the gate rejects stays
    out of every window; that is reported, and the run goes on.

    Args:
        config: The pipeline config.
        connection: The ML Metadata connection.
        up_to: The span this run ingests (default: the newest on disk); only spans
            before it are considered.

    Returns:
        The spans validated (oldest first), and those rejected with the reason.

    Raises:
        KeyboardInterrupt: On Ctrl-C during a validation run (not the span's fault).
    """
    # The window's last span is the one this run ingests itself.
    older = spans.newest_spans(config, config.data.window_spans, up_to=up_to)[:-1]
    store = mlmd.MetadataStore(connection)
    have = validated_spans(store, config.pipeline_name)
    missing = [span for span in older if span not in have]
    rejected: dict[int, str] = {}
    for span in missing:
        run_id = launch.validation_run_id(span)
        run_owner.claim(store, run_id)
        try:
            launch.validate_span(config, connection, span, run_id)
        except Exception as error:  # noqa: BLE001 - reported in the summary; the run goes on
            if run_owner.caused_by_ctrl_c(error):  # not the span's fault: stop
                raise KeyboardInterrupt from error
            logging.warning(
                "Span %s was rejected and stays out of the window", span, exc_info=error
            )
            rejected[span] = short_reason(error)
    return missing, rejected
