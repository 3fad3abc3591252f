"""``python -m tests.support.fault_runner NODE MARKER -- [-m pipeline] run ...``:
the pipeline CLI, paused at a chosen moment so a test can kill or interrupt it there.

When the executor of node ``NODE`` starts (TFX calls ``run_executor`` on a
``PythonExecutorOperator`` or, for the Beam-powered components, a
``BeamExecutorOperator``), this writes ``MARKER`` (the execution id) and sleeps, so
the test knows the run is inside that component when it sends SIGKILL or SIGINT.
``Pusher@rename`` pauses inside the Pusher after the model was copied into its
staging directory and fsynced, right before the rename into the served directory.

Everything after ``--`` goes to ``pipeline.cli.main`` (a leading ``-m pipeline`` is
dropped, so ``make run VPY="python -m tests.support.fault_runner NODE MARKER --"`` works).
Nothing of TFX is replaced: the real executors run, the pause is before/inside them.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

PAUSE_SECONDS = 600.0
RENAME_POINT = "Pusher@rename"


def _pause(marker: Path, what: str) -> None:
    marker.write_text(what, encoding="utf-8")
    time.sleep(PAUSE_SECONDS)


def _install(node: str, marker: Path) -> None:
    from tfx.orchestration.portable import beam_executor_operator, python_executor_operator

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def run_executor(self: Any, execution_info: Any, *args: Any, **kwargs: Any) -> Any:
            if execution_info.pipeline_node.node_info.id == node:
                _pause(marker, str(execution_info.execution_id))
            return original(self, execution_info, *args, **kwargs)

        return run_executor

    if node == RENAME_POINT:
        from components import serving_dir

        fsync_tree = serving_dir.fsync_tree

        def fsync_then_pause(root: str) -> None:
            fsync_tree(root)
            _pause(marker, root)

        serving_dir.fsync_tree = fsync_then_pause
        return
    for module, name in (
        (python_executor_operator, "PythonExecutorOperator"),
        (beam_executor_operator, "BeamExecutorOperator"),
    ):
        cls = getattr(module, name)
        cls.run_executor = wrap(cls.run_executor)


def main(argv: Sequence[str] | None = None) -> int:
    """Installs the pause and runs the pipeline CLI.

    Args:
        argv: ``NODE MARKER -- CLI args`` (default ``sys.argv[1:]``).

    Returns:
        The CLI's exit code.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--")
    own, cli_args = argv[:split], argv[split + 1 :]
    if cli_args[:2] == ["-m", "pipeline"]:
        cli_args = cli_args[2:]
    node, marker = own[0], Path(own[1])
    _install(node, marker)
    # TFX's PythonExecutorOperator hands sys.argv[1:] to executors as extra flags.
    sys.argv = [sys.argv[0], *cli_args]
    from pipeline import cli

    return cli.main(cli_args)


if __name__ == "__main__":
    sys.exit(main())
