"""What every subcommand shares: the config arguments, loading, log routing, the store."""

from __future__ import annotations

import argparse
import datetime
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.config import (
    DEFAULT_CONFIG,
    ENV_DATA_ROOT,
    ENV_OUTPUT_ROOT,
    PipelineConfig,
    load_config,
    with_env_overrides,
)

if TYPE_CHECKING:
    import ml_metadata as mlmd

# Exit code when another run held the SQLite metadata's run lock: nothing ran, and a
# scheduler may simply try again later.
EXIT_BUSY = 3


def add_config_arguments(sub: argparse.ArgumentParser) -> None:
    """Adds ``--config``, ``--data-root`` and ``--output-root`` to a subcommand.

    Args:
        sub: The subcommand's parser.
    """
    sub.add_argument(
        "--config",
        default=str(DEFAULT_CONFIG),
        help="pipeline config YAML (default: %(default)s)",
    )
    sub.add_argument("--data-root", help=f"override data.input_base (env {ENV_DATA_ROOT})")
    sub.add_argument(
        "--output-root",
        help=f"put pipeline root, metadata and serving dir here (env {ENV_OUTPUT_ROOT})",
    )


def load(args: argparse.Namespace) -> PipelineConfig:
    """Loads the config named by ``--config``, with ``--data-root``/``--output-root`` applied.

    Args:
        args: The parsed command line.

    Returns:
        The config.
    """
    # Flags are runner-level overrides, applied through the same path as env vars.
    overrides = dict(os.environ)
    if getattr(args, "data_root", None):
        overrides[ENV_DATA_ROOT] = args.data_root
    if getattr(args, "output_root", None):
        overrides[ENV_OUTPUT_ROOT] = args.output_root
    return with_env_overrides(load_config(args.config), overrides)


def route_logs(config: PipelineConfig | None, verbose: bool) -> Path | None:
    """Sends TFX/Beam/TensorFlow logs to a per-run file unless ``verbose``.

    The terminal then shows only the summary or a one-paragraph error; the file keeps
    everything, tracebacks included. Must run before TensorFlow is imported, because
    its C++ log level is read from the environment at import.

    Returns:
        The log file, or None when logging to the terminal.
    """
    root = logging.getLogger()
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.INFO)
    if verbose or config is None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1" if verbose else "3")
        root.setLevel(logging.INFO if verbose else logging.WARNING)
        if not verbose:
            absl_logging.set_verbosity(absl_logging.WARNING)
        return None
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    log_dir = Path(config.outputs.pipeline_root) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    path = log_dir / f"run-{stamp}.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    return path


def open_store(args: argparse.Namespace) -> tuple[PipelineConfig, mlmd.MetadataStore]:
    """Returns the config and its ML Metadata store (SQLite, or MySQL from MLMD_MYSQL_*).

    Args:
        args: The parsed command line.

    Returns:
        The config and the store.
    """
    config = load(args)
    route_logs(None, verbose=False)
    from pipeline.mlmd import connection as metadata

    return config, metadata.open_store(config)
