"""Run history and run diffs as text: ``python -m pipeline runs`` and ``diff``.

The records come from :mod:`pipeline.ops.history`; this module only lays them out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pipeline.ops.history import ExamplesRef, RunDiff, RunRecord


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _span_list(spans: Iterable[int]) -> str:
    return ",".join(str(s) for s in spans) or "-"


_RUN_COLUMNS = (
    "run id",
    "started (UTC)",
    "seconds",
    "status",
    "spans",
    "blessed",
    "pushed",
    "labels",
    "stopped by",
)


def format_runs(records: Iterable[RunRecord]) -> str:
    """Renders run records as a fixed-width table, one run a line.

    A run's recorded reason, if any, follows its line, indented. ``labels`` are the
    TF Serving labels the run's pushed version holds now (``stable``, ``canary``).

    Args:
        records: Records from :func:`pipeline.ops.history.list_runs`.

    Returns:
        The table (a header only when there are no runs).
    """
    records = list(records)
    rows = [
        (
            r.run_id,
            r.started.replace("+00:00", ""),
            f"{r.duration_seconds:.1f}",
            r.status,
            _span_list(r.spans),
            _yes_no(r.blessed),
            r.pushed_version or "-",
            ",".join(r.labels) or "-",
            r.stopped_by or "-",
        )
        for r in records
    ]
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(_RUN_COLUMNS)]
    right = {2}  # seconds: numbers read best right-aligned

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ).rstrip()

    lines = [line(_RUN_COLUMNS), line(tuple("-" * w for w in widths))]
    for record, row in zip(records, rows, strict=True):
        lines.append(line(row))
        if record.reason:
            lines.append(f"    reason: {record.reason}")
    return "\n".join(lines)


def _value(value: Any) -> str:
    if value is None:
        return "(absent)"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _examples(refs: tuple[ExamplesRef, ...]) -> str:
    return (
        ", ".join(
            f"span {r.span} (artifact {r.artifact_id}"
            + (f", version {r.version})" if r.version is not None else ")")
            for r in refs
        )
        or "none"
    )


def _data_lines(diff: RunDiff) -> list[str]:
    if diff.same_data:
        return [f"data: same ({_examples(diff.examples_a)})"]
    lines = ["data:", f"  a: {_examples(diff.examples_a)}", f"  b: {_examples(diff.examples_b)}"]
    if diff.spans_added:
        lines.append(f"  spans added: {_span_list(diff.spans_added)}")
    if diff.spans_removed:
        lines.append(f"  spans removed: {_span_list(diff.spans_removed)}")
    if not diff.spans_added and not diff.spans_removed:
        lines.append("  same spans, different Examples artifacts (re-ingested)")
    return lines


def _schema_lines(diff: RunDiff) -> list[str]:
    if not diff.same_schema:
        return [f"schema: changed ({diff.schema_uri_a} -> {diff.schema_uri_b})"] + [
            f"  {line}" for line in diff.schema_diff.rstrip("\n").splitlines()
        ]
    if diff.schema_uri_a == diff.schema_uri_b:
        return [f"schema: same ({diff.schema_uri_a or 'none'})"]
    return [f"schema: same text ({diff.schema_uri_a} and {diff.schema_uri_b})"]


def _metric_lines(diff: RunDiff) -> list[str]:
    if not diff.metrics_a and not diff.metrics_b:
        return ["metrics: neither run evaluated a model"]
    if not diff.metric_changes:
        return ["metrics: same"]
    lines = ["metrics (overall slice):"]
    width = max(len(c.key) for c in diff.metric_changes) + 2
    for change in diff.metric_changes:
        delta = (
            f"  ({change.b - change.a:+.4f})"
            if change.a is not None and change.b is not None
            else ""
        )
        lines.append(f"  {change.key:<{width}}{_value(change.a)} -> {_value(change.b)}{delta}")
    return lines


def format_diff(diff: RunDiff) -> str:
    """Renders a diff for people, saying "same" where nothing differs.

    One section each for data, schema, code, config and metrics.

    Args:
        diff: A diff from :func:`pipeline.ops.history.diff_runs`.

    Returns:
        Multi-line text.
    """
    lines = [f"Pipeline {diff.pipeline_name!r}: run {diff.run_a} (a) -> run {diff.run_b} (b)", ""]
    lines += _data_lines(diff)
    lines += _schema_lines(diff)
    if diff.same_code:
        lines.append(f"code version: same ({diff.code_version_a or 'not recorded'})")
    else:
        lines.append(f"code version: {diff.code_version_a} -> {diff.code_version_b}")
    if diff.same_config:
        lines.append("config: same")
    else:
        lines.append("config:")
        lines += [f"  {c.key}: {_value(c.a)} -> {_value(c.b)}" for c in diff.config_changes]
    lines += _metric_lines(diff)
    return "\n".join(lines)
