"""The ``airflow`` part of ``make bench``: a day's DAG run under a real scheduler.

Side by side in one bench run, on the same generated 5,000-row days: the local
runner (``python -m pipeline run``, a fresh process, SQLite ML Metadata, as ``make
run``) and ``airflow scheduler`` with PostgreSQL and ML Metadata in MariaDB (the
compose stack's shape, :class:`pipeline.devtools.airflow_stack.AirflowStack`), once
with :class:`pipeline.run.airflow_executor.PreloadedLocalExecutor` and once with
Airflow's plain LocalExecutor (the lever undone).

Each side first runs day 3 (which also validates days 1 and 2, the window), then day
4, the steady state a daily schedule runs; day 4 is what is compared. The Airflow
side's time is from triggering the run to Airflow recording it finished, so the
scheduler's own latency counts. Needs root (it installs and starts PostgreSQL and
MariaDB as the tests do).
"""

from __future__ import annotations

import datetime
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from pipeline.devtools.airflow_stack import AirflowStack
from pipeline.devtools.bench.measure import generate_clicks, run_process
from pipeline.devtools.services import MariaDB, PostgreSQL
from pipeline.run.airflow_dag import TIMING_PREFIX

REPO = Path(__file__).resolve().parents[3]
CLICKS_CONFIG = REPO / "pipeline" / "configs" / "clicks.yaml"
DAG_ID = "clicks_pipeline"
FIRST_DAY = datetime.date(2026, 1, 1)
DAYS = 4
EXECUTORS = {
    "preloaded": "pipeline.run.airflow_executor.PreloadedLocalExecutor",
    "LocalExecutor": "LocalExecutor",
}


def _day(index: int) -> datetime.date:
    return FIRST_DAY + datetime.timedelta(days=index)


def _config(work: Path, name: str, data_root: Path, output_root: Path) -> Path:
    raw = yaml.safe_load(CLICKS_CONFIG.read_text())
    raw["schema_file"] = str(REPO / "schemas" / "clicks" / "schema.pbtxt")
    raw["data"]["input_base"] = str(data_root)
    raw["outputs"]["root"] = str(output_root)
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def local_runs(work: Path, logs: Path, data_root: Path) -> list[dict[str, Any]]:
    """Runs days 3 and 4 with the local runner, each a fresh process.

    Args:
        work: A working directory.
        logs: Where the processes' output goes.
        data_root: The generated days.

    Returns:
        One entry per day: day, wall seconds, return code.
    """
    days_root = work / "local-data"
    shutil.rmtree(days_root, ignore_errors=True)
    days_root.mkdir(parents=True)
    output_root = work / "local-out"
    shutil.rmtree(output_root, ignore_errors=True)
    config = _config(work, "local", days_root, output_root)
    entries = []
    for index in range(DAYS):
        day = _day(index).isoformat()
        # The local runner ingests the newest day on disk: days arrive one by one.
        shutil.copytree(data_root / day, days_root / day)
        if index < DAYS - 2:
            continue
        _, wall, code, peak = run_process(
            [sys.executable, "-m", "pipeline", "run", "--config", str(config)],
            logs / f"airflow-local-{day}.log",
            cwd=REPO,
        )
        entries.append({"day": day, "seconds": wall, "returncode": code, "peak_rss_mib": peak})
    return entries


def airflow_runs(
    work: Path, data_root: Path, executor: str, name: str
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Runs days 3 and 4 as DAG runs under ``airflow scheduler``.

    Args:
        work: A working directory.
        data_root: The generated days.
        executor: ``[core] executor``.
        name: A short name for the working directories.

    Returns:
        One entry per day (day, seconds from trigger to finish, Airflow's own start
        to end, state, and per task: seconds and the task's own breakdown), and the
        stack's start-up seconds (database migration, scheduler start).
    """
    root = work / f"airflow-{name}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    config = _config(work, f"airflow-{name}", data_root, root / "out")
    mariadb = MariaDB(root / "mariadb").start()
    postgres = PostgreSQL().start()
    entries = []
    try:
        started = time.perf_counter()
        stack = AirflowStack(
            root / "airflow",
            postgres.url,
            mariadb.environ(),
            config,
            executor=executor,
            # No scheduled run competes with the triggered ones.
            extra_environ={
                "PIPELINE_SCHEDULE": "none",
                "PIPELINE_START_DATE": FIRST_DAY.isoformat(),
            },
        )
        with stack:
            stack.unpause(DAG_ID)
            startup = time.perf_counter() - started
            for index in range(DAYS - 2, DAYS):
                day = _day(index)
                tick = time.perf_counter()
                run_id = stack.trigger(DAG_ID, day)
                run = stack.wait_for_run(DAG_ID, run_id=run_id, timeout=3600)
                seconds = time.perf_counter() - tick
                tasks = {}
                for task in stack.task_instances(DAG_ID, run_id):
                    breakdown = stack.task_log_json(
                        DAG_ID, run_id, task.task_id, task.try_number, TIMING_PREFIX
                    )
                    tasks[task.task_id] = {
                        "state": task.state,
                        "seconds": task.duration,
                        "breakdown": breakdown or {},
                    }
                entries.append(
                    {
                        "day": day.isoformat(),
                        "seconds": seconds,
                        "run_seconds": run.seconds,
                        "state": run.state,
                        "tasks": tasks,
                    }
                )
    finally:
        postgres.stop()
        mariadb.stop()
    return entries, {"startup_seconds": startup}


def measure_airflow(work: Path, logs: Path, rows: int) -> dict[str, Any]:
    """The whole part: local, preloaded Airflow and plain Airflow, on the same days.

    Args:
        work: A working directory.
        logs: Where process output goes.
        rows: Rows per generated day.

    Returns:
        ``{"rows", "local": [...], "airflow": {name: {"executor", "runs", ...}}}``.
    """
    work.mkdir(parents=True, exist_ok=True)
    data_root = work / f"airflow-days-{rows}"
    if not data_root.exists():
        generate_clicks(data_root, FIRST_DAY.isoformat(), days=DAYS, rows=rows)
    result: dict[str, Any] = {"rows": rows, "local": local_runs(work, logs, data_root)}
    result["airflow"] = {}
    for name, executor in EXECUTORS.items():
        runs, stack = airflow_runs(work, data_root, executor, name)
        result["airflow"][name] = {"executor": executor, "runs": runs, **stack}
    return result
