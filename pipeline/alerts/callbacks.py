"""Airflow callbacks that alert: a task failing for good, a DAG run timing out.

Both are Airflow notifiers (``BaseNotifier``), built from the config file's path so
the DAG file stays light: the config is loaded, and the destinations' providers
imported, only when a callback fires. Airflow 2.11 calls a task's
``on_failure_callback`` only when no retry is left (``TaskInstance.handle_failure``
calls ``on_retry_callback`` instead while one is), and the DAG's
``on_failure_callback`` with ``reason`` ``"timed_out"`` when the scheduler fails a
run past its ``dagrun_timeout`` (``"task_failure"`` when a task failed it, which the
task's own callback has reported).
"""

from __future__ import annotations

import os
from typing import Any

from airflow.notifications.basenotifier import BaseNotifier

from pipeline.alerts.destinations import send
from pipeline.alerts.messages import gate_stopped, run_timed_out, task_failed
from pipeline.alerts.notify import gate_reason
from pipeline.config import load_config

# The reason Airflow's scheduler gives the DAG's failure callback for a timed-out run
# (SchedulerJobRunner._schedule_dag_run).
TIMED_OUT = "timed_out"


class TaskFailureAlert(BaseNotifier):
    """A task's ``on_failure_callback``: alerts when it failed after its last retry.

    A task the data gate stopped sends ``gate_stopped`` with the gate's paragraph
    (one alert per stopped day); any other failure sends ``task_failed``.

    Attributes:
        config_path: The pipeline config file whose ``alerts`` section is used.
    """

    template_fields = ()

    def __init__(self, config_path: str | os.PathLike[str]) -> None:
        super().__init__()
        self.config_path = str(config_path)

    def notify(self, context: Any) -> None:
        """Sends the alert for the failed task instance in ``context``.

        Args:
            context: Airflow's task context (``ti``, ``dag_run``, ``logical_date``,
                ``exception``).
        """
        config = load_config(self.config_path)
        if not config.alerts.configured:
            return
        ti, logical_date = context["ti"], context["logical_date"]
        error = context.get("exception")
        reason = gate_reason(error)
        if reason is not None:
            alert = gate_stopped(config.pipeline_name, logical_date.date().isoformat(), reason)
        else:
            alert = task_failed(
                ti.dag_id, ti.task_id, ti.run_id, logical_date, ti.try_number, error
            )
        send(config, alert, dict(context))  # logs each destination that failed


class RunTimeoutAlert(BaseNotifier):
    """The DAG's ``on_failure_callback``: alerts when a run ran past ``dagrun_timeout``.

    Attributes:
        config_path: The pipeline config file whose ``alerts`` section is used.
    """

    template_fields = ()

    def __init__(self, config_path: str | os.PathLike[str]) -> None:
        super().__init__()
        self.config_path = str(config_path)

    def notify(self, context: Any) -> None:
        """Sends ``run_timed_out`` if the run failed for its time limit; else nothing.

        Args:
            context: The context Airflow gives a DAG callback (``dag``, ``dag_run``,
                ``logical_date``, ``reason``).
        """
        if context.get("reason") != TIMED_OUT:
            return
        config = load_config(self.config_path)
        if not config.alerts.configured:
            return
        dag, dag_run = context["dag"], context["dag_run"]
        alert = run_timed_out(
            dag.dag_id, dag_run.run_id, context["logical_date"], dag.dagrun_timeout
        )
        send(config, alert, dict(context))  # logs each destination that failed


def task_failure_callback(config_path: str | os.PathLike[str]) -> TaskFailureAlert:
    """The ``on_failure_callback`` for every task of the DAG (``default_args``).

    Args:
        config_path: The pipeline config file.

    Returns:
        The notifier.
    """
    return TaskFailureAlert(config_path)


def dag_failure_callback(config_path: str | os.PathLike[str]) -> RunTimeoutAlert:
    """The DAG's ``on_failure_callback``: alerts on a run past its ``dagrun_timeout``.

    Args:
        config_path: The pipeline config file.

    Returns:
        The notifier.
    """
    return RunTimeoutAlert(config_path)
