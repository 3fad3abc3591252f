"""A model's lineage as text (``python -m pipeline lineage``), and every ``--json``.

The lineage comes from :mod:`pipeline.ops.lineage`; this module only lays it out.
:func:`to_json` is the one serialisation of the ``runs``, ``diff``, ``lineage``,
``promote`` and ``rollback`` results.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.mlmd import queries
from pipeline.ops.lineage import Evaluation, Lineage, Training
from pipeline.views.summary import format_gate


def _yes(flag: bool | None) -> str:
    return "unknown" if flag is None else ("yes" if flag else "no")


def _push_lines(item: Lineage) -> list[str]:
    push = item.push
    lines = [
        f"Model {item.model_name!r} version {item.version}"
        f"{' (served)' if item.served else ''} of pipeline {item.pipeline_name!r}",
        f"  pushed:   {push.pushed_at} to {push.destination} (run {push.run_id})",
        f"  labels:   {', '.join(item.labels) or 'none (TF Serving does not load it)'}",
    ]
    if push.rollback_of is None:
        lines.append("  rollback: no")
    else:
        lines.append(f"  rollback: yes, republishes version {push.rollback_of}")
        if item.original_push is not None:
            original = item.original_push
            lines.append(
                f"            originally pushed {original.pushed_at} as version "
                f"{original.version} (run {original.run_id})"
            )
    training = item.training
    return lines + [f"  model:    {training.model_uri} (trained in run {training.run_id})", ""]


def _data_lines(item: Lineage) -> list[str]:
    lines = [f"Data: {len(item.spans)} span(s) in the training window"]
    for span in item.spans:
        gone = f"{span.input_base}/{span.input_pattern} (files gone)"
        files = ", ".join(span.files) if span.files else gone
        # Date span specs number days since the epoch; show the day for people.
        lines.append(f"  span {span.span} ({queries.span_date(span.span)}): {files}")
        lines.append(f"    examples {span.examples_uri}")
        if span.input_fingerprint:
            lines.append(f"    fingerprint {span.input_fingerprint}")
    lines.append(f"  schema: {item.training.schema_uri}")
    checks = item.newest_span
    if checks is not None:
        lines += [
            f"Newest span {checks.span}:",
            f"  statistics: {checks.statistics_uri}",
            f"  anomalies:  {checks.anomalies_uri} "
            f"(no anomalies: {_yes(checks.anomalies_blessed)})",
            f"  data gate:  {checks.gate_report_uri} (passed: {_yes(checks.gate_passed)})",
        ]
    return lines


def _training_lines(training: Training) -> list[str]:
    return [
        "",
        "Training:",
        f"  code version: {training.code_version}",
        f"  distribution strategy: {training.distribution_strategy}; "
        f"train steps {training.train_steps}, eval steps {training.eval_steps}",
        "  hyperparameters: "
        + ", ".join(f"{k}={v}" for k, v in sorted(training.hyperparameters.items())),
        f"  transform graph: {training.transform_graph_uri}",
    ]


def _evaluation_lines(evaluation: Evaluation | None) -> list[str]:
    if evaluation is None:
        return ["", "Evaluation: none recorded"]
    lines = ["", f"Evaluation ({evaluation.evaluation_uri}):"]
    for name, value in sorted(evaluation.metrics.items()):
        lines.append(f"  {name:<24}{value:.4f}")
    if evaluation.gate is not None:
        lines.append("  " + format_gate(evaluation.gate, pushed=True).replace("\n", "\n  "))
    baseline = evaluation.baseline_model_uri or "none (first model)"
    if evaluation.baseline_version:
        baseline += f" (served as version {evaluation.baseline_version})"
    lines.append(f"  blessed: {_yes(evaluation.blessed)}; baseline: {baseline}")
    return lines


def format_lineage(item: Lineage) -> str:
    """Renders a lineage for people.

    Args:
        item: The lineage.

    Returns:
        Multi-line text: push, data, checks, training, evaluation.
    """
    lines = _push_lines(item) + _data_lines(item)
    lines += _training_lines(item.training) + _evaluation_lines(item.evaluation)
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def to_json(obj: Any) -> str:
    """Serialises a result (dataclasses, mappings, sequences) as stable JSON.

    Args:
        obj: A :class:`Lineage`, run records, a run diff, a rollback result, or
            anything made of dataclasses, mappings, sequences, paths and JSON scalars.

    Returns:
        Indented JSON with sorted keys, so equal results give equal text.
    """
    return json.dumps(_plain(obj), indent=2, sort_keys=True, default=str)
