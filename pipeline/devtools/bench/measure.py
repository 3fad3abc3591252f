"""Measuring one pipeline run as a fresh process.

What is measured: its wall time, the peak memory of its process tree, and each
component's time as ML Metadata recorded it.

Kept free of TensorFlow and TFX imports: the harness process only launches and
watches; everything measured happens in the child process, imports included.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

# How often the process tree's memory is sampled. Beam's multi-processing mode and
# TFX start worker processes that live a few seconds; 0.1 s catches them.
SAMPLE_SECONDS = 0.1


@dataclasses.dataclass(frozen=True)
class NodeTime:
    """One node's execution in a run, as ML Metadata recorded it.

    Attributes:
        node_id: The node's id (``Transform``, ``CsvExampleGen`` ...).
        state: ``ran``, ``cached`` or another ML Metadata execution state.
        seconds: From the execution's creation to its last update (the launcher's
            driver, executor and publish; input resolution comes before).
        start: Creation time, seconds since the epoch.
    """

    node_id: str
    state: str
    seconds: float
    start: float


@dataclasses.dataclass(frozen=True)
class RunResult:
    """One measured run.

    Attributes:
        label: What ran (e.g. ``ours``, ``reference``).
        kind: ``first`` (fresh outputs) or ``cached`` (rerun, nothing new).
        wall_seconds: The child process's whole life, imports included.
        startup_seconds: From launching the process to the first node's execution
            (interpreter, imports, pipeline compile, input resolution).
        peak_rss_mib: Peak resident memory of the process tree (sum of the process
            and its children at the worst sample), MiB.
        returncode: The child's exit code.
        nodes: Each node's time, in execution order.
    """

    label: str
    kind: str
    wall_seconds: float
    startup_seconds: float
    peak_rss_mib: float
    returncode: int
    nodes: tuple[NodeTime, ...]

    def node_seconds(self, node_id: str) -> float | None:
        """The named node's seconds in this run (None if it did not run).

        Args:
            node_id: A node id.

        Returns:
            Seconds, or None.
        """
        for node in self.nodes:
            if node.node_id == node_id:
                return node.seconds
        return None

    def to_dict(self) -> dict:
        """JSON-able form.

        Returns:
            A dict of the fields, nodes as a list of dicts.
        """
        return dataclasses.asdict(self)


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for member in members:
        try:
            total += member.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def run_process(
    command: Sequence[str],
    log_path: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> tuple[float, float, int, float]:
    """Runs a command as a fresh process, sampling its process tree's memory.

    Args:
        command: The command line.
        log_path: Where its stdout and stderr go.
        env: Its environment (default: this process's).
        cwd: Its working directory.

    Returns:
        ``(start time since the epoch, wall seconds, return code, peak RSS in MiB)``.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # The reference (and our Beam-argument variants) leave an sdist of TFX per Beam
    # component in the temporary directory (see pipeline/run/guards/scratch.py): give each
    # measured process its own, and remove it.
    with open(log_path, "wb") as log, tempfile.TemporaryDirectory(prefix="bench-tmp-") as scratch:
        start = time.time()
        tick = time.perf_counter()
        child = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**(os.environ if env is None else env), "TMPDIR": scratch},
            cwd=cwd,
        )
        watched = psutil.Process(child.pid)
        peak = 0
        while child.poll() is None:
            peak = max(peak, _tree_rss(watched))
            time.sleep(SAMPLE_SECONDS)
        wall = time.perf_counter() - tick
    return start, wall, child.returncode, peak / 2**20


def open_readonly(metadata_path: Path) -> Any:
    """Opens a run's SQLite ML Metadata store read-only: the harness never writes it.

    Args:
        metadata_path: The SQLite file.

    Returns:
        The ``ml_metadata.MetadataStore``.
    """
    import ml_metadata as mlmd
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(metadata_path)
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return mlmd.MetadataStore(config)


def node_times(metadata_path: Path, since: float) -> tuple[NodeTime, ...]:
    """Reads the node executions recorded since a time from a SQLite ML Metadata store.

    Works for any pipeline run by TFX's portable launcher (LocalDagRunner, this
    project's runners, TFX's own example): each execution is attributed to a
    ``node`` context of its pipeline.

    Args:
        metadata_path: The SQLite file.
        since: Seconds since the epoch; older executions are ignored.

    Returns:
        Node times ordered by start.
    """
    from pipeline.mlmd import queries

    store = open_readonly(metadata_path)
    node_of: dict[int, str] = {}
    for pipeline in store.get_contexts_by_type(queries.PIPELINE_CONTEXT):
        node_of.update(queries.node_ids(store, pipeline.name))
    since_ms = int(since * 1000)
    result = []
    for execution in queries.executions(store, f"create_time_since_epoch >= {since_ms}"):
        if execution.id not in node_of:
            continue
        created, updated = execution.create_time_since_epoch, execution.last_update_time_since_epoch
        ran = execution.last_known_state == queries.Execution.COMPLETE
        result.append(
            NodeTime(
                node_id=node_of[execution.id],
                state="ran" if ran else queries.state_name(execution),
                seconds=max(updated - created, 0) / 1000.0,
                start=created / 1000.0,
            )
        )
    return tuple(sorted(result, key=lambda node: node.start))


def measure(
    label: str,
    kind: str,
    command: Sequence[str],
    metadata_path: Path,
    log_path: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> RunResult:
    """Runs one pipeline process and measures it.

    Args:
        label: What runs.
        kind: ``first`` or ``cached``.
        command: The command line (a fresh Python process).
        metadata_path: The SQLite ML Metadata store the run writes.
        log_path: The process's output.
        env: Its environment.
        cwd: Its working directory.

    Returns:
        The measurements.
    """
    start, wall, code, peak = run_process(command, log_path, env, cwd)
    nodes = node_times(metadata_path, start) if metadata_path.exists() else ()
    startup = (nodes[0].start - start) if nodes else wall
    return RunResult(
        label=label,
        kind=kind,
        wall_seconds=wall,
        startup_seconds=max(startup, 0.0),
        peak_rss_mib=peak,
        returncode=code,
        nodes=nodes,
    )


def generate_clicks(out: Path, start: str, days: int, rows: int, seed: int = 7) -> None:
    """Writes generated click days (``python -m pipeline generate``, a fresh process).

    Args:
        out: The data root (one ``YYYY-MM-DD`` folder per day).
        start: The first day, ``YYYY-MM-DD``.
        days: How many days.
        rows: Rows per day.
        seed: The generator's seed (the same days for every bench run).
    """
    subprocess.run(
        [sys.executable, "-m", "pipeline", "generate", "--out", str(out), "--start", start]
        + ["--days", str(days), "--rows", str(rows), "--seed", str(seed)],
        check=True,
        cwd=Path(__file__).resolve().parents[3],
        stdout=subprocess.DEVNULL,
    )


def machine_info() -> dict[str, str | int | float]:
    """What the benchmark ran on, for the results table.

    Returns:
        CPU model, core count, memory, OS, Python and the key package versions.
    """
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib import metadata

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "-"

    return {
        "cpu": cpu,
        "cores": os.cpu_count() or 0,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "tfx": version("tfx"),
        "tensorflow": version("tensorflow"),
        "apache-beam": version("apache-beam"),
        "tensorflow-transform": version("tensorflow-transform"),
        "tensorflow-model-analysis": version("tensorflow-model-analysis"),
    }
