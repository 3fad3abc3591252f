"""Alerts: their text, the ``alerts`` config section, and real deliveries to local servers.

The Slack, SMTP and JSON webhook notifiers are Airflow's own (and ours), sending to an
HTTP server and an aiosmtpd server on 127.0.0.1; their Airflow connections come from
``AIRFLOW_CONN_<ID>`` environment variables, which Airflow reads without a database.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import tensorflow_data_validation as tfdv

from components.data_gate import (
    DataGateError,
    comparator_schema,
    distance_findings,
    findings,
    measure_distances,
    report,
)
from pipeline import alerts
from pipeline.alerts import callbacks, destinations
from pipeline.config import ConfigError, PipelineConfig, load_config
from pipeline.config.sections import AlertsConfig, EmailAlerts
from pipeline.devtools import clickgen
from pipeline.ops.model_gate import ModelGate
from pipeline.ops.summary import NodeRun, RunSummary
from tests.support.cli import REPO
from tests.support.config import expect_config_error, write_config
from tests.support.receivers import HttpReceiver, SmtpReceiver, text_of

CONFIG = load_config(REPO / "pipeline" / "configs" / "clicks.yaml")
DAY = datetime.date(2026, 11, 4)
SPAN = (DAY - datetime.date(1970, 1, 1)).days


def _with_alerts(**settings: object) -> PipelineConfig:
    return dataclasses.replace(CONFIG, alerts=AlertsConfig(**settings))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def gate_error() -> DataGateError:
    """The error the DataGate raises for a drifted day with negative purchase quantities.

    Built by the gate's own functions from real TFDV statistics of generated days, and
    joined into one paragraph exactly as ``components.data_gate.DataGate`` does.
    """
    schema = tfdv.load_schema_text(str(REPO / "schemas" / "clicks" / "schema.pbtxt"))
    limits = CONFIG.validation.drift.for_features(CONFIG.features)
    previous = clickgen.generate_day(DAY - datetime.timedelta(days=1), rows=2000, seed=5)
    current = clickgen.generate_day(DAY, rows=2000, seed=5, drift=1.0)
    current.loc[:5, "purchase_quantity"] = -1
    stats = tfdv.generate_statistics_from_dataframe
    current_stats = stats(current)
    found = findings({"train": tfdv.validate_statistics(current_stats, schema)}, warn_only=())
    _, distances = measure_distances(
        current_stats, comparator_schema(schema, limits, {}), stats(previous), None
    )
    found += distance_findings(distances, {k: kind for k, (kind, _) in limits.items()}, ())
    text = report(SPAN, found, distances, {"drift": f"span {SPAN - 1}"})
    blocking = [f for f in found if f.blocking]
    paragraph = " | ".join([text.splitlines()[0]] + [f"BLOCK {f.line()}" for f in blocking])
    return DataGateError(paragraph, text)


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    with HttpReceiver() as receiver:
        yield receiver


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    with SmtpReceiver() as receiver:
        yield receiver


# --------------------------------------------------------------------------- messages


def test_a_gate_alert_names_the_day_the_features_and_their_thresholds(
    gate_error: DataGateError,
) -> None:
    assert alerts.day_label(CONFIG, SPAN) == "2026-11-04"
    alert = alerts.gate_stopped("clicks", "2026-11-04", str(gate_error))
    assert alert.kind == "gate_stopped"
    assert alert.title == "clicks: data gate stopped 2026-11-04"
    lines = alert.text.splitlines()
    assert lines[0].startswith("Pipeline 'clicks': the data gate stopped the day 2026-11-04.")
    assert lines[1].startswith(f"Data gate: span {SPAN} has ")
    # One line per blocking finding: the feature, the measured value, the threshold.
    assert any(
        line.startswith("- BLOCK purchase_quantity: INT_TYPE_SMALL_INT") for line in lines
    ), alert.text
    (device,) = [line for line in lines if line.startswith("- BLOCK device: ")]
    assert "drift L-infinity distance" in device and "over the threshold 0.1000" in device
    assert alert.as_json()["details"] == {"day": "2026-11-04", "reason": str(gate_error)}


def test_the_gate_paragraph_is_found_behind_the_errors_that_wrap_it(
    gate_error: DataGateError,
) -> None:
    try:
        try:
            raise gate_error
        except DataGateError as error:
            raise RuntimeError("component DataGate failed") from error
    except RuntimeError as wrapped:
        assert alerts.gate_reason(wrapped) == str(gate_error)
    assert alerts.gate_reason(RuntimeError("CsvExampleGen failed")) is None
    assert alerts.gate_reason("a message from the scheduler") is None


def _summary(blessed: bool | None, evaluator_state: str = "ran") -> RunSummary:
    gate = ModelGate(
        metric="AUC",
        metric_key="auc",
        value=0.6123,
        lower_bound=0.65,
        value_passed=False,
        baseline_value=0.7351,
        change=-0.1228,
        allowed_change=-0.01,
        change_passed=False,
        blessed=blessed,
    )
    return RunSummary(
        pipeline_name="clicks",
        run_id="2026-11-04T06:00:00.000000",
        nodes=(NodeRun("Trainer", "ran", 30.0, 7), NodeRun("Evaluator", evaluator_state, 9.0, 8)),
        metrics={"auc": 0.6123},
        blessed=blessed,
        baseline_model_uri="/models/1",
        pushed=bool(blessed),
        pushed_destination=None,
        model_uri="/models/2",
        model_gate=gate,
    )


def test_a_model_that_is_not_blessed_alerts_with_metric_value_threshold_and_baseline() -> None:
    alert = alerts.not_blessed_alert(_summary(blessed=False), "2026-11-04")
    assert alert is not None and alert.kind == "not_blessed"
    assert alert.title == "clicks: model for 2026-11-04 not blessed"
    assert "the model trained for 2026-11-04 (run 2026-11-04T06:00:00.000000)" in alert.text
    assert "Model gate on AUC" in alert.text
    assert "candidate 0.6123 < lower bound 0.6500 -> FAIL" in alert.text
    assert "baseline 0.7351, change -0.1228 < allowed -0.0100 -> FAIL" in alert.text
    assert alert.details["metric"] == "AUC" and alert.details["baseline_value"] == "0.7351"


def test_a_blessed_model_or_a_reused_evaluation_sends_nothing() -> None:
    assert alerts.not_blessed_alert(_summary(blessed=True), "2026-11-04") is None
    # A rerun whose Evaluator is a cache hit judged nothing new.
    assert alerts.not_blessed_alert(_summary(False, evaluator_state="cached"), "d") is None
    assert alerts.not_blessed_alert(dataclasses.replace(_summary(None), nodes=()), "d") is None


def test_task_failure_and_timeout_alerts_name_the_task_the_run_and_the_day() -> None:
    when = datetime.datetime(2026, 11, 4, tzinfo=datetime.timezone.utc)
    failed = alerts.task_failed(
        "clicks_pipeline", "Trainer", "scheduled__2026-11-04", when, 3, MemoryError("out of RAM")
    )
    assert failed.text == (
        "DAG 'clicks_pipeline': task Trainer of run scheduled__2026-11-04 (day 2026-11-04) "
        "failed on try 3, its last: MemoryError: out of RAM"
    )
    late = alerts.run_timed_out(
        "clicks_pipeline", "scheduled__2026-11-04", when, datetime.timedelta(hours=12)
    )
    assert "ran past its time limit of 12 h and was failed" in late.text
    assert late.details["timeout_seconds"] == "43200"


# ----------------------------------------------------------------------------- config


def test_the_alerts_section_is_optional_and_typed(tmp_path: Path) -> None:
    assert not CONFIG.alerts.configured
    path = write_config(
        tmp_path,
        lambda raw: raw.update(
            alerts={
                "slack_connection": "slack_alerts",
                "webhook_url": "https://hooks.example.com/ml",
                "email": {"to": ["ml-oncall@example.com"], "sender": "pipeline@example.com"},
                "not_blessed": False,
            }
        ),
    )
    loaded = load_config(path).alerts
    assert loaded.configured and loaded.not_blessed is False
    assert loaded.email == EmailAlerts(
        to=("ml-oncall@example.com",), sender="pipeline@example.com", connection="smtp_default"
    )


@pytest.mark.parametrize(
    ("alerts_section", "fragments"),
    [
        ({"slak_connection": "x"}, ("unknown alerts keys ['slak_connection']",)),
        ({"webhook_url": "ftp://example.com/x"}, ("alerts.webhook_url must be an http",)),
        ({"email": {"to": ["oncall"]}}, ("alerts.email.to[0] must be an email address",)),
        ({"email": {"to": []}}, ("alerts.email.to is empty",)),
        ({"email": {"to": ["a@example.com"], "from": "b@example.com"}}, ("known keys are",)),
        (
            {"webhook_url": "https://example.com/x", "webhook_connection": "hook"},
            ("alerts.webhook_url and alerts.webhook_connection are both set",),
        ),
        ({"not_blessed": "yes"}, ("alerts.not_blessed must be true or false",)),
    ],
)
def test_a_wrong_alerts_section_is_named_in_one_error(
    tmp_path: Path, alerts_section: dict[str, object], fragments: tuple[str, ...]
) -> None:
    path = write_config(tmp_path, lambda raw: raw.update(alerts=alerts_section))
    expect_config_error(path, *fragments)


def test_a_missing_provider_is_a_config_error_naming_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # None in sys.modules makes the import fail as for an uninstalled package.
    monkeypatch.setitem(sys.modules, "airflow.providers.slack.notifications.slack_webhook", None)
    config = _with_alerts(slack_connection="slack_alerts")
    with pytest.raises(ConfigError) as info:
        alerts.check(config, {"AIRFLOW_CONN_SLACK_ALERTS": "slackwebhook://:token@"})
    message = str(info.value)
    assert "alerts.slack_connection is set" in message
    assert "apache-airflow-providers-slack" in message and "[airflow]" in message
    alerts.check(_with_alerts(webhook_url="http://127.0.0.1:9/x"))  # needs no Slack


def test_outside_airflow_a_named_connection_must_be_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = _with_alerts(
        slack_connection="slack_alerts",
        email=EmailAlerts(to=("a@example.com",), connection="alerts_smtp"),
    )
    slack = json.dumps({"conn_type": "slackwebhook", "password": "https://hooks.slack.com/x"})
    with pytest.raises(ConfigError) as info:
        alerts.check(config, {"AIRFLOW_CONN_SLACK_ALERTS": slack})
    message = str(info.value)
    assert "alerts.email.connection names the Airflow connection 'alerts_smtp'" in message
    assert "AIRFLOW_CONN_ALERTS_SMTP" in message and "AIRFLOW__SECRETS__BACKEND" in message
    smtp = json.dumps({"conn_type": "smtp", "host": "mail.example.com"})
    alerts.check(config, {"AIRFLOW_CONN_SLACK_ALERTS": slack, "AIRFLOW_CONN_ALERTS_SMTP": smtp})
    # In an Airflow task, Airflow's own lookup (its database included) finds them.
    alerts.check(config, {"AIRFLOW_CTX_DAG_ID": "clicks_pipeline"})


# ------------------------------------------------------------------------ deliveries


def test_the_json_webhook_posts_the_alert(http: HttpReceiver, gate_error: DataGateError) -> None:
    config = _with_alerts(webhook_url=f"{http.url}/alerts")
    deliveries = alerts.notify_gate_stopped(config, DAY, gate_error)
    assert [d.delivered for d in deliveries] == [True]
    ((path, body, headers),) = http.requests
    assert path == "/alerts" and headers["Content-Type"] == "application/json"
    assert body == alerts.gate_stopped("clicks", "2026-11-04", str(gate_error)).as_json()
    assert "over the threshold 0.1000" in body["text"]


def test_the_json_webhook_can_be_an_airflow_http_connection(
    http: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_ALERTS_WEBHOOK",
        json.dumps(
            {
                "conn_type": "http",
                "host": f"{http.url}/hooks/ml",
                "extra": {"Authorization": "Bearer from-the-secrets-backend"},
            }
        ),
    )
    config = _with_alerts(webhook_connection="alerts_webhook")
    alert = alerts.gate_stopped("clicks", "2026-11-04", "Data gate: span 1 has 1 blocking problem")
    assert [d.delivered for d in alerts.send(config, alert)] == [True]
    ((path, body, headers),) = http.requests
    assert path == "/hooks/ml" and body["kind"] == "gate_stopped"
    assert headers["Authorization"] == "Bearer from-the-secrets-backend"


def test_slack_gets_the_alert_through_its_webhook_connection(
    http: HttpReceiver, monkeypatch: pytest.MonkeyPatch, gate_error: DataGateError
) -> None:
    # The connection holds the whole webhook URL (a secret); here it names the local
    # receiver instead of https://hooks.slack.com/services/...
    monkeypatch.setenv(
        "AIRFLOW_CONN_SLACK_ALERTS",
        json.dumps(
            {"conn_type": "slackwebhook", "password": f"{http.url}/services/T000/B000/XXXX"}
        ),
    )
    config = _with_alerts(slack_connection="slack_alerts")
    deliveries = alerts.notify_gate_stopped(config, DAY, gate_error)
    assert [(d.destination, d.delivered) for d in deliveries] == [
        ("slack (connection 'slack_alerts')", True)
    ]
    ((path, body, _),) = http.requests
    assert path == "/services/T000/B000/XXXX"
    assert set(body) == {"text"}
    assert body["text"].startswith("*clicks: data gate stopped 2026-11-04*\nPipeline 'clicks'")
    assert "- BLOCK device: COMPARATOR_L_INFTY_HIGH - drift L-infinity distance" in body["text"]


def test_slack_markup_characters_in_an_alert_are_escaped() -> None:
    alert = alerts.Alert("task_failed", "p", "a <b> & c", "x < 1 & y > 2")
    assert destinations.slack_text(alert) == "*a &lt;b&gt; &amp; c*\nx &lt; 1 &amp; y &gt; 2"


def test_email_is_delivered_through_the_smtp_connection(
    smtp: SmtpReceiver, monkeypatch: pytest.MonkeyPatch, gate_error: DataGateError
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_ALERTS_SMTP", smtp.airflow_connection())
    config = _with_alerts(
        email=EmailAlerts(
            to=("ml-oncall@example.com", "data@example.com"),
            sender="pipeline@example.com",
            connection="alerts_smtp",
        )
    )
    deliveries = alerts.notify_gate_stopped(config, DAY, gate_error)
    assert [d.delivered for d in deliveries] == [True], deliveries
    (message,) = smtp.messages
    assert smtp.recipients == [["ml-oncall@example.com", "data@example.com"]]
    assert message["Subject"] == "clicks: data gate stopped 2026-11-04"
    assert message["From"] == "pipeline@example.com"
    body = text_of(message)
    assert "the data gate stopped the day 2026-11-04" in body
    assert "purchase_quantity: INT_TYPE_SMALL_INT" in body
    assert "over the threshold 0.1000" in body


def test_a_failing_destination_is_logged_and_the_others_still_get_the_alert(
    http: HttpReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    with HttpReceiver(status=500) as broken:
        config = _with_alerts(webhook_url=f"{broken.url}/down")
        # Slack through a connection to the working receiver, webhook to the broken one.
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(
                "AIRFLOW_CONN_SLACK_ALERTS",
                json.dumps({"conn_type": "slackwebhook", "password": f"{http.url}/s/T/B/X"}),
            )
            config = dataclasses.replace(
                config, alerts=dataclasses.replace(config.alerts, slack_connection="slack_alerts")
            )
            alert = alerts.gate_stopped("clicks", "2026-11-04", "Data gate: span 1 ...")
            with caplog.at_level(logging.ERROR, logger=destinations.__name__):
                deliveries = alerts.send(config, alert)
    assert [(d.destination.split()[0], d.delivered) for d in deliveries] == [
        ("slack", True),
        ("webhook", False),
    ]
    assert "500 Server Error" in str(deliveries[1].error)
    assert len(http.requests) == 1 and len(broken.requests) == 1
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert f"could not be sent to webhook {broken.url}/down" in record.getMessage()
    assert "500 Server Error" in record.getMessage()


def test_an_unreachable_smtp_server_does_not_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.devtools.services import free_ports

    (port,) = free_ports(1)  # nothing listens there
    monkeypatch.setenv(
        "AIRFLOW_CONN_ALERTS_SMTP",
        json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": port,
                "extra": {"disable_ssl": True, "disable_tls": True, "retry_limit": 0},
            }
        ),
    )
    config = _with_alerts(email=EmailAlerts(to=("a@example.com",), connection="alerts_smtp"))
    (delivery,) = alerts.send(config, alerts.Alert("task_failed", "p", "t", "x"))
    assert not delivery.delivered and "Connection refused" in str(delivery.error)


def test_no_destination_sends_nothing(gate_error: DataGateError) -> None:
    assert alerts.notify_gate_stopped(CONFIG, DAY, gate_error) == []


# -------------------------------------------------------------------------- callbacks


def test_the_dag_callback_alerts_only_for_a_timed_out_run(
    tmp_path: Path, http: HttpReceiver
) -> None:
    from airflow.models.dag import DAG
    from airflow.models.dagrun import DagRun

    path = write_config(tmp_path, lambda raw: raw.update(alerts={"webhook_url": http.url}))
    notifier = callbacks.dag_failure_callback(path)
    when = datetime.datetime(2026, 11, 4, tzinfo=datetime.timezone.utc)
    dag = DAG("clicks_pipeline", schedule=None, dagrun_timeout=datetime.timedelta(hours=12))
    dag_run = DagRun(dag_id=dag.dag_id, run_id="scheduled__2026-11-04", execution_date=when)
    context = {"dag": dag, "dag_run": dag_run, "logical_date": when}
    notifier({**context, "reason": "task_failure"})  # the task's own callback reported it
    assert http.bodies == []
    notifier({**context, "reason": "timed_out"})
    (body,) = http.bodies
    assert body["kind"] == "run_timed_out"
    assert body["text"] == (
        "DAG 'clicks_pipeline': run scheduled__2026-11-04 (day 2026-11-04) ran past its time "
        "limit of 12 h and was failed; its unfinished tasks were skipped and nothing more "
        "will be pushed by it."
    )
