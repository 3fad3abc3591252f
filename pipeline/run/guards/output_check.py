"""Checks that a run's output directories can take its outputs, before anything runs.

A run writes its artifacts under the pipeline root, pushes into the serving
directory and (with SQLite) records into the metadata file's directory. A read-only
mount, a full disk or a path that cannot be created would otherwise surface as a
component's traceback deep into the run, after ML Metadata recorded executions.
:func:`check_outputs` runs first and refuses with one paragraph instead.

Each directory (created if missing) must accept a real write: a probe file is
written, fsynced and removed. ``os.access`` is no test: the pipeline often runs as
root, which permission bits do not stop, while a read-only mount or a full disk
still does; and filesystems with delayed allocation may report a full disk only at
fsync. Each must also have ``outputs.min_free_mb`` free (statvfs ``f_bavail``).
"""

from __future__ import annotations

import dataclasses
import errno
import os
import socket
import uuid
from collections.abc import Mapping
from pathlib import Path

import yaml

from pipeline.config import (
    ENV_METADATA_PATH,
    ENV_OUTPUT_ROOT,
    ENV_SERVING_DIR,
    PipelineConfig,
)

PROBE_PREFIX = ".output-check-"
PROBE_BYTES = 4096  # one page/block: a full filesystem cannot hold it
# As pipeline.mlmd.connection (not imported: it imports ml_metadata): either sends
# ML Metadata to MySQL, so no SQLite directory is written.
ENV_MYSQL_HOST = "MLMD_MYSQL_HOST"
ENV_AIRFLOW_CONN = "AIRFLOW_CONN_MLMD_DEFAULT"


class OutputCheckError(RuntimeError):
    """An output directory cannot take a run's outputs; the message is one paragraph.

    Attributes:
        directory: The directory that failed the check.
        origin: The config key or environment variable that set it.
    """

    def __init__(self, message: str, directory: Path, origin: str) -> None:
        super().__init__(message)
        self.directory = directory
        self.origin = origin


@dataclasses.dataclass(frozen=True)
class OutputDir:
    """One directory a run writes to.

    Attributes:
        role: What the run writes there (``pipeline root``, ``serving dir``, ...).
        path: The directory.
        origin: Where the path came from, e.g. ``PIPELINE_SERVING_DIR`` or
            ``outputs.root in /repo/pipeline/configs/clicks.yaml``.
        create: Create it if missing; otherwise a missing directory is checked
            through its nearest existing parent, where it will be created.
    """

    role: str
    path: Path
    origin: str
    create: bool = True

    def probe_dir(self) -> Path:
        """The directory to write the probe into (and measure free space of)."""
        if self.create:
            return self.path
        existing = self.path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        return existing


def _raw_outputs(config: PipelineConfig) -> Mapping[str, object]:
    # Which keys the config file itself sets (the frozen config only has the result).
    try:
        raw = yaml.safe_load(Path(config.source).read_text(encoding="utf-8"))
        section = raw.get("outputs") if isinstance(raw, Mapping) else None
        return section if isinstance(section, Mapping) else {}
    except (OSError, yaml.YAMLError):
        return {}


def _origin(
    path: Path,
    key: str,
    env_key: str | None,
    from_root: Path | None,
    config: PipelineConfig,
    environ: Mapping[str, str],
) -> str:
    if env_key and environ.get(env_key) and Path(environ[env_key]).resolve() == path:
        return f"environment variable {env_key}"
    if environ.get(ENV_OUTPUT_ROOT) and from_root is not None:
        if Path(environ[ENV_OUTPUT_ROOT]).resolve() / from_root == path:
            return f"environment variable {ENV_OUTPUT_ROOT} (or --output-root)"
    raw = _raw_outputs(config)
    if key in raw:
        return f"outputs.{key} in {config.source}"
    return f"outputs.root in {config.source}"


def output_dirs(
    config: PipelineConfig, environ: Mapping[str, str] | None = None
) -> list[OutputDir]:
    """The directories a run writes to, each with the setting that chose it.

    Args:
        config: The pipeline config (with the runner's overrides applied).
        environ: The runner's environment (default ``os.environ``), to name the
            variable that set a path and to know whether metadata is in MySQL.

    Returns:
        Pipeline root, serving dir and, for SQLite metadata, the metadata file's
        directory.
    """
    env = os.environ if environ is None else environ
    outputs = config.outputs
    dirs = [
        OutputDir(
            "pipeline root",
            Path(outputs.pipeline_root),
            _origin(
                Path(outputs.pipeline_root),
                "pipeline_root",
                None,
                Path("pipelines") / config.pipeline_name,
                config,
                env,
            ),
        ),
        OutputDir(
            "serving dir",
            Path(outputs.serving_dir),
            _origin(
                Path(outputs.serving_dir),
                "serving_dir",
                ENV_SERVING_DIR,
                Path("serving"),
                config,
                env,
            ),
        ),
    ]
    if not (env.get(ENV_MYSQL_HOST) or env.get(ENV_AIRFLOW_CONN)):
        metadata_file = Path(outputs.metadata_path)
        origin = _origin(
            metadata_file,
            "metadata_path",
            ENV_METADATA_PATH,
            Path("metadata") / f"{config.pipeline_name}.sqlite",
            config,
            env,
        )
        # Not created here: the metadata connection creates it when a run starts.
        dirs.append(
            OutputDir("ML Metadata (SQLite) directory", metadata_file.parent, origin, create=False)
        )
    return dirs


