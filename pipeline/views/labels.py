"""A ``promote`` or ``rollback`` (:mod:`pipeline.ops.labels`) rendered for people."""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.ops.labels import PROMOTE, LabelChange


def format_labels(labels: Mapping[str, str]) -> str:
    """Renders label -> version as ``stable=V, canary=W``.

    Args:
        labels: Label -> version.

    Returns:
        The text; ``none`` when there is no label.
    """
    return ", ".join(f"{label}={version}" for label, version in sorted(labels.items())) or "none"


def format_label_change(change: LabelChange) -> str:
    """Renders a label change for people.

    Args:
        change: The promotion or rollback.

    Returns:
        A few lines: what is stable now, the labels, the file, where it is recorded.
    """
    previous = change.from_version or "none"
    what = "Promoted" if change.action == PROMOTE else "Rolled back"
    return "\n".join(
        [
            f"{what} model {change.model_name!r} of pipeline {change.pipeline_name!r}: "
            f"version {change.to_version} is {change.label} now (was {previous}).",
            f"  labels:   {format_labels(change.labels)} "
            f"(before: {format_labels(change.labels_before)})",
            f"  config:   {change.config_file} (TF Serving reads it at its next poll)",
            f"  model:    {change.model_uri}",
            f"  recorded: ML Metadata run {change.run_id} "
            f"({change.action.capitalize()} execution {change.execution_id})",
        ]
    )
