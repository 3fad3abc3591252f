"""What an alert says: one frozen :class:`Alert` per event, built from what the run knows.

Pure text: no Airflow, no TFX. The destinations (:mod:`pipeline.alerts.destinations`)
decide how an alert is rendered for Slack, email or a JSON webhook.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.ops.model_gate import ModelGate

GATE_STOPPED = "gate_stopped"
NOT_BLESSED = "not_blessed"
TASK_FAILED = "task_failed"
RUN_TIMED_OUT = "run_timed_out"

# The DataGate's paragraph joins its headline and each blocking finding with this.
_GATE_SEPARATOR = " | "


@dataclasses.dataclass(frozen=True)
class Alert:
    """One message for every destination.

    Attributes:
        kind: ``gate_stopped``, ``not_blessed``, ``task_failed`` or ``run_timed_out``.
        pipeline: The pipeline (or DAG) it is about.
        title: One line: what happened, to which day.
        text: The whole message: the pipeline, the day, and why (several lines).
        details: The facts behind the text, for a machine reading the JSON webhook
            (``day``, ``run_id``, ``task_id``, ...), all strings.
    """

    kind: str
    pipeline: str
    title: str
    text: str
    details: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The alert as the generic JSON webhook posts it.

        Returns:
            ``{"kind", "pipeline", "title", "text", "details"}``.
        """
        return {
            "kind": self.kind,
            "pipeline": self.pipeline,
            "title": self.title,
            "text": self.text,
            "details": dict(self.details),
        }


def day_of_span(span: int, by_date: bool) -> str:
    """Names the day a span holds, as alerts show it.

    Args:
        span: The span number.
        by_date: Whether the span pattern is by date (``{YYYY}-{MM}-{DD}``: the span
            counts days since 1970-01-01) rather than ``{SPAN}``.

    Returns:
        ``2026-11-04`` for a date span, ``span 7`` otherwise.
    """
    if not by_date:
        return f"span {span}"
    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=span)).isoformat()


def gate_stopped(pipeline: str, day: str, reason: str) -> Alert:
    """The data gate stopped a day: nothing was trained or pushed from it.

    Args:
        pipeline: The pipeline name.
        day: The stopped day (``YYYY-MM-DD``, or ``span N``).
        reason: The gate's one paragraph (``str(DataGateError)``): its headline and
            each blocking finding, with the feature, the measured value and the
            threshold it broke.

    Returns:
        The alert; its text lists each blocking finding on its own line.
    """
    head, *findings = [part.strip() for part in reason.split(_GATE_SEPARATOR)]
    lines = [
        f"Pipeline {pipeline!r}: the data gate stopped the day {day}.",
        head,  # "... nothing was trained or pushed from it and the served model is unchanged."
        *(f"- {finding}" for finding in findings),
    ]
    return Alert(
        kind=GATE_STOPPED,
        pipeline=pipeline,
        title=f"{pipeline}: data gate stopped {day}",
        text="\n".join(lines),
        details={"day": day, "reason": reason},
    )


def not_blessed(pipeline: str, day: str, run_id: str, gate: ModelGate | None) -> Alert:
    """A model trained on a day failed the model gate: not a failure, but not served.

    Args:
        pipeline: The pipeline name.
        day: The day the model was trained for.
        run_id: The run (``pipeline_run`` context name in ML Metadata).
        gate: The gate as TFMA recorded it (metric, candidate value, bounds,
            baseline value and change); None if TFMA recorded no threshold.

    Returns:
        The alert; its text holds the run summary's model gate line (metric,
        candidate value, threshold and baseline).
    """
    details = {"day": day, "run_id": run_id}
    if gate is None:
        why = "TFMA recorded no threshold on the overall slice."
    else:
        # The same words as the run summary's line; imported here so Airflow's DAG
        # parsing, which imports the callbacks, does not load ML Metadata.
        from pipeline.views.summary import format_gate

        why = format_gate(gate, pushed=False)
        details["metric"] = gate.metric
        for key, value in (
            ("value", gate.value),
            ("lower_bound", gate.lower_bound),
            ("upper_bound", gate.upper_bound),
            ("baseline_value", gate.baseline_value),
            ("change", gate.change),
            ("allowed_change", gate.allowed_change),
        ):
            if value is not None:
                details[key] = f"{value:.6g}"
    text = (
        f"Pipeline {pipeline!r}: the model trained for {day} (run {run_id}) was not "
        f"blessed and not pushed; the served model is unchanged.\n{why}"
    )
    return Alert(
        kind=NOT_BLESSED,
        pipeline=pipeline,
        title=f"{pipeline}: model for {day} not blessed",
        text=text,
        details=details,
    )


def task_failed(
    dag_id: str,
    task_id: str,
    run_id: str,
    logical_date: datetime.datetime | str,
    try_number: int,
    exception: BaseException | str | None,
) -> Alert:
    """An Airflow task failed after its last retry.

    Args:
        dag_id: The DAG.
        task_id: The task (a TFX node id).
        run_id: The DAG run id.
        logical_date: The run's logical date (the day it processes).
        try_number: The failed try.
        exception: What the task raised (Airflow passes a message instead when the
            scheduler failed the task, e.g. a killed process).

    Returns:
        The alert.
    """
    day = _day(logical_date)
    error = _one_line(exception) if exception is not None else "no exception was recorded"
    text = (
        f"DAG {dag_id!r}: task {task_id} of run {run_id} (day {day}) failed on try "
        f"{try_number}, its last: {error}"
    )
    return Alert(
        kind=TASK_FAILED,
        pipeline=dag_id,
        title=f"{dag_id}: task {task_id} failed for {day}",
        text=text,
        details={
            "day": day,
            "task_id": task_id,
            "run_id": run_id,
            "try_number": str(try_number),
            "error": error,
        },
    )


def run_timed_out(
    dag_id: str,
    run_id: str,
    logical_date: datetime.datetime | str,
    timeout: datetime.timedelta | None,
) -> Alert:
    """A DAG run ran past its ``dagrun_timeout``; Airflow failed it.

    Args:
        dag_id: The DAG.
        run_id: The DAG run id.
        logical_date: The run's logical date.
        timeout: The DAG's ``dagrun_timeout``.

    Returns:
        The alert.
    """
    day = _day(logical_date)
    limit = "its time limit" if timeout is None else f"its time limit of {_duration(timeout)}"
    text = (
        f"DAG {dag_id!r}: run {run_id} (day {day}) ran past {limit} and was failed; "
        "its unfinished tasks were skipped and nothing more will be pushed by it."
    )
    details = {"day": day, "run_id": run_id}
    if timeout is not None:
        details["timeout_seconds"] = f"{timeout.total_seconds():g}"
    return Alert(
        kind=RUN_TIMED_OUT,
        pipeline=dag_id,
        title=f"{dag_id}: run for {day} timed out",
        text=text,
        details=details,
    )


def _day(moment: datetime.datetime | str) -> str:
    return moment.date().isoformat() if isinstance(moment, datetime.datetime) else str(moment)


def _duration(delta: datetime.timedelta) -> str:
    seconds = int(delta.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    parts.append(f"{seconds} s" if seconds or not (hours or minutes) else "")
    return " ".join(part for part in parts if part)


def _one_line(exception: BaseException | str) -> str:
    # A task's error can be a multi-line traceback-ish text; an alert shows its gist.
    text = str(exception) if isinstance(exception, str) else f"{exception}"
    name = "" if isinstance(exception, str) else f"{type(exception).__name__}: "
    flat = " ".join(text.split())
    return f"{name}{flat[:1000]}{'...' if len(flat) > 1000 else ''}"
