"""The dashboard's days, read back from real runs and checked against their sources.

The shared runs (two days trained, a cached rerun, a third day) plus a fourth day the
data gate stops, then a rollback: the trends must show each day's rows, verdict and
reason, the stopped day's drift (recorded by the runner, since TFX deletes the
failed gate's report), each candidate's gate metric as the run summary read it, the
pushes and the rollback, the runs' recorded memory, and links to the run reports.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.mlmd import connection as metadata
from pipeline.ops import trends
from pipeline.views import dashboard
from tests.support.cli import REPO, run_cli
from tests.support.data import Runs, span_of_day, with_rejected_day


@pytest.fixture(scope="module")
def history(clicks_runs: Runs, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """A copy of the shared runs with a stopped fourth day, then a rollback."""
    root = tmp_path_factory.mktemp("dashboard")
    config, bad_day = with_rejected_day(clicks_runs, root)
    # The rest of the shared runs' outputs: the pushed versions (a rollback moves a
    # label to one that is there) and the runs' reports (the page links them).
    shutil.copytree(clicks_runs.config.outputs.serving_dir, config.outputs.serving_dir)
    shutil.copytree(
        Path(clicks_runs.config.outputs.pipeline_root) / "runs",
        Path(config.outputs.pipeline_root) / "runs",
        dirs_exist_ok=True,
    )
    rolled = run_cli(
        [
            "rollback",
            "--config",
            str(REPO / "pipeline" / "configs" / "clicks.yaml"),
            "--data-root",
            str(root / "data"),
            "--output-root",
            str(root / "out"),
            "--to",
            clicks_runs.versions_after_first[-1],
        ]
    )
    assert rolled.returncode == 0, rolled.stderr
    return config, bad_day, root


def test_days_show_rows_verdicts_drift_and_models(clicks_runs: Runs, history: tuple) -> None:
    config, bad_day, _ = history
    found = trends.gather(metadata.open_store(config, {}), config, days=30)
    by_span = {d.span: d for d in found.days}
    first = span_of_day(bad_day) - 3
    # Every calendar day from the first span to the stopped one, oldest first.
    assert [d.span for d in found.days] == list(range(first, span_of_day(bad_day) + 1))

    trained = by_span[first + 2]
    assert trained.run_id == clicks_runs.new_span.run_id and trained.gate == "passed"
    assert trained.rows == 2500 and trained.status == "succeeded"
    assert 0.0 < (trained.label_mean or 0.0) < 1.0
    # The gate metric as the run summary read it through TFMA.
    assert trained.model is not None
    assert trained.model.candidate == pytest.approx(clicks_runs.new_span.metrics["auc"])
    assert clicks_runs.new_span.model_gate is not None
    assert trained.model.baseline == pytest.approx(clicks_runs.new_span.model_gate.baseline_value)
    assert trained.model.slices  # the configured slices, per value
    assert trained.peak_rss_mib is not None and trained.peak_rss_mib > 100
    assert "Trainer" in trained.node_seconds and "latest_blessed_model" not in trained.node_seconds

    stopped = by_span[span_of_day(bad_day)]
    assert stopped.gate == "stopped" and stopped.stopped_by == "data gate"
    assert stopped.kind == "validation" and stopped.model is None
    assert "purchase_quantity" in (stopped.reason or "")
    # TFX deleted the failed gate's report: the distances come from the runner's record.
    drift = {c.feature: c for c in stopped.drift}
    assert drift and any(c.share > 1.0 for c in drift.values())
    assert found.features[0] == config.features.label

    kinds = [e.kind for e in found.events]
    assert kinds.count("push") >= 2 and kinds[-1] == "rollback"
    assert found.events[-1].version == clicks_runs.versions_after_first[-1]
    assert found.served is not None
    assert found.served.version == clicks_runs.versions_after_first[-1]


def test_page_links_each_run_report_and_names_the_stopped_day(history: tuple) -> None:
    config, bad_day, root = history
    page = dashboard.write_dashboard(metadata.open_store(config, {}), config, days=30)
    assert page == Path(config.outputs.pipeline_root) / "dashboard.html"
    text = page.read_text()
    links = [line for line in text.splitlines() if 'href="runs/' in line]
    assert links, "no day links to its run report"
    for line in links:
        target = line.split('href="')[1].split('"')[0]
        assert (page.parent / target).is_file(), target
    assert f'id="day-{bad_day.isoformat()}"' in text
    assert "stopped days: data gate 1" in text
    assert "<script" not in text


def test_recorded_metrics_keep_tfma_out_of_the_reading_process(history: tuple) -> None:
    config, _, root = history
    code = (
        "import sys, json\n"
        "from pipeline.config import DEFAULT_CONFIG, load_config, with_env_overrides\n"
        "from pipeline.mlmd import connection as metadata\n"
        "from pipeline.ops import trends\n"
        f"config = with_env_overrides(load_config(DEFAULT_CONFIG), {{'PIPELINE_DATA_ROOT': "
        f"{str(root / 'data')!r}, 'PIPELINE_OUTPUT_ROOT': {str(root / 'out')!r}}})\n"
        "found = trends.gather(metadata.open_store(config, {}), config, 30)\n"
        "print(json.dumps([sorted(m for m in sys.modules if m.startswith(p)) for p in "
        "('tensorflow_model_analysis', 'tensorflow_data_validation')]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    tfma, tfdv = json.loads(result.stdout.strip().splitlines()[-1])
    assert tfma == [] and tfdv == []


def test_an_evaluation_without_recorded_metrics_is_loaded_once(
    history: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, _, _ = history
    store = metadata.open_store(config, {})
    expected = {d.span: d.model for d in trends.gather(store, config).days if d.model}
    # As if every evaluation had been recorded before the property existed.
    loads: list[str] = []
    real_values = trends.metric_values

    def counting(uri: str) -> dict:
        loads.append(uri)
        return real_values(uri)

    monkeypatch.setattr(trends, "metric_values", counting)
    monkeypatch.setattr(trends, "recorded_metrics", lambda evaluation: None)
    loaded = {d.span: d.model for d in trends.gather(store, config).days if d.model}
    # Through TFMA, each evaluation once (the served line reuses the day's), same values.
    assert loads and len(loads) == len(set(loads))
    assert loaded.keys() == expected.keys()
    for span, model in loaded.items():
        assert model is not None and expected[span] is not None
        assert model.candidate == pytest.approx(expected[span].candidate)
        assert model.baseline == pytest.approx(expected[span].baseline)
        assert model.slices == pytest.approx(expected[span].slices)


@pytest.mark.requires_root("installs nginx with apt-get", unless_on_path="nginx")
def test_the_stacks_nginx_serves_the_page_and_reports_and_nothing_else(
    history: tuple, tmp_path: Path
) -> None:
    import socket
    import time
    import urllib.error
    import urllib.request

    from pipeline.devtools.services import ensure_debian_package

    config, _, _ = history
    page = dashboard.write_dashboard(metadata.open_store(config, {}), config, days=30)
    nginx = ensure_debian_package("nginx", "nginx")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # deploy/dashboard/nginx.conf as the compose stack mounts it, with this test's
    # pipeline root and port.
    server = (REPO / "deploy" / "dashboard" / "nginx.conf").read_text()
    server = server.replace("listen 8088;", f"listen 127.0.0.1:{port};").replace(
        "root /var/lib/pipeline/pipelines/clicks;", f"root {config.outputs.pipeline_root};"
    )
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"daemon off;\nuser root;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        f"events {{}}\nhttp {{\naccess_log off;\nclient_body_temp_path {tmp_path};\n"
        f"proxy_temp_path {tmp_path};\nfastcgi_temp_path {tmp_path};\n"
        f"uwsgi_temp_path {tmp_path};\nscgi_temp_path {tmp_path};\n{server}\n}}\n"
    )
    process = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp_path)])
    base = f"http://127.0.0.1:{port}"

    def get(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(base + path, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, ""

    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, _ = get("/healthz")
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        assert status == 200
        status, body = get("/")
        assert status == 200 and body == page.read_text()
        report = body.split('href="')[1].split('"')[0]
        assert report.startswith("runs/") and get("/" + report)[0] == 200
        # Nothing else of the pipeline root: no artifacts, no logs, no metadata.
        for other in ("/Trainer/", "/runs/", "/last_failure.log"):
            assert get(other)[0] == 404, other
        assert get("/../metadata/clicks.sqlite")[0] == 400  # nginx refuses to climb
    finally:
        process.terminate()
        process.wait(timeout=30)


MONTH = 30
WINDOW = "1200,2600"


@pytest.fixture(scope="module")
def month(history: tuple, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """A month of days: the five real ones, then replayed copies up to 30.

    Real: two days trained and pushed, a third pushed, a fourth the data gate stops
    (then a rollback), a fifth whose model the gate rejects (AUC >= 0.99 demanded).
    Replayed (:mod:`pipeline.devtools.replay`): the third day's run as each of days
    6-30, but day 12, a copy of the stopped day: two stopped days in all.
    """
    import yaml

    from pipeline.config import load_config, with_env_overrides
    from pipeline.devtools import clickgen
    from pipeline.devtools.replay import replay
    from pipeline.run.local import run

    _, bad_day, source = history
    root = tmp_path_factory.mktemp("month")
    shutil.copytree(source / "data", root / "data")
    shutil.copytree(source / "out", root / "out", symlinks=True)
    fifth = bad_day + datetime.timedelta(days=1)
    clickgen.write_day(root / "data", fifth, rows=2500, seed=5)
    raw = yaml.safe_load((REPO / "pipeline" / "configs" / "clicks.yaml").read_text())
    raw["schema_file"] = str(REPO / raw["schema_file"])
    raw["evaluation"]["lower_bound"] = 0.99
    strict = root / "strict.yaml"
    strict.write_text(yaml.safe_dump(raw))
    overrides = {
        "PIPELINE_DATA_ROOT": str(root / "data"),
        "PIPELINE_OUTPUT_ROOT": str(root / "out"),
    }
    rejected = run(with_env_overrides(load_config(strict), overrides))
    assert rejected.blessed is False and not rejected.pushed

    config = with_env_overrides(
        load_config(REPO / "pipeline" / "configs" / "clicks.yaml"), overrides
    )
    store = metadata.open_store(config, {})
    days = {d.span: d for d in trends.gather(store, config, days=MONTH).days}
    trained = days[span_of_day(bad_day) - 1]
    stopped = days[span_of_day(bad_day)]
    assert trained.run_id and stopped.run_id
    first = span_of_day(bad_day) - 3
    plan = []
    for day in range(6, MONTH + 1):  # day n of the month is span first + n - 1
        original = stopped if day == 12 else trained
        assert original.run_id is not None
        plan.append((original.run_id, first + day - 1 - original.span))
    replay(store, config.pipeline_name, plan)
    return config, first, fifth


def test_a_month_in_the_browser(month: tuple, chromium: str, tmp_path: Path) -> None:
    from tests.support import browser

    config, first, fifth = month
    result = run_cli(
        [
            "dashboard",
            "--config",
            str(REPO / "pipeline" / "configs" / "clicks.yaml"),
            "--data-root",
            str(config.data.input_base),
            "--output-root",
            str(config.outputs.pipeline_root.parent.parent),
            "--days",
            str(MONTH),
        ]
    )
    assert result.returncode == 0, result.stderr
    page = Path(result.stdout.strip().splitlines()[-1])
    dom = browser.dom(chromium, page)

    # Thirty days, each a row; the first and the last as generated.
    rows = re.findall(r'<tr id="day-([0-9-]+)">', dom)
    assert len(rows) == MONTH
    assert rows[-1] == trends.queries.span_date(first)
    assert rows[0] == trends.queries.span_date(first + MONTH - 1)
    # Two days the data gate stopped, one the model gate did.
    stopped = re.search(r'id="stopped-days">(.*?)</span>', dom, re.S)
    assert stopped and browser.text(stopped.group(1)).split() == (
        "stopped days: data gate 2, model gate 1".split()
    )
    assert "stopped" in browser.row(dom, f"day-{trends.queries.span_date(first + 11)}")
    rejected = browser.row(dom, f"day-{fifth.isoformat()}")
    assert "model gate" in rejected and " no " in f" {rejected} "
    # The stopped days' drift is in the heat map, past its limit.
    over = re.findall(r'<rect class="cell over" data-feature="([^"]+)"', dom)
    assert len(over) >= 2
    # The rollback among the pushes, on the serving strip.
    assert len(re.findall(r'class="event rollback"', dom)) == 1
    assert len(re.findall(r'class="event push"', dom)) >= MONTH - 5
    # The rejected candidate's point is red on the model chart.
    point = re.search(
        rf'<circle class="point"[^>]*fill="([^"]+)"><title>{fifth.isoformat()} candidate', dom
    )
    assert point and point.group(1) == "#e0584f"
    # Real days link to their run reports, which exist.
    for href in re.findall(r'href="(runs/[^"]+)"', dom):
        assert (page.parent / href).is_file()

    png = tmp_path / "dashboard.png"
    data = browser.screenshot(chromium, page, png, WINDOW)
    assert len(data) > 50_000  # charts and a table, not a blank page
    if os.environ.get("UPDATE_DASHBOARD_PNG") == "1":
        shutil.copyfile(png, REPO / "docs" / "dashboard.png")
