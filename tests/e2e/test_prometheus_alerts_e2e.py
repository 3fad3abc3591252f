"""The "data gate stopped a day" alert, end to end through real Prometheus and Alertmanager.

A copy of the shared runs' store gets a bad fourth day (drifted, negative purchase
quantities) that the data gate rejects. ``python -m pipeline metrics --serve`` exposes
it; Debian's Prometheus scrapes the exporter with the shipped config and evaluates the
shipped rules (``deploy/prometheus``); Debian's Alertmanager routes with the shipped
route (``deploy/alertmanager``) to a local webhook receiver. The alert that reaches
the receiver names the span, the day and the blocking feature.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from pipeline.devtools.prometheus import (
    Alertmanager,
    Prometheus,
    local_alertmanager_config,
    local_prometheus_config,
)
from pipeline.devtools.services import free_ports
from tests.support.cli import REPO
from tests.support.data import Runs, span_of_day, with_rejected_day
from tests.support.exporter import metrics_exporter
from tests.support.receivers import HttpReceiver

SHIPPED_PROMETHEUS = REPO / "deploy" / "prometheus" / "prometheus.yml"
SHIPPED_ALERTMANAGER = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
HOOK_PATH = "/alertmanager"
DELIVERY_TIMEOUT_SECONDS = 180

pytestmark = pytest.mark.requires_root(
    "installs Debian's prometheus and prometheus-alertmanager packages",
    unless_on_path="prometheus-alertmanager",
)


def _delivered(receiver: HttpReceiver) -> list[dict[str, Any]]:
    return [alert for body in receiver.bodies for alert in body["alerts"]]


def _wait_for_gate_alert(
    receiver: HttpReceiver, prometheus: Prometheus, exporter: subprocess.Popen[str]
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        alerts = _delivered(receiver)
        if any(a["labels"]["alertname"] == "DataGateStoppedDay" for a in alerts):
            return alerts
        assert exporter.poll() is None, "the metrics exporter exited"
        time.sleep(0.5)
    raise AssertionError(
        f"no DataGateStoppedDay alert reached the receiver in {DELIVERY_TIMEOUT_SECONDS} s; "
        f"Prometheus holds {prometheus.alerts()}, "
        f"up = {prometheus.query('up')}, log: " + prometheus.log.read_text(errors="replace")[-1500:]
    )


def test_the_data_gate_alert_reaches_the_webhook_with_span_day_and_feature(
    clicks_runs: Runs, tmp_path: Path
) -> None:
    config, day = with_rejected_day(clicks_runs, tmp_path / "copy")
    span = span_of_day(day)
    [metrics_port] = free_ports(1)
    with metrics_exporter(config.data.input_base, tmp_path / "copy" / "out", metrics_port) as (
        exporter,
        url,
    ):
        assert url.startswith(f"http://127.0.0.1:{metrics_port}")
        with HttpReceiver() as receiver:
            token = tmp_path / "webhook_token"
            token.write_text("local-test-token\n")
            routes = local_alertmanager_config(
                SHIPPED_ALERTMANAGER, receiver.url + HOOK_PATH, token
            )
            with Alertmanager(tmp_path / "alertmanager", routes) as alertmanager:
                scrapes = local_prometheus_config(
                    SHIPPED_PROMETHEUS,
                    # No TF Serving here: its job is dropped, the pipeline's kept.
                    {"metrics:9108": f"127.0.0.1:{metrics_port}", "serving:8501": None},
                    alertmanager=alertmanager.address,
                    interval="2s",
                )
                with Prometheus(tmp_path / "prometheus", scrapes) as prometheus:
                    alerts = _wait_for_gate_alert(receiver, prometheus, exporter)
                    (up,) = prometheus.query('up{job="pipeline"}')
                    assert up["value"][1] == "1"

    assert {path for path, _, _ in receiver.requests} == {HOOK_PATH}
    # The shipped receiver's bearer token, read from its file when sending.
    assert {headers["Authorization"] for _, _, headers in receiver.requests} == {
        "Bearer local-test-token"
    }
    # Only the stopped day alerts: the runs before it succeeded and pushed recently.
    assert {a["labels"]["alertname"] for a in alerts} == {"DataGateStoppedDay"}
    by_feature = {a["labels"]["feature"]: a for a in alerts}
    alert = by_feature["purchase_quantity"]
    assert alert["status"] == "firing"
    labels = alert["labels"]
    assert labels["span"] == str(span) and labels["day"] == day.isoformat()
    assert labels["pipeline"] == config.pipeline_name
    # The schema anomaly, and the drift the runner recorded from the gate's error.
    reason = "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH,INT_TYPE_SMALL_INT"
    assert labels["reason"] == reason
    assert "COMPARATOR_L_INFTY_HIGH" in by_feature["device"]["labels"]["reason"].split(",")
    annotations = alert["annotations"]
    assert annotations["summary"] == (
        f"{config.pipeline_name}: the data gate stopped {day.isoformat()} (span {span})"
    )
    assert f"feature purchase_quantity blocked it ({reason})" in annotations["description"]
    # Every alert is for that one day.
    assert {(a["labels"]["span"], a["labels"]["day"]) for a in alerts} == {
        (str(span), day.isoformat())
    }
