"""Command line: ``tfxp`` (or ``python -m pipeline``) and its subcommands.

Subcommands: run, train-worker, runs, diff, lineage, promote, rollback, report, metrics,
schema, init, generate, example-data, predict.

Heavy imports (TensorFlow, TFX) happen inside the commands so ``--help`` and config
errors answer at once.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence

from pipeline.cli import data, ops, run, serving
from pipeline.config import ConfigError
from pipeline.run.guards import output_check


def build_parser() -> argparse.ArgumentParser:
    """Builds the argument parser.

    Returns:
        The parser for ``python -m pipeline``.
    """
    # Named as invoked: the console script, or ``python -m pipeline`` (whose argv[0] is
    # __main__.py on Python 3.10).
    invoked = os.path.basename(sys.argv[0]) if sys.argv else ""
    prog = invoked if invoked == "tfxp" else "python -m pipeline"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    for group in (run, data, ops, serving):
        group.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the CLI.

    Args:
        argv: Arguments (default ``sys.argv[1:]``).

    Returns:
        The process exit code: 0 success, 1 pipeline failure, 2 bad config or input,
        3 another run held the SQLite metadata's run lock (nothing ran), 130
        interrupted (Ctrl-C).
    """
    args = build_parser().parse_args(argv)
    # google-cloud client libraries warn about Python 3.10 support on import; the
    # warning is about GCP SDK updates and says nothing about this run.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\..*")
    try:
        return args.func(args)
    except (ConfigError, FileNotFoundError, output_check.OutputCheckError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before or after a run: nothing to record
        print("\ninterrupted (Ctrl-C)", file=sys.stderr)
        return 130
