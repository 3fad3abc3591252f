"""Alerts: a message when a day is stopped, a model is not blessed, or the DAG fails.

``config.alerts`` names the destinations (a Slack incoming webhook, a generic JSON
webhook, email); each becomes an Airflow notifier (:mod:`.destinations`), so the local
runner and the DAG send the same messages (:mod:`.messages`) the same way. What sends
which alert: :mod:`.notify` (data gate, model gate; both runners) and
:mod:`.callbacks` (a task failing after its last retry, a DAG run timing out; Airflow
only, and the one module here that imports Airflow when imported).
"""

from pipeline.alerts.destinations import Delivery, check, send
from pipeline.alerts.messages import (
    Alert,
    gate_stopped,
    not_blessed,
    run_timed_out,
    task_failed,
)
from pipeline.alerts.notify import (
    day_label,
    gate_reason,
    not_blessed_alert,
    notify_gate_stopped,
    notify_if_not_blessed,
    notify_not_blessed,
)

__all__ = [
    "Alert",
    "Delivery",
    "check",
    "day_label",
    "gate_reason",
    "gate_stopped",
    "not_blessed",
    "not_blessed_alert",
    "notify_gate_stopped",
    "notify_if_not_blessed",
    "notify_not_blessed",
    "run_timed_out",
    "send",
    "task_failed",
]
