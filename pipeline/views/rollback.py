"""A rollback (:func:`pipeline.ops.rollback.rollback`) rendered for people."""

from __future__ import annotations

from pipeline.ops.rollback import RollbackResult


def format_rollback(result: RollbackResult) -> str:
    """Renders a rollback for people.

    Args:
        result: The rollback.

    Returns:
        A few lines: what is served now, where it came from, where it is recorded.
    """
    previous = result.from_version or "nothing"
    return "\n".join(
        [
            f"Rolled back model {result.model_name!r} of pipeline {result.pipeline_name!r}: "
            f"version {result.new_version} now serves the model of version "
            f"{result.to_version} (was serving {previous}).",
            f"  copied:   {result.source_dir} -> {result.destination}",
            f"  model:    {result.model_uri}",
            f"  recorded: ML Metadata run {result.run_id} (Rollback execution "
            f"{result.execution_id}, PushedModel {result.pushed_model_id})",
        ]
    )
