"""A real Airflow scheduler for the tests and ``make bench``, outside the repository.

:class:`AirflowStack` is the compose stack's shape without Docker: ``airflow
scheduler`` with the LocalExecutor (or a subclass the caller names) on a PostgreSQL
database, the repository's ``dags/`` folder, and ML Metadata wherever the caller's
``MLMD_MYSQL_*`` variables point. Everything it writes is under the caller's
``AIRFLOW_HOME``; everything it starts it stops by pid in :meth:`AirflowStack.stop`.

Run and task states are read from Airflow's own database (psycopg2), which every
scheduler loop commits to: no CLI start-up (~5 s each) per look.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

import psutil
import psycopg2  # type: ignore[import-untyped]

from pipeline.devtools.services import free_ports

REPO = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO / "dags"
DEFAULT_EXECUTOR = "LocalExecutor"
FINISHED = ("success", "failed")

# A scheduler that reacts within a second or two: a test waits on it, and a DAG
# file without TFX imports parses in well under a second.
FAST_SCHEDULER = {
    "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
    "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "1",
    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
    "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
    "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "10",
    "AIRFLOW__SCHEDULER__PARSING_PROCESSES": "1",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS": "False",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
}


class AirflowStackError(RuntimeError):
    """An Airflow command failed, the scheduler died, or a run did not finish in time."""


@dataclasses.dataclass(frozen=True)
class DagRunState:
    """One DAG run as Airflow's database records it.

    Attributes:
        run_id: The run id.
        logical_date: The run's logical (execution) date, UTC.
        run_type: ``scheduled``, ``manual``, ``backfill``...
        state: ``queued``, ``running``, ``success`` or ``failed``.
        start: When it started running (None while queued).
        end: When it finished (None while unfinished).
    """

    run_id: str
    logical_date: datetime.datetime
    run_type: str
    state: str
    start: datetime.datetime | None
    end: datetime.datetime | None

    @property
    def seconds(self) -> float | None:
        """Start to end, in seconds (None while unfinished)."""
        return (self.end - self.start).total_seconds() if self.start and self.end else None


@dataclasses.dataclass(frozen=True)
class TaskTry:
    """One task instance of a DAG run (its latest try, or an earlier one).

    Attributes:
        task_id: The task.
        state: ``success``, ``failed``, ``upstream_failed``, ``up_for_retry``... or
            None when not scheduled yet.
        try_number: The try this row describes (1 for the first).
        start: When the try started.
        end: When it ended.
        duration: Airflow's recorded seconds for the try.
    """

    task_id: str
    state: str | None
    try_number: int
    start: datetime.datetime | None
    end: datetime.datetime | None
    duration: float | None


class AirflowStack:
    """``airflow scheduler`` on PostgreSQL, driven through its CLI and database.

    Use it as a context manager: ``__enter__`` migrates the database and starts the
    scheduler, ``__exit__`` stops everything it started.

    Attributes:
        home: ``AIRFLOW_HOME`` (config, logs, the scheduler's own log file).
        environ: The environment of every Airflow command and of the scheduler.
        started_pids: Every process it started or saw under the scheduler (tasks
            come and go); :meth:`stop` leaves none of them alive.
    """

    def __init__(
        self,
        home: Path,
        database_url: str,
        mlmd_environ: Mapping[str, str],
        config_path: Path,
        executor: str = DEFAULT_EXECUTOR,
        parallelism: int = 4,
        extra_environ: Mapping[str, str] | None = None,
    ) -> None:
        """Prepares the environment; nothing starts until :meth:`start`.

        Args:
            home: An empty or new directory for ``AIRFLOW_HOME``.
            database_url: Airflow's metadata database, a SQLAlchemy URL
                (``postgresql+psycopg2://user:password@host:port/db``).
            mlmd_environ: The ``MLMD_MYSQL_*`` variables the tasks read (e.g.
                :meth:`pipeline.devtools.services.MariaDB.environ`).
            config_path: The pipeline config (``PIPELINE_CONFIG``).
            executor: ``[core] executor``: ``LocalExecutor`` or the import path of a
                subclass, e.g. ``pipeline.run.airflow_executor.PreloadedLocalExecutor``.
            parallelism: How many tasks run at once.
            extra_environ: More variables for the DAG and its tasks (e.g.
                ``PIPELINE_START_DATE``, ``PIPELINE_SCHEDULE``); they win.
        """
        self.home = home
        self.database_url = database_url
        [log_port] = free_ports(1)
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PIPELINE_", "MLMD_", "AIRFLOW_", "AIRFLOW__"))
        }
        self.environ: dict[str, str] = {
            **inherited,
            **FAST_SCHEDULER,
            **mlmd_environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
            # The scheduler serves task logs on this port; a fixed default (8793)
            # would collide with another stack on the machine.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(log_port),
            "PIPELINE_CONFIG": str(config_path),
            "TF_CPP_MIN_LOG_LEVEL": "3",
            # The DAG file imports `pipeline` from the repository, wherever it runs.
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            **(extra_environ or {}),
        }
        self.started_pids: set[int] = set()
        self._airflow = str(Path(sys.executable).with_name("airflow"))
        self._scheduler: subprocess.Popen[bytes] | None = None
        self._watched: dict[int, psutil.Process] = {}
        url = urlsplit(database_url)
        self._dsn = {
            "host": url.hostname,
            "port": url.port or 5432,
            "dbname": url.path.lstrip("/"),
            "user": unquote(url.username or ""),
            "password": unquote(url.password or ""),
        }

    # --- lifecycle -------------------------------------------------------------

    def __enter__(self) -> AirflowStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> AirflowStack:
        """Migrates Airflow's database, serializes the DAGs and starts the scheduler.

        Returns:
            self, with the scheduler running.

        Raises:
            AirflowStackError: If ``airflow db migrate`` or ``dags reserialize`` fails.
        """
        self.home.mkdir(parents=True, exist_ok=True)
        self.airflow("db", "migrate", timeout=600)
        # Writes the DAG rows now, so unpause and trigger work before the scheduler's
        # first parse.
        self.airflow("dags", "reserialize", timeout=300)
        with open(self.scheduler_log, "wb") as log:
            self._scheduler = subprocess.Popen(
                [self._airflow, "scheduler"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.environ,
                cwd=self.home,
                # Its own session: a Ctrl-C in the test's terminal is not its signal.
                start_new_session=True,
            )
        self.started_pids.add(self._scheduler.pid)
        self._watch()
        return self

    @property
    def scheduler_log(self) -> Path:
        """The scheduler's stdout and stderr."""
        return self.home / "scheduler.log"

    @property
    def scheduler_pid(self) -> int | None:
        """The scheduler's pid once started."""
        return self._scheduler.pid if self._scheduler else None

    def _watch(self) -> None:
        """Records the scheduler's descendants (executor workers, task processes)."""
        if self._scheduler is None:
            return
        try:
            children = psutil.Process(self._scheduler.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return
        for child in children:
            if child.pid not in self._watched:
                self._watched[child.pid] = child
                self.started_pids.add(child.pid)

    def stop(self) -> None:
        """Stops the scheduler (SIGTERM, its graceful shutdown) and every child by pid.

        What is still alive 60 s after SIGTERM (a task process orphaned by the
        shutdown, say) gets SIGTERM, then SIGKILL.
        """
        if self._scheduler is None:
            return
        self._watch()
        if self._scheduler.poll() is None:
            self._scheduler.send_signal(signal.SIGTERM)
            try:
                self._scheduler.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._scheduler.kill()
                self._scheduler.wait(timeout=30)
        # psutil.Process remembers each process's start time: a reused pid is not ours.
        left = [p for p in self._watched.values() if p.is_running()]
        for process in left:
            try:
                process.terminate()
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(left, timeout=15)
        for process in alive:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(alive, timeout=15)

    def alive_pids(self) -> list[int]:
        """The started processes still running (zombies count as gone).

        Returns:
            Their pids; empty after :meth:`stop`.
        """
        alive = []
        for pid in sorted(self.started_pids):
            if self._scheduler is not None and pid == self._scheduler.pid:
                if self._scheduler.poll() is None:
                    alive.append(pid)
                continue
            process = self._watched[pid]
            try:
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        return alive

    def _check_scheduler(self) -> None:
        if self._scheduler is None:
            raise AirflowStackError("the scheduler was not started (call start())")
        if self._scheduler.poll() is not None:
            tail = self.scheduler_log.read_text(errors="replace")[-3000:]
            raise AirflowStackError(
                f"airflow scheduler exited with code {self._scheduler.returncode}: {tail}"
            )

    # --- commands -----------------------------------------------------------------

    def airflow(
        self, *args: str, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Runs an Airflow CLI command in the stack's environment.

        Args:
            *args: The command's arguments, e.g. ``"dags", "unpause", dag_id``.
            timeout: Seconds before it is killed.
            check: Raise if it exits non-zero.

        Returns:
            The finished process (text stdout and stderr).

        Raises:
            AirflowStackError: If ``check`` and the command failed (with its output tail).
        """
        result = subprocess.run(
            [self._airflow, *args],
            capture_output=True,
            text=True,
            env=self.environ,
            cwd=self.home,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AirflowStackError(
                f"airflow {' '.join(args)} exited with code {result.returncode}: "
                f"{(result.stdout + result.stderr)[-3000:]}"
            )
        return result

    def unpause(self, dag_id: str) -> None:
        """Unpauses a DAG: the scheduler creates its due runs from now on.

        Args:
            dag_id: The DAG.
        """
        self.airflow("dags", "unpause", dag_id)

    def trigger(self, dag_id: str, logical_date: datetime.date | datetime.datetime) -> str:
        """Triggers a run for a logical date (it queues behind ``max_active_runs``).

        Args:
            dag_id: The DAG.
            logical_date: The run's logical date (a date means midnight UTC).

        Returns:
            The run id (``manual__<ISO logical date>``).
        """
        when = _utc(logical_date)
        run_id = f"manual__{when.isoformat()}"
        self.airflow("dags", "trigger", dag_id, "-e", when.isoformat(), "-r", run_id)
        return run_id

    def task_graph(self, dag_id: str) -> dict[str, list[str]]:
        """The DAG's tasks and their upstream tasks, as the DAG file builds them now.

        Args:
            dag_id: The DAG.

        Returns:
            Task id -> sorted upstream task ids.

        Raises:
            AirflowStackError: If the DAG does not load.
        """
        script = (
            "import json, sys\n"
            "from airflow.models.dagbag import DagBag\n"
            "bag = DagBag(dag_folder=sys.argv[1], include_examples=False)\n"
            "dag = bag.get_dag(sys.argv[2])\n"
            "if dag is None:\n"
            "    sys.exit(f'no DAG {sys.argv[2]!r}: {bag.import_errors}')\n"
            "print('TASK_GRAPH ' + json.dumps("
            "{t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks}))\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", script, str(DAGS_FOLDER), dag_id],
            capture_output=True,
            text=True,
            env=self.environ,
            cwd=self.home,
            timeout=300,
        )
        for line in result.stdout.splitlines():
            if line.startswith("TASK_GRAPH "):
                graph: dict[str, list[str]] = json.loads(line.removeprefix("TASK_GRAPH "))
                return graph
        raise AirflowStackError(f"loading DAG {dag_id!r} failed: {result.stderr[-3000:]}")

    # --- reading Airflow's database ----------------------------------------------------

    def _query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        connection = psycopg2.connect(**self._dsn)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return list(cursor.fetchall())
        finally:
            connection.close()

    def runs(self, dag_id: str) -> list[DagRunState]:
        """A DAG's runs, oldest logical date first.

        Args:
            dag_id: The DAG.

        Returns:
            The runs.
        """
        rows = self._query(
            "SELECT run_id, execution_date, run_type, state, start_date, end_date "
            "FROM dag_run WHERE dag_id = %s ORDER BY execution_date",
            [dag_id],
        )
        return [DagRunState(*row) for row in rows]

    def wait_for_run(
        self,
        dag_id: str,
        run_id: str | None = None,
        logical_date: datetime.date | datetime.datetime | None = None,
        timeout: float = 1800,
    ) -> DagRunState:
        """Waits until a run exists and has finished (``success`` or ``failed``).

        Args:
            dag_id: The DAG.
            run_id: The run, or None to name it by ``logical_date`` (a scheduled run's
                id is the scheduler's to choose).
            logical_date: The run's logical date, when ``run_id`` is None.
            timeout: Seconds to wait.

        Returns:
            The finished run.

        Raises:
            AirflowStackError: If the scheduler died or the run did not finish in time
                (the message lists its task states).
        """
        if run_id is None and logical_date is None:
            raise ValueError("wait_for_run needs run_id or logical_date")
        when = _utc(logical_date) if logical_date is not None else None
        deadline = time.monotonic() + timeout
        found: DagRunState | None = None
        while time.monotonic() < deadline:
            self._check_scheduler()
            self._watch()
            found = next(
                (
                    r
                    for r in self.runs(dag_id)
                    if r.run_id == run_id or (run_id is None and r.logical_date == when)
                ),
                None,
            )
            if found is not None and found.state in FINISHED:
                return found
            time.sleep(2)
        states = (
            {t.task_id: t.state for t in self.task_instances(dag_id, found.run_id)}
            if found
            else "no such run yet"
        )
        raise AirflowStackError(
            f"DAG run {run_id or when} of {dag_id} did not finish in {timeout:.0f} s "
            f"(run: {found.state if found else None}; tasks: {states})"
        )

    def task_instances(self, dag_id: str, run_id: str) -> list[TaskTry]:
        """The latest try of each task of a run, by start time (unstarted last).

        Args:
            dag_id: The DAG.
            run_id: The run.

        Returns:
            One row per task.
        """
        rows = self._query(
            "SELECT task_id, state, try_number, start_date, end_date, duration "
            "FROM task_instance WHERE dag_id = %s AND run_id = %s AND map_index = -1 "
            "ORDER BY start_date NULLS LAST, task_id",
            [dag_id, run_id],
        )
        return [TaskTry(*row) for row in rows]

    def earlier_tries(self, dag_id: str, run_id: str) -> list[TaskTry]:
        """The tries before each task's latest one (a retry's failed tries, say).

        Args:
            dag_id: The DAG.
            run_id: The run.

        Returns:
            One row per earlier try, by start time.
        """
        rows = self._query(
            "SELECT task_id, state, try_number, start_date, end_date, duration "
            "FROM task_instance_history WHERE dag_id = %s AND run_id = %s "
            "ORDER BY start_date NULLS LAST, task_id, try_number",
            [dag_id, run_id],
        )
        return [TaskTry(*row) for row in rows]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        """The log file of one try of a task.

        Args:
            dag_id: The DAG.
            run_id: The run.
            task_id: The task.
            try_number: The try (1 for the first).

        Returns:
            The log text.

        Raises:
            FileNotFoundError: If there is no such log (the try never started).
        """
        path = (
            self.home
            / "logs"
            / f"dag_id={dag_id}"
            / f"run_id={run_id}"
            / f"task_id={task_id}"
            / f"attempt={try_number}.log"
        )
        return path.read_text(errors="replace")

    def task_log_json(
        self, dag_id: str, run_id: str, task_id: str, try_number: int, prefix: str
    ) -> dict[str, Any] | None:
        """The JSON a task logged after ``prefix`` (its last such line), if any.

        Args:
            dag_id: The DAG.
            run_id: The run.
            task_id: The task.
            try_number: The try.
            prefix: The text before the JSON on its line (e.g. the DAG's timing prefix).

        Returns:
            The decoded JSON object, or None when the log has no such line.
        """
        found: dict[str, Any] | None = None
        for line in self.task_log(dag_id, run_id, task_id, try_number).splitlines():
            _, marker, payload = line.partition(prefix)
            if marker:
                found = json.loads(payload)
        return found


def _utc(day: datetime.date | datetime.datetime) -> datetime.datetime:
    if isinstance(day, datetime.datetime):
        return day if day.tzinfo else day.replace(tzinfo=datetime.timezone.utc)
    return datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.timezone.utc)
