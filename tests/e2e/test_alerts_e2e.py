"""``python -m pipeline run`` alerts: real runs, delivered to local Slack, webhook and SMTP.

One output root, three real runs through the CLI (in-process, so TFX is imported
once), with ``alerts`` sending to an HTTP receiver (standing in for both Slack's
incoming webhook and a JSON webhook) and an aiosmtpd server, all on 127.0.0.1:

1. two good days: the model is blessed and pushed, and no alert is sent;
2. a third good day with an impossible AUC lower bound: the model is not blessed,
   and ``not_blessed`` gives the metric, its value, the bound and the baseline's
   value (the first model's); the DAG's way of sending it, from ML Metadata, sends
   the same alert;
3. a fourth day that drifted and has negative purchase quantities: the data gate
   stops it, ``gate_stopped`` names the day, the features and the thresholds, and
   the served model is byte-identical.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from pipeline.devtools import clickgen
from tests.support.cli import REPO, CliResult, run_cli
from tests.support.data import served_files
from tests.support.receivers import HttpReceiver, SmtpReceiver, text_of

START = datetime.date(2026, 11, 1)
NOT_BLESSED_DAY = START + datetime.timedelta(days=2)
BAD_DAY = START + datetime.timedelta(days=3)
ROWS = 1000
SLACK_PATH = "/services/T000/B000/XXXX"
WEBHOOK_PATH = "/ml-alerts"


@dataclasses.dataclass(frozen=True)
class Run:
    """One CLI run and what each destination received during it."""

    result: CliResult
    slack: list[Any]
    webhook: list[Any]
    emails: list[EmailMessage]
    served: dict[str, str]


@dataclasses.dataclass(frozen=True)
class Runs:
    blessed: Run
    not_blessed: Run
    gate_stopped: Run
    not_blessed_config: Path
    http: HttpReceiver


def _config(tmp: Path, data: Path, out: Path, http: HttpReceiver, lower_bound: str) -> Path:
    text = (REPO / "pipeline" / "configs" / "clicks.yaml").read_text()
    replacements = {
        "schema_file: schemas/": f"schema_file: {REPO}/schemas/",
        "input_base: data/clicks": f"input_base: {data}",
        "root: outputs": f"root: {out}",
        "train_steps: 300": "train_steps: 100",
        "max_regression: 0.01": "max_regression: 0.1",
        "  lower_bound: 0.65\n": f"  lower_bound: {lower_bound}\n",
    }
    for old, new in replacements.items():
        assert old in text, f"clicks.yaml no longer has {old!r}"
        text = text.replace(old, new)
    text += (
        "\nalerts:\n"
        "  slack_connection: slack_alerts\n"
        f"  webhook_url: {http.url}{WEBHOOK_PATH}\n"
        "  email:\n"
        "    to: [ml-oncall@example.com]\n"
        "    sender: clicks-pipeline@example.com\n"
        "    connection: alerts_smtp\n"
    )
    path = tmp / f"clicks-{lower_bound}.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    tmp = tmp_path_factory.mktemp("alerts")
    data, out = tmp / "data", tmp / "out"
    with HttpReceiver() as http, SmtpReceiver() as smtp, pytest.MonkeyPatch.context() as env:
        # Airflow reads connections from AIRFLOW_CONN_<ID> without its database.
        env.setenv(
            "AIRFLOW_CONN_SLACK_ALERTS",
            json.dumps({"conn_type": "slackwebhook", "password": f"{http.url}{SLACK_PATH}"}),
        )
        env.setenv("AIRFLOW_CONN_ALERTS_SMTP", smtp.airflow_connection())
        ordinary = _config(tmp, data, out, http, lower_bound="0.65")
        impossible = _config(tmp, data, out, http, lower_bound="0.999")

        def run(config: Path) -> Run:
            seen, mailed = len(http.requests), len(smtp.messages)
            result = run_cli(["run", "--config", str(config)])
            new = http.requests[seen:]
            return Run(
                result,
                slack=[body for path, body, _ in new if path == SLACK_PATH],
                webhook=[body for path, body, _ in new if path == WEBHOOK_PATH],
                emails=smtp.messages[mailed:],
                served=served_files(out / "serving" / "clicks"),
            )

        for offset in range(2):
            clickgen.write_day(data, START + datetime.timedelta(days=offset), rows=ROWS, seed=3)
        blessed = run(ordinary)
        clickgen.write_day(data, NOT_BLESSED_DAY, rows=ROWS, seed=3)
        not_blessed = run(impossible)
        clickgen.write_day(
            data, BAD_DAY, rows=ROWS, seed=3, drift=1.0, inject=["negative_quantity"]
        )
        gate_stopped = run(ordinary)
        yield Runs(blessed, not_blessed, gate_stopped, impossible, http)


def test_a_blessed_and_pushed_model_sends_no_alert(runs: Runs) -> None:
    run = runs.blessed
    assert run.result.returncode == 0, run.result.stderr[-3000:]
    assert run.served, "the first model was not pushed"
    assert (run.slack, run.webhook, run.emails) == ([], [], [])


def test_a_model_that_is_not_blessed_alerts_with_metric_value_threshold_and_baseline(
    runs: Runs,
) -> None:
    run = runs.not_blessed
    assert run.result.returncode == 0, run.result.stderr[-3000:]
    assert run.served == runs.blessed.served  # nothing new pushed
    (body,) = run.webhook
    assert body["kind"] == "not_blessed"
    day = NOT_BLESSED_DAY.isoformat()
    assert body["title"] == f"clicks: model for {day} not blessed"
    details = body["details"]
    assert details["day"] == day and details["metric"] == "AUC"
    assert details["lower_bound"] == "0.999"
    value, baseline = float(details["value"]), float(details["baseline_value"])
    assert (
        f"Model gate on AUC (overall slice, eval split of the newest span): candidate "
        f"{value:.4f} < lower bound 0.9990 -> FAIL; baseline {baseline:.4f}, change "
    ) in body["text"]
    (slack,) = run.slack
    assert slack["text"].startswith(f"*clicks: model for {day} not blessed*\n")
    (mail,) = run.emails
    assert mail["Subject"] == body["title"] and "Model gate on AUC" in text_of(mail)
    # The CLI says where the alert went.
    assert f"alert: Alert {body['title']!r} sent to webhook" in run.result.stderr


def test_a_day_the_data_gate_stops_alerts_with_the_day_the_features_and_the_thresholds(
    runs: Runs,
) -> None:
    run = runs.gate_stopped
    assert run.result.returncode == 1, run.result.stderr[-3000:]
    assert "component DataGate failed" in run.result.stderr
    assert run.served == runs.blessed.served  # nothing pushed; the served model is unchanged
    (body,) = run.webhook
    day = BAD_DAY.isoformat()
    assert body["kind"] == "gate_stopped" and body["details"]["day"] == day
    text = body["text"]
    assert f"the data gate stopped the day {day}" in text
    assert "BLOCK purchase_quantity: INT_TYPE_SMALL_INT" in text
    assert "BLOCK device: COMPARATOR_L_INFTY_HIGH - drift L-infinity distance" in text
    assert "over the threshold 0.1000" in text
    (slack,) = run.slack
    assert slack == {"text": slack["text"]}
    assert slack["text"].startswith(f"*clicks: data gate stopped {day}*\n")
    assert "over the threshold 0.1000" in slack["text"]
    (mail,) = run.emails
    assert mail["Subject"] == f"clicks: data gate stopped {day}"
    assert mail["To"] == "ml-oncall@example.com"
    mailed = text_of(mail)
    for fragment in (day, "purchase_quantity", "device", "over the threshold 0.1000"):
        assert fragment in mailed


def test_the_stopped_day_s_blocking_features_are_recorded_in_ml_metadata(runs: Runs) -> None:
    """TFX deletes the failed gate's report; the local runner records what blocked."""
    import ml_metadata as mlmd

    from pipeline.config import load_config
    from pipeline.mlmd import connection as metadata
    from pipeline.mlmd import queries
    from pipeline.nodes import DATA_GATE

    config = load_config(runs.not_blessed_config)  # the same outputs as every run here
    store = mlmd.MetadataStore(metadata.connection_config(config, {}))
    failed = [
        e
        for e in queries.node_executions(store, config.pipeline_name, DATA_GATE)
        if e.last_known_state == e.FAILED
    ]
    assert len(failed) == 1  # the bad day's run
    blocking = queries.json_property(failed[0], queries.GATE_BLOCKING_PROPERTY)
    # The schema anomaly and the drift, which ExampleValidator's anomalies alone miss.
    assert blocking["purchase_quantity"] == "INT_TYPE_SMALL_INT"
    assert "COMPARATOR_L_INFTY_HIGH" in blocking["device"].split(",")


