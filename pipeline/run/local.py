"""Runs the whole pipeline in-process with TFX's ``LocalDagRunner``.

The pipeline is compiled to IR by :mod:`pipeline.run.launch` (the same compile the
Airflow tasks use) with a run id chosen here, so the run can be summarised from ML
Metadata by that id; ``LocalDagRunner.run_with_ir`` then launches every node.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from tfx.proto.orchestration import pipeline_pb2

from components.data_gate import find_gate_error
from pipeline import alerts, spans
from pipeline.config import PipelineConfig
from pipeline.mlmd import connection as metadata
from pipeline.nodes import DATA_GATE, EXAMPLE_GEN
from pipeline.ops.summary import RunSummary, summarize_run
from pipeline.run import launch
from pipeline.run.backfill import backfill, check_inputs, short_reason
from pipeline.run.guards import csv_check, output_check, run_lock, run_owner, scratch
from pipeline.run.outputs import HTML_REPORT_FILE, REPORT_FILE, run_dir
from pipeline.views.summary import format_summary


class PipelineRunError(RuntimeError):
    """A component failed; the message is one paragraph, the traceback is in a log file.

    Attributes:
        summary: What the run did up to the failure, from ML Metadata (if recorded).
        log_path: File holding the full traceback.
        report_path: The run's readable report (summary, this message, gate report).
    """

    def __init__(
        self, message: str, summary: RunSummary | None, log_path: Path, report_path: Path
    ) -> None:
        super().__init__(message)
        self.summary = summary
        self.log_path = log_path
        self.report_path = report_path


def run(
    config: PipelineConfig, environ: Mapping[str, str] | None = None, *, wait: bool = True
) -> RunSummary:
    """Fills the rolling window, runs every node once, and summarises the run.

    The summary (or the failure paragraph with the data gate's full report) is
    also written to ``<pipeline_root>/runs/<run id>/report.txt``, and the run's HTML
    report (statistics against the previous span, drift, evaluation, lineage graph)
    to ``report.html`` beside it. With destinations in ``config.alerts``, a day the
    data gate stops and a new model that is not blessed send an alert
    (:mod:`pipeline.alerts`); a destination that fails is logged, never raised.

    Args:
        config: The pipeline config (with any runner overrides applied).
        environ: The runner's environment, for the metadata connection (default
            ``os.environ``).
        wait: Whether to wait (up to ``outputs.lock_timeout_seconds``) when another
            run holds the SQLite metadata's run lock; False refuses at once.

    Returns:
        The run's summary, read from ML Metadata.

    Raises:
        FileNotFoundError: If there is no span to ingest or no schema file; nothing ran.
        PipelineRunError: If a component fails.
        OutputCheckError: If an output directory is unwritable or short of space.
        RunInterrupted: On Ctrl-C; the unfinished executions are CANCELED with
            ``interrupted`` in ML Metadata (see :mod:`pipeline.run.guards.run_owner`).
        run_lock.RunLockTimeout: If another run kept the SQLite metadata busy for
            the whole wait; nothing ran.
        ConfigError: If alerts are configured but Airflow's notifiers are not installed
            or a connection they name is not set (:func:`pipeline.alerts.check`).
    """
    alerts.check(config)  # a missing provider or connection is reported now, not after the run
    output_check.check_outputs(config, environ)  # before anything is recorded or pushed
    check_inputs(config)
    connection = metadata.connection_config(config, environ)
    # One writer at a time on a SQLite store (a no-op on MySQL): see run_lock.
    timeout = config.outputs.lock_timeout_seconds if wait else 0.0
    # scratch: TFX leaves temporary files (an sdist per Beam component with beam_args).
    with (
        run_lock.hold(connection, timeout_seconds=timeout, purpose="run") as lock,
        scratch.scratch_dir(),
    ):
        run_id = launch.new_run_id()  # chosen once it is this run's turn
        lock.record(run_id)
        metadata.connect(connection)  # the first connection creates the schema, racing others
        return _run_locked(config, connection, run_id, environ)


def _run_locked(
    config: PipelineConfig,
    connection: metadata_store_pb2.ConnectionConfig,
    run_id: str,
    environ: Mapping[str, str] | None,
) -> RunSummary:
    for directory in (config.outputs.pipeline_root, config.outputs.serving_dir):
        Path(directory).mkdir(parents=True, exist_ok=True)
    report_path = run_dir(config, run_id) / REPORT_FILE
    # Executions a killed run left RUNNING become CANCELED/abandoned (run_owner).
    run_owner.reconcile(
        mlmd.MetadataStore(connection),
        config.pipeline_name,
        run_id,
        str(config.outputs.pipeline_root),
    )
    backfilled: list[int] = []
    rejected: dict[int, str] = {}
    ir = None
    try:
        backfilled, rejected = backfill(config, connection)
        ir = launch.compile_pipeline(config, connection, run_id)
        run_owner.claim(mlmd.MetadataStore(connection), run_id)
        LocalDagRunner().run_with_ir(ir)
    except Exception as error:  # noqa: BLE001 - re-raised as one paragraph, traceback kept
        if run_owner.caused_by_ctrl_c(error):  # TensorFlow turns Ctrl-C into errors
            raise _interrupted(config, connection, run_id, report_path) from None
        log_path = Path(config.outputs.pipeline_root) / "last_failure.log"
        log_note = _save(log_path, "".join(traceback.format_exception(error)))
        logging.error("Pipeline %s failed", config.pipeline_name, exc_info=error)
        summary = _summary_or_none(config, connection, run_id, ir)
        if summary is not None:
            summary = dataclasses.replace(
                summary, backfilled_spans=tuple(backfilled), rejected_spans=rejected
            )
        failed = [n for n in summary.nodes if n.state == "failed"] if summary else []
        where = f"component {failed[0].node_id}" if failed else "the pipeline"
        reason = short_reason(error) + output_check.disk_full_note(config, error, environ)
        details = ""
        if failed and failed[0].node_id == EXAMPLE_GEN:
            # Beam's CSV errors name neither the file nor the line; find them.
            problem = csv_check.diagnose([spans.newest_span(config)[1]], config.data.delimiter)
            reason = f"the span's CSV cannot be read, {problem}" if problem else reason
        elif failed and failed[0].node_id == DATA_GATE:
            details = _gate_report(error)
            if ir is not None:
                launch.record_gate_rejection(connection, ir, error)
        message = (
            f"Pipeline {config.pipeline_name!r} stopped: {where} failed: {reason}. "
            f"Nothing was pushed by this run and the served model is unchanged; the "
            f"report is in {report_path} and the full traceback in {log_path}{log_note}."
        )
        try:
            _write_report(report_path, summary, message, details)
        except OSError as write_error:  # a full disk must not hide the paragraph
            message = message.replace(
                f"report is in {report_path}",
                f"report could not be written to {report_path} ({write_error.strerror})",
            )
        if summary is not None:
            _record_peak_rss(config, connection, run_id)
            _write_html_report(config, connection, run_id)
        # Sent only if the gate stopped the run (the error names it).
        _alert(config, functools.partial(alerts.notify_gate_stopped, config, error=error))
        raise PipelineRunError(message, summary, log_path, report_path) from error
    except KeyboardInterrupt:
        # TFX's launcher catches Exception only: record the interruption here.
        raise _interrupted(config, connection, run_id, report_path) from None
    summary = summarize_run(
        mlmd.MetadataStore(connection), config.pipeline_name, run_id, launch.node_ids(ir)
    )
    summary = dataclasses.replace(
        summary, backfilled_spans=tuple(backfilled), rejected_spans=rejected
    )
    _write_report(report_path, summary)
    _record_peak_rss(config, connection, run_id)
    _write_html_report(config, connection, run_id)
    _alert(config, functools.partial(alerts.notify_not_blessed, config, summary))
    return summary


class RunInterrupted(KeyboardInterrupt):
    """The run was interrupted (Ctrl-C); what ran is recorded as CANCELED.

    A ``KeyboardInterrupt``, so code that does not know it still stops.

    Attributes:
        report_path: The run's readable report.
    """

    def __init__(self, message: str, report_path: Path) -> None:
        super().__init__(message)
        self.report_path = report_path


def _interrupted(
    config: PipelineConfig,
    connection: metadata_store_pb2.ConnectionConfig,
    run_id: str,
    report_path: Path,
) -> RunInterrupted:
    """Records an interrupted run: CANCELED executions and a one-line report."""
    runs = record_interruption(config, connection)
    what = f"the {len(runs)} unfinished step(s) were" if runs else "nothing was running;"
    message = (
        f"Pipeline {config.pipeline_name!r} was interrupted (Ctrl-C): {what} recorded as "
        f"canceled in ML Metadata and nothing was pushed by this run (a push is a single "
        f"rename: the served model is unchanged or complete); the next run reuses what "
        f"finished. Report: {report_path}"
    )
    _write_report(report_path, None, message)
    return RunInterrupted(message, report_path)


def record_interruption(
    config: PipelineConfig, connection: metadata_store_pb2.ConnectionConfig | None = None
) -> list[str]:
    """Marks this process's unfinished executions CANCELED (``interrupted``).

    Also what the CLI's Ctrl-C watchdog calls when the main thread does not unwind
    in time.

    Args:
        config: The pipeline config.
        connection: The ML Metadata connection (default: the config's).

    Returns:
        The ids of the runs that had unfinished executions.
    """
    store = mlmd.MetadataStore(connection or metadata.connection_config(config))
    return run_owner.cancel_own(
        store, config.pipeline_name, run_owner.INTERRUPTED_REASON, str(config.outputs.pipeline_root)
    )


def _save(path: Path, text: str) -> str:
    # The failure paragraph must survive a full or read-only disk: say what was lost.
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        return f" (could not be written: {error.strerror})"
    return ""


def _alert(config: PipelineConfig, notify: Callable[[str], object]) -> None:
    """Calls ``notify`` with the run's day; an alert never fails a run or hides its error."""
    if not config.alerts.configured:
        return
    try:
        # The day this run ingested: the newest span, as CsvExampleGen resolved it.
        notify(alerts.day_label(config, spans.newest_span(config)[0]))
    except Exception:  # noqa: BLE001 - logged with its traceback; the run's result stands
        logging.exception("Could not send the run's alert")


def _gate_report(error: BaseException) -> str:
    # The full report rides on the DataGateError (TFX removes a failed execution's
    # output directory, report file included).
    gate_error = find_gate_error(error)
    return gate_error.report if gate_error is not None else ""


def _record_peak_rss(
    config: PipelineConfig, connection: metadata_store_pb2.ConnectionConfig, run_id: str
) -> None:
    # The dashboard's memory line; like the HTML page, not worth failing a run over.
    try:
        launch.record_peak_rss(connection, config.pipeline_name, run_id)
    except Exception:  # noqa: BLE001 - logged with its traceback; the run's result stands
        logging.exception("Could not record the peak memory of run %s", run_id)


def _write_html_report(
    config: PipelineConfig, connection: metadata_store_pb2.ConnectionConfig, run_id: str
) -> None:
    # The HTML page is a view of what ML Metadata recorded; failing to draw it must
    # not turn a finished run into a failed one, so it is logged, not raised.
    from pipeline.views import report

    path = run_dir(config, run_id) / HTML_REPORT_FILE
    try:
        report.write_run_report(mlmd.MetadataStore(connection), config, run_id, path)
    except Exception:  # noqa: BLE001 - logged with its traceback; the run's result stands
        logging.exception("Could not write the HTML run report %s", path)


def _write_report(
    path: Path, summary: RunSummary | None, error: str = "", details: str = ""
) -> None:
    parts = [format_summary(summary)] if summary is not None else []
    if error:
        parts.append(f"error: {error}")
    if details:
        parts.append(details)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(parts) + "\n", encoding="utf-8")


def _summary_or_none(
    config: PipelineConfig,
    connection: metadata_store_pb2.ConnectionConfig,
    run_id: str,
    ir: pipeline_pb2.Pipeline | None,
) -> RunSummary | None:
    if ir is None:
        return None
    try:
        return summarize_run(
            mlmd.MetadataStore(connection), config.pipeline_name, run_id, launch.node_ids(ir)
        )
    except LookupError:  # the run failed before any node was recorded
        return None