def probe(directory: Path) -> None:
    """Creates ``directory`` if missing and writes, fsyncs and removes a probe file in it.

    Args:
        directory: The directory to check.

    Raises:
        OSError: What the filesystem said (read-only, no space, permission, ...).
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{PROBE_PREFIX}{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex}"
    try:
        with open(path, "wb") as handle:
            handle.write(b"\0" * PROBE_BYTES)
            handle.flush()
            os.fsync(handle.fileno())
    finally:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def free_mb(directory: Path) -> float:
    """Megabytes (MiB) available to the run in ``directory``'s filesystem.

    Args:
        directory: An existing directory.

    Returns:
        ``f_bavail * f_frsize`` in MiB (what a non-root writer may use; root's reserve
        is left for the system).
    """
    stats = os.statvfs(directory)
    return stats.f_bavail * stats.f_frsize / 2**20


def _describe(error: OSError) -> str:
    # "Read-only file system (errno EROFS)": the OS's own words plus the symbol to search.
    text = error.strerror or str(error)
    name = errno.errorcode.get(error.errno or 0)
    return f"{text} ({name})" if name else text


def check_outputs(config: PipelineConfig, environ: Mapping[str, str] | None = None) -> None:
    """Fails before any component runs when an output directory cannot take the run.

    Args:
        config: The pipeline config (with the runner's overrides applied).
        environ: The runner's environment (default ``os.environ``).

    Raises:
        OutputCheckError: Naming the directory, the setting that chose it, and the OS
            error or the free space it has; nothing was run, recorded or pushed.
    """
    for target in output_dirs(config, environ):
        where = f"The {target.role} {target.path} (set by {target.origin})"
        try:
            probe(target.probe_dir())
        except OSError as error:
            # The probe file's name says nothing; a parent that could not be made does.
            culprit = Path(error.filename) if error.filename else target.path
            quiet = culprit == target.path or culprit.name.startswith(PROBE_PREFIX)
            at = "" if quiet else f" at {culprit}"
            raise OutputCheckError(
                f"{where} cannot be written: {_describe(error)}{at}. The run stopped before "
                "any component ran: nothing was recorded in ML Metadata or pushed, and the "
                "served model is unchanged. Make it writable (remount read-write, free space, "
                "or point the setting at another directory) and run again.",
                target.path,
                target.origin,
            ) from error
        available = free_mb(target.probe_dir())
        needed = config.outputs.min_free_mb
        if available < needed:
            raise OutputCheckError(
                f"{where} has {available:.0f} MiB free, less than the {needed} MiB a run "
                f"needs (outputs.min_free_mb in {config.source}). The run stopped before any "
                "component ran: nothing was recorded in ML Metadata or pushed, and the served "
                "model is unchanged. Free space there, point the setting at a bigger disk, or "
                "lower outputs.min_free_mb, and run again.",
                target.path,
                target.origin,
            )


def disk_full(error: BaseException) -> bool:
    """Whether an error (or any error in its chain) says a disk is full.

    Components raise it in many shapes: ``OSError`` with ``ENOSPC``, TensorFlow's
    ``ResourceExhaustedError``, Beam re-raising a worker's error as text, SQLite's
    "database or disk is full".

    Args:
        error: The exception a run failed with.

    Returns:
        True if it is, or was caused by, a full disk.
    """
    seen: BaseException | None = error
    visited: set[int] = set()
    while seen is not None and id(seen) not in visited:
        visited.add(id(seen))
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(seen)
        if "No space left on device" in text or "database or disk is full" in text:
            return True
        if "Disk quota exceeded" in text:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def disk_full_note(
    config: PipelineConfig, error: BaseException, environ: Mapping[str, str] | None = None
) -> str:
    """For a run that failed on a full disk: which output directory is fullest now.

    Beam's and TFX's disk-full errors often name no path (``OSError: [Errno 28] No
    space left on device [while running 'WriteStats/...']``), so the note names the
    output directory with the least free space and the setting that chose it.

    Args:
        config: The pipeline config.
        error: The exception the run failed with.
        environ: The runner's environment (default ``os.environ``).

    Returns:
        ``". A disk filled up during the run: the pipeline root ... (set by ...) has
        0.0 MiB free ..."`` to append to the failure reason, or "" if the error is
        not a full disk.
    """
    if not disk_full(error):
        return ""
    free: list[tuple[float, OutputDir]] = []
    for target in output_dirs(config, environ):
        try:
            free.append((free_mb(target.probe_dir()), target))
        except OSError:  # gone or unreachable: nothing to say about its space
            continue
    if not free:
        return ". A disk filled up during the run; free space and run again"
    available, fullest = min(free, key=lambda pair: pair[0])
    return (
        f". A disk filled up during the run: the {fullest.role} {fullest.path} (set by "
        f"{fullest.origin}) is the fullest output directory, {available:.1f} MiB free now. "
        "Free space there (or point the setting at a bigger disk) and run again"
    )