def test_the_dag_reads_the_same_not_blessed_alert_from_ml_metadata(runs: Runs) -> None:
    from pipeline import alerts
    from pipeline.config import load_config
    from pipeline.mlmd import connection as metadata

    (sent,) = runs.not_blessed.webhook
    config = load_config(runs.not_blessed_config)
    seen = len(runs.http.requests)
    deliveries = alerts.notify_if_not_blessed(
        config, metadata.connection_config(config, {}), sent["details"]["run_id"], NOT_BLESSED_DAY
    )
    assert [d.delivered for d in deliveries] == [True, True, True]
    again = [body for path, body, _ in runs.http.requests[seen:] if path == WEBHOOK_PATH]
    assert again == [sent]
    # The blessed run calls for no alert.
    found = re.search(r"^Pipeline 'clicks', run (\S+)$", runs.blessed.result.stdout, re.M)
    assert found, runs.blessed.result.stdout
    connection = metadata.connection_config(config, {})
    assert alerts.notify_if_not_blessed(config, connection, found.group(1), START) == []


def test_airflow_task_callbacks_alert_after_the_last_retry_only(tmp_path: Path) -> None:
    """A real DAG run (``dag.test``, Airflow's own task runner and retry logic)."""
    import os
    import subprocess
    import sys

    from airflow.models.dag import DAG
    from airflow.operators.python import PythonOperator

    from components.data_gate import DataGateError
    from pipeline.alerts.callbacks import task_failure_callback
    from tests.support.config import write_config

    # dag.test records task instances in Airflow's database (SQLite in the
    # session's throw-away AIRFLOW_HOME, see tests/conftest.py).
    migrate = [sys.executable, "-m", "airflow", "db", "migrate"]
    subprocess.run(migrate, check=True, capture_output=True, env=os.environ, timeout=300)
    paragraph = (
        "Data gate: span 20761 has 1 blocking problem; nothing was trained or pushed from it "
        "and the served model is unchanged. | BLOCK device: COMPARATOR_L_INFTY_HIGH - drift "
        "L-infinity distance 0.3838 is over the threshold 0.1000 [train]"
    )

    def out_of_memory() -> None:
        raise MemoryError("out of RAM")

    def gate_stops() -> None:
        try:
            raise DataGateError(paragraph, paragraph)
        except DataGateError as error:  # as TFX's launcher wraps a component's error
            raise RuntimeError("component DataGate failed") from error

    with HttpReceiver() as http:
        config = write_config(tmp_path, lambda raw: raw.update(alerts={"webhook_url": http.url}))
        with DAG(
            "alerts_probe",
            schedule=None,
            start_date=datetime.datetime(2026, 11, 1),
            default_args={
                "retries": 1,
                "retry_delay": datetime.timedelta(0),
                "on_failure_callback": task_failure_callback(config),
            },
        ) as dag:
            PythonOperator(task_id="Trainer", python_callable=out_of_memory)
            PythonOperator(task_id="DataGate", python_callable=gate_stops, retries=0)
        when = datetime.datetime(2026, 11, 4, tzinfo=datetime.timezone.utc)
        dag_run = dag.test(execution_date=when)
    assert dag_run.state == "failed"
    by_kind = {body["kind"]: body for body in http.bodies}
    assert len(http.bodies) == 2 and set(by_kind) == {"task_failed", "gate_stopped"}
    failed = by_kind["task_failed"]
    # Try 1 went to a retry without an alert; the alert is for try 2, the last.
    assert failed["details"]["try_number"] == "2" and failed["details"]["task_id"] == "Trainer"
    assert failed["text"] == (
        f"DAG 'alerts_probe': task Trainer of run {dag_run.run_id} (day 2026-11-04) failed on "
        "try 2, its last: MemoryError: out of RAM"
    )
    stopped = by_kind["gate_stopped"]
    assert stopped["details"] == {"day": "2026-11-04", "reason": paragraph}
    assert "- BLOCK device: COMPARATOR_L_INFTY_HIGH" in stopped["text"]
