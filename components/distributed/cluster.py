"""Multi-worker training plumbing that needs no TensorFlow.

Worker addresses, ``TF_CONFIG`` and the job files that hand a Trainer execution to the
other workers.

The pipeline's Trainer (worker 0, the chief) writes one job directory per training
run under ``<pipeline_root>/distributed_jobs``::

    <jobs_dir>/<job id>/job.json      what to train (artifacts, properties, cluster)
    <jobs_dir>/<job id>/taken-<i>     worker i took the job (written once, O_EXCL)
    <jobs_dir>/<job id>/worker-<i>.log  worker i's training output
    <jobs_dir>/<job id>/finished-<i>  worker i's training process exited cleanly
    <jobs_dir>/<job id>/done          the chief finished (or gave up): job closed

``python -m pipeline train-worker --index i`` on another host waits for the newest
open job not yet taken by ``i``. Both sides then train in a fresh process
(:func:`run_task_process`) and watch it join the cluster. Kept free of TensorFlow
imports: the config loader (and so the Airflow DAG file) validates worker addresses
with it, and ``train-worker`` waits for jobs without loading TensorFlow.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

TF_CONFIG = "TF_CONFIG"
JOB_FILE = "job.json"
DONE_FILE = "done"
JOB_VERSION = 1
# Job directory name under the pipeline root (see ``jobs_dir``).
JOBS_DIRNAME = "distributed_jobs"
# The line a training process prints once every worker has connected; the process
# that started it watches for it to tell "waiting for workers" from "training".
JOINED_MARKER = "MULTI_WORKER_JOINED"


def parse_worker_address(address: str) -> tuple[str, int]:
    """Splits a ``host:port`` worker address (``[v6]:port`` for IPv6 literals).

    Args:
        address: The address as written in ``training.workers``.

    Returns:
        ``(host, port)``.

    Raises:
        ValueError: If it is not ``host:port`` with a port in 1..65535.
    """
    text = str(address).strip()
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"worker address {address!r} is not host:port with a port in 1..65535")
    if host.startswith("[") != host.endswith("]") or (":" in host and not host.startswith("[")):
        raise ValueError(f"worker address {address!r}: write an IPv6 host in brackets, [::1]:port")
    return host, int(port)


def validate_workers(workers: Sequence[str]) -> tuple[str, ...]:
    """Checks a ``training.workers`` list: at least two distinct ``host:port``.

    Args:
        workers: Addresses, the chief (the pipeline's Trainer) first.

    Returns:
        The addresses, stripped.

    Raises:
        ValueError: On a malformed address, fewer than two workers or a duplicate.
    """
    cleaned = tuple(str(w).strip() for w in workers)
    for address in cleaned:
        try:
            parse_worker_address(address)
        except ValueError as err:
            raise ValueError(f"training.workers: {err}") from None
    if len(cleaned) < 2:
        raise ValueError(
            f"training.workers lists {len(cleaned)} worker(s); multi-worker training needs at "
            "least 2 (the first is the pipeline's own Trainer); leave it empty to train on one"
        )
    duplicates = sorted({w for w in cleaned if cleaned.count(w) > 1})
    if duplicates:
        raise ValueError(f"training.workers lists {duplicates} more than once")
    return cleaned


def tf_config(workers: Sequence[str], index: int) -> dict[str, Any]:
    """Builds the ``TF_CONFIG`` for one worker of a MultiWorkerMirroredStrategy cluster.

    There is no separate ``chief`` task: with MultiWorkerMirroredStrategy worker 0
    is the chief (it writes the model and the logs).

    Args:
        workers: Every worker's ``host:port``, the chief first.
        index: This worker's position in ``workers``.

    Returns:
        ``{"cluster": {"worker": [...]}, "task": {"type": "worker", "index": index}}``.

    Raises:
        ValueError: If ``index`` is not a position in ``workers``.
    """
    if not 0 <= index < len(workers):
        raise ValueError(f"worker index {index} is out of range for {len(workers)} workers")
    return {"cluster": {"worker": list(workers)}, "task": {"type": "worker", "index": index}}


def is_chief(config: Mapping[str, Any] | None) -> bool:
    """Whether a ``TF_CONFIG`` names the task that writes the model.

    As in ``tf.distribute``'s multi_worker_util: the ``chief`` task, or worker 0
    when the cluster has no chief; no cluster at all means a single (chief) worker.

    Args:
        config: A parsed ``TF_CONFIG`` (or None/empty).

    Returns:
        True for the chief.
    """
    if not config or not config.get("cluster"):
        return True
    task = config.get("task") or {}
    kind, index = task.get("type"), int(task.get("index", 0))
    if kind == "chief":
        return True
    return kind == "worker" and index == 0 and "chief" not in config["cluster"]


def env_tf_config(environ: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The ``TF_CONFIG`` of an environment, if it names a cluster.

    Args:
        environ: The environment (default ``os.environ``).

    Returns:
        The parsed value, or None when unset or without a cluster.

    Raises:
        ValueError: If TF_CONFIG is not valid JSON.
    """
    raw = (os.environ if environ is None else environ).get(TF_CONFIG, "")
    if not raw.strip():
        return None
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ValueError(f"TF_CONFIG is not valid JSON ({err}): {raw[:200]}") from None
    return parsed if isinstance(parsed, dict) and parsed.get("cluster") else None


def jobs_dir(pipeline_root: str | os.PathLike[str]) -> Path:
    """Where a pipeline's multi-worker jobs live (must be visible to every worker).

    Args:
        pipeline_root: The pipeline root.

    Returns:
        ``<pipeline_root>/distributed_jobs``.
    """
    return Path(pipeline_root) / JOBS_DIRNAME


@dataclasses.dataclass(frozen=True)
class Job:
    """One Trainer execution, as handed to every worker.

    Attributes:
        path: The job directory.
        created: When the chief wrote it (seconds since the epoch, writer's clock).
        join_timeout: Seconds the chief waits for every worker to connect; after
            ``created + join_timeout`` the job is closed to new workers.
        workers: Every worker's ``host:port``, the chief first (empty: the cluster
            comes from the environment's ``TF_CONFIG``).
        inputs: The Trainer's input artifacts (``artifact_utils.jsonify_artifact_dict``).
        outputs: The Trainer's output artifacts, same format.
        exec_properties: The Trainer's execution properties (``json_utils.dumps``).
    """

    path: Path
    created: float
    join_timeout: float
    workers: tuple[str, ...]
    inputs: str
    outputs: str
    exec_properties: str

    @property
    def deadline(self) -> float:
        """Seconds since the epoch after which no worker may still join."""
        return self.created + self.join_timeout

    def is_open(self, now: float | None = None) -> bool:
        """Whether a worker may still take the job (not done and not past its deadline).

        Args:
            now: The time to judge at (default: now).

        Returns:
            True while the chief may still be waiting for workers.
        """
        now = time.time() if now is None else now
        return not (self.path / DONE_FILE).exists() and now < self.deadline

    def taken_by(self) -> dict[int, str]:
        """Which workers took the job.

        Returns:
            Worker index -> what it wrote when taking it (host and pid).
        """
        taken = {}
        for marker in self.path.glob("taken-*"):
            suffix = marker.name.split("-", 1)[1]
            if suffix.isdigit():
                taken[int(suffix)] = marker.read_text(encoding="utf-8").strip()
        return taken

    def take(self, index: int) -> bool:
        """Claims the job for worker ``index`` (atomically: one taker per index).

        Args:
            index: The worker index.

        Returns:
            False if a worker with that index took it already.
        """
        try:
            fd = os.open(self.path / f"taken-{index}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f"host {socket.gethostname()} pid {os.getpid()} at {_iso(time.time())}\n")
        return True

    def log_path(self, index: int) -> Path:
        """Where worker ``index`` keeps its training output.

        Args:
            index: The worker index.

        Returns:
            ``<job dir>/worker-<index>.log``.
        """
        return self.path / f"worker-{index}.log"

    def close(self) -> None:
        """Marks the job finished, so no worker takes it later."""
        (self.path / DONE_FILE).write_text(_iso(time.time()) + "\n", encoding="utf-8")


def write_job(
    directory: str | os.PathLike[str],
    *,
    workers: Sequence[str],
    join_timeout: float,
    inputs: str,
    outputs: str,
    exec_properties: str,
) -> Job:
    """Writes a new job directory (the JSON appears atomically, by rename).

    Args:
        directory: The jobs directory (shared by every worker).
        workers: The cluster, chief first (empty: from the environment's TF_CONFIG).
        join_timeout: Seconds the chief waits for the other workers.
        inputs: Serialized input artifacts.
        outputs: Serialized output artifacts.
        exec_properties: Serialized execution properties.

    Returns:
        The job.
    """
    created = time.time()
    # Sortable by time, unique across hosts and processes.
    stamp = datetime.datetime.fromtimestamp(created, tz=datetime.timezone.utc)
    job_id = f"{stamp:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}"
    path = Path(directory) / job_id
    path.mkdir(parents=True)
    payload = {
        "version": JOB_VERSION,
        "created": created,
        "join_timeout": float(join_timeout),
        "workers": list(workers),
        "inputs": json.loads(inputs),
        "outputs": json.loads(outputs),
        "exec_properties": json.loads(exec_properties),
    }
    partial = path / f".{JOB_FILE}.partial"
    partial.write_text(json.dumps(payload, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(partial, path / JOB_FILE)
    return read_job(path)


def read_job(path: str | os.PathLike[str]) -> Job:
    """Reads a job directory (or its ``job.json``).

    Args:
        path: The job directory or its JSON file.

    Returns:
        The job.

    Raises:
        ValueError: If the file is not a job this code understands.
    """
    path = Path(path)
    directory = path.parent if path.name == JOB_FILE else path
    raw = json.loads((directory / JOB_FILE).read_text(encoding="utf-8"))
    if raw.get("version") != JOB_VERSION:
        raise ValueError(
            f"job {directory} has version {raw.get('version')!r}; this code reads version "
            f"{JOB_VERSION} (are the workers running the same code as the pipeline?)"
        )
    return Job(
        path=directory,
        created=float(raw["created"]),
        join_timeout=float(raw["join_timeout"]),
        workers=tuple(raw["workers"]),
        inputs=json.dumps(raw["inputs"]),
        outputs=json.dumps(raw["outputs"]),
        exec_properties=json.dumps(raw["exec_properties"]),
    )


def take_newest_job(directory: str | os.PathLike[str], index: int) -> Job | None:
    """Takes the newest open job that worker ``index`` has not taken yet.

    Args:
        directory: The jobs directory.
        index: The worker index.

    Returns:
        The job, now marked as taken by ``index``; None if there is none.
    """
    root = Path(directory)
    if not root.is_dir():
        return None
    now = time.time()
    # Job ids start with a UTC timestamp, so names sort by age.
    for path in sorted((p for p in root.iterdir() if (p / JOB_FILE).is_file()), reverse=True):
        job = read_job(path)
        if not job.is_open(now):
            # Older jobs are older still: the chief that wrote them is gone.
            return None
        if index in job.taken_by():
            continue
        if job.take(index):
            return job
    return None


def wait_for_job(
    directory: str | os.PathLike[str],
    index: int,
    timeout: float | None = None,
    poll_seconds: float = 1.0,
) -> Job | None:
    """Waits for a job to appear and takes it (see :func:`take_newest_job`).

    Args:
        directory: The jobs directory.
        index: The worker index.
        timeout: Seconds to wait (None: forever).
        poll_seconds: How often to look.

    Returns:
        The job, or None if none appeared in time.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        job = take_newest_job(directory, index)
        if job is not None:
            return job
        if deadline is not None and time.monotonic() >= deadline:
            return None
        time.sleep(poll_seconds)


def _iso(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc).isoformat()


# The module a training process runs: ``python -m components.distributed.training_process``.
TASK_MODULE = "components.distributed.training_process"
# The directory holding the ``components`` package: a training process imports the
# same code as the process that starts it (a work tree, not another install).
_CODE_ROOT = Path(__file__).resolve().parents[2]


class WorkerJoinError(RuntimeError):
    """Not every worker connected in time; the message names the missing ones."""


class TrainingProcessError(RuntimeError):
    """A training process failed; the message names the reason and its log file."""


class WorkerLostError(TrainingProcessError):
    """A worker vanished from the network mid-training; the message names it."""


def task_command(job: Job, index: int) -> list[str]:
    """The command that trains worker ``index``'s part of a job in a fresh process.

    Args:
        job: The job.
        index: The worker index.

    Returns:
        ``[python, -m, components.distributed.training_process, --job, DIR, --index, N]``.
    """
    return [sys.executable, "-m", TASK_MODULE, "--job", str(job.path), "--index", str(index)]


def run_task_process(
    job: Job,
    index: int,
    join_timeout: float | None,
    echo: Callable[[str], None] | None = None,
) -> None:
    """Trains worker ``index``'s part of a job in a fresh process and waits for it.

    A fresh process because MultiWorkerMirroredStrategy must configure collective
    ops before TensorFlow's eager context starts, and the pipeline's own process
    (LocalDagRunner, an Airflow task) has long started it by the time the Trainer
    runs. The process's output goes to ``job.log_path(index)`` and to ``echo``.

    Args:
        job: The job.
        index: The worker index.
        join_timeout: Seconds to wait for every worker to connect (None: forever);
            training itself has no time limit.
        echo: Called with each output line (e.g. a logger or ``print``).

    Once training runs, the chief (``index`` 0) probes the other workers (see
    :class:`PeerWatch`): one that stays unreachable for ``join_timeout`` seconds
    fails the training, as TensorFlow's collectives may otherwise wait for it forever.

    Raises:
        WorkerJoinError: If the cluster did not form in time (the process is killed).
        WorkerLostError: If a worker vanished mid-training (the process is killed, or
            its collectives failed while the worker was unreachable).
        TrainingProcessError: If the process failed.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_CODE_ROOT), env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    log_path = job.log_path(index)
    tail: collections.deque[str] = collections.deque(maxlen=200)
    joined = threading.Event()
    started = time.monotonic()
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            task_command(job, index),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            env=env,
        )

        def pump() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                line = line.rstrip("\n")
                log.write(line + "\n")
                log.flush()
                tail.append(line)
                if line.startswith(JOINED_MARKER):
                    joined.set()
                if echo is not None:
                    echo(line)

        reader = threading.Thread(target=pump, name=f"worker-{index}-output", daemon=True)
        reader.start()
        try:
            while not joined.is_set() and process.poll() is None:
                waited = time.monotonic() - started
                if join_timeout is not None and waited >= join_timeout:
                    raise WorkerJoinError(_join_failure(job, index, waited))
                joined.wait(0.5)
            watch = PeerWatch(job) if index == 0 and job.workers else None
            while process.poll() is None:
                if watch is not None and join_timeout is not None:
                    lost = watch.lost_for(join_timeout)
                    if lost:
                        raise WorkerLostError(_lost_failure(job, lost, join_timeout, log_path))
                try:
                    process.wait(timeout=PROBE_SECONDS)
                except subprocess.TimeoutExpired:
                    pass
            code = process.wait()
            if code != 0 and watch is not None and join_timeout is not None:
                # The collectives failed (gRPC UNAVAILABLE, a heartbeat timeout):
                # say which host went rather than which C++ call noticed.
                lost = watch.lost_for(0.0)
                if lost:
                    raise WorkerLostError(_lost_failure(job, lost, join_timeout, log_path))
        finally:
            if process.poll() is None:
                # SIGKILL: TensorFlow's preemption notifier catches SIGTERM, and a
                # process still waiting for workers has nothing to save.
                process.kill()
                process.wait()
            reader.join(timeout=10)
    if code != 0:
        # No closing period: runners append their own sentence after the message.
        reason = f"killed by {signal.Signals(-code).name}" if code < 0 else _reason(tail)
        raise TrainingProcessError(
            f"Multi-worker training failed in worker {index}'s process (exit code {code}): "
            f"{reason.rstrip('.')}; its full output is in {log_path}"
        )
    if index != 0:
        # Tells the chief this worker is gone because it finished, not because it died.
        (job.path / f"{FINISHED_PREFIX}{index}").write_text(_iso(time.time()) + "\n", "utf-8")


# How often the chief probes the other workers once training runs, and how long one
# TCP connect may take (a vanished host answers nothing; a closed port refuses).
PROBE_SECONDS = 1.0
CONNECT_TIMEOUT_SECONDS = 3.0
# ``<job dir>/finished-<i>``: worker i's training process exited cleanly.
FINISHED_PREFIX = "finished-"


def reachable(address: str, timeout: float = CONNECT_TIMEOUT_SECONDS) -> bool:
    """Whether a worker's gRPC port accepts a TCP connection.

    Args:
        address: ``host:port`` from ``training.workers``.
        timeout: Seconds to wait for the connection.

    Returns:
        False when the host is unreachable, silent or refuses the port.
    """
    host, port = parse_worker_address(address)
    try:
        with socket.create_connection((host.strip("[]"), port), timeout=timeout):
            return True
    except OSError:
        return False


class PeerWatch:
    """The chief's view of the other workers while training runs.

    MultiWorkerMirroredStrategy notices a vanished peer only through its
    collectives and the coordination service's heartbeats, and then either
    aborts with a gRPC error or, in a collective already waiting on the peer,
    hangs. The chief therefore probes each worker's ``host:port`` itself: a worker
    whose port has not accepted a connection for the timeout, and that did not
    finish cleanly (``finished-<i>`` in the job), is lost.

    Args:
        job: The job being trained (its workers are probed, the chief excepted).
    """

    def __init__(self, job: Job) -> None:
        self._job = job
        self._silent_since: dict[int, float] = {}

    def lost_for(self, seconds: float) -> dict[int, float]:
        """Probes every other worker once; returns those silent for ``seconds``.

        Args:
            seconds: How long a worker must have been unreachable to count as lost
                (0: unreachable now).

        Returns:
            Worker index -> seconds it has been unreachable.
        """
        now = time.monotonic()
        lost = {}
        for index, address in enumerate(self._job.workers[1:], start=1):
            if (self._job.path / f"{FINISHED_PREFIX}{index}").exists() or reachable(address):
                self._silent_since.pop(index, None)
                continue
            since = self._silent_since.setdefault(index, now)
            if now - since >= seconds:
                lost[index] = now - since
        return lost


def _lost_failure(job: Job, lost: Mapping[int, float], timeout: float, log_path: Path) -> str:
    """One paragraph saying which workers vanished mid-training, and what follows."""
    names = _worker_names(job, sorted(lost))
    longest = max(lost.values())
    return (
        f"Multi-worker training failed: worker(s) {names} stopped answering mid-training "
        f"(no connection to their host:port for {longest:.0f} s; the limit is "
        f"training.join_timeout_seconds = {timeout:.0f} s), so the chief (worker 0, "
        f"{job.workers[0]}) stopped training: its collectives cannot finish without every "
        "worker. The host may be down or cut off from the network, or its train-worker "
        f"killed (its output, if any, is in {job.path}). Nothing was trained; start "
        "`python -m pipeline train-worker --index <i>` on a reachable host for each worker "
        f"and run the pipeline again (the chief's output is in {log_path})"
    )


def _worker_names(job: Job, indices: Sequence[int]) -> str:
    return ", ".join(f"{i} ({job.workers[i]})" for i in indices)


def _join_failure(job: Job, index: int, waited: float) -> str:
    """One paragraph saying which workers did not join, and what to do."""
    if not job.workers:
        return (
            f"Multi-worker training did not start: the cluster in TF_CONFIG did not form "
            f"within {waited:.0f} s (job {job.path})"
        )
    if index != 0:
        return (
            f"Worker {index} ({job.workers[index]}) could not join the cluster of job "
            f"{job.path} within {waited:.0f} s: the chief (worker 0, {job.workers[0]}) or "
            "another worker never connected; the pipeline's Trainer stops waiting after "
            "training.join_timeout_seconds. Check that it is running and that every "
            "host:port in training.workers is reachable from every worker"
        )
    taken = job.taken_by()
    others = range(1, len(job.workers))
    absent = [i for i in others if i not in taken]
    silent = [i for i in others if i in taken]
    problems = []
    if absent:
        problems.append(f"worker(s) {_worker_names(job, absent)} never took the job")
    if silent:
        problems.append(f"worker(s) {_worker_names(job, silent)} took it but never connected")
    if not problems:
        problems.append("every worker took the job but the cluster did not form")
    return (
        f"Multi-worker training did not start: after waiting {waited:.0f} s "
        f"(training.join_timeout_seconds) for all {len(job.workers)} workers to join, "
        f"{' and '.join(problems)}. On each missing worker's host run `python -m pipeline "
        "train-worker --config <config> --index <i>` with this pipeline root mounted at the "
        f"same path (it takes the job from {job.path.parent}), and check that every "
        "host:port in training.workers is free on its host and reachable from the others; "
        "nothing was trained"
    )


def _reason(lines: Sequence[str]) -> str:
    """The last ``SomeError: message`` line of a process's output, else its last line."""
    causes = [line.strip() for line in lines if "Error:" in line or "Exception:" in line]
    if causes:
        return causes[-1][:2000]
    nonempty = [line.strip() for line in lines if line.strip()]
    return (
        f"no error in its output, which ends {nonempty[-1][:2000]!r}"
        if nonempty
        else "it printed nothing"
    )
