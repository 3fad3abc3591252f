"""When a run sends which alert: the decisions the local runner and the DAG's tasks share.

A day stopped by the data gate sends ``gate_stopped``; a run whose Evaluator judged a
new model and did not bless it sends ``not_blessed`` (unless ``alerts.not_blessed`` is
false); a run that pushed sends nothing. The Airflow-only alerts (a task failing after
its last retry, a DAG run timing out) are in :mod:`pipeline.alerts.callbacks`.
"""

from __future__ import annotations

import datetime
import sys
from typing import TYPE_CHECKING

from pipeline.alerts.destinations import Delivery, send
from pipeline.alerts.messages import Alert, day_of_span, gate_stopped, not_blessed
from pipeline.config import PipelineConfig
from pipeline.nodes import EVALUATOR

if TYPE_CHECKING:
    from ml_metadata.proto import metadata_store_pb2

    from pipeline.ops.summary import RunSummary

# The data gate's error class lives in components.data_gate, which imports TFDV and
# TFX; it is looked up by module name so light callers (Airflow callbacks) need not
# import them. An instance can exist only once that module is loaded.
_DATA_GATE_MODULE = "components.data_gate"
# The NodeRun state of a node that executed in this run (not a cache hit, "cached").
_EXECUTED = "ran"


def gate_reason(error: BaseException | str | None) -> str | None:
    """The data gate's one paragraph, if ``error`` is (or was caused by) a DataGateError.

    TFX's launcher and Airflow may wrap the component's error, so its causes and
    contexts are followed.

    Args:
        error: What a run or a task raised (Airflow passes a string when the
            scheduler failed a task).

    Returns:
        ``str(DataGateError)``, or None if the gate did not stop the run.
    """
    module = sys.modules.get(_DATA_GATE_MODULE)
    if module is None or not isinstance(error, BaseException):
        return None
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, module.DataGateError):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    return None


def day_label(config: PipelineConfig, span: int) -> str:
    """Names a span's day for an alert (``2026-11-04``, or ``span 7``).

    Args:
        config: The pipeline config (whether its span pattern is by date).
        span: The span number.

    Returns:
        The label.
    """
    return day_of_span(span, by_date="{YYYY}" in config.data.span_pattern)


def notify_gate_stopped(
    config: PipelineConfig, day: str | datetime.date, error: BaseException | str
) -> list[Delivery]:
    """Sends ``gate_stopped`` with the gate's paragraph; nothing if the gate did not stop it.

    Args:
        config: The pipeline config (``config.alerts``).
        day: The stopped day (a date, ``YYYY-MM-DD`` or ``span N``).
        error: The DataGateError (or an error it caused), or its paragraph.

    Returns:
        One delivery per destination; empty when none is configured or ``error``
        is not the data gate's.
    """
    reason = error if isinstance(error, str) else gate_reason(error)
    if reason is None or not config.alerts.configured:
        return []
    label = day.isoformat() if isinstance(day, datetime.date) else day
    return send(config, gate_stopped(config.pipeline_name, label, reason))


def not_blessed_alert(summary: RunSummary, day: str) -> Alert | None:
    """The ``not_blessed`` alert a finished run calls for, if any.

    Only an Evaluator that ran in this run counts: a rerun whose evaluation is a
    cache hit judged nothing new (its alert was sent by the run that judged it).

    Args:
        summary: The run's summary.
        day: The day the run trained for.

    Returns:
        The alert, or None when the model was blessed, nothing was evaluated, or
        the evaluation was reused.
    """
    evaluator = next((node for node in summary.nodes if node.node_id == EVALUATOR), None)
    if evaluator is None or evaluator.state != _EXECUTED or summary.blessed is not False:
        return None
    return not_blessed(summary.pipeline_name, day, summary.run_id, summary.model_gate)


def notify_not_blessed(config: PipelineConfig, summary: RunSummary, day: str) -> list[Delivery]:
    """Sends ``not_blessed`` when the run's new model was not blessed.

    Args:
        config: The pipeline config (``alerts.not_blessed`` turns this off).
        summary: The run's summary.
        day: The day the run trained for.

    Returns:
        One delivery per destination; empty when nothing was sent.
    """
    if not config.alerts.configured or not config.alerts.not_blessed:
        return []
    alert = not_blessed_alert(summary, day)
    return [] if alert is None else send(config, alert)


def notify_if_not_blessed(
    config: PipelineConfig,
    connection: metadata_store_pb2.ConnectionConfig,
    run_id: str,
    day: str | datetime.date,
) -> list[Delivery]:
    """Reads a run's evaluation from ML Metadata and sends ``not_blessed`` if it calls for it.

    For the DAG's Evaluator task, once the Evaluator has run: the run's summary
    (:func:`pipeline.ops.summary.summarize_run`) has the blessing and the gate's
    metric, candidate value, thresholds and baseline.

    Args:
        config: The pipeline config.
        connection: The ML Metadata connection.
        run_id: The run (``pipeline_run`` context name).
        day: The day the run trained for.

    Returns:
        One delivery per destination; empty when nothing was sent.
    """
    if not config.alerts.configured or not config.alerts.not_blessed:
        return []
    import ml_metadata as mlmd

    from pipeline.ops.summary import summarize_run

    summary = summarize_run(mlmd.MetadataStore(connection), config.pipeline_name, run_id)
    label = day.isoformat() if isinstance(day, datetime.date) else day
    return notify_not_blessed(config, summary, label)
