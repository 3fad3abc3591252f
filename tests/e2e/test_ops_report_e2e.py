"""The run report: the page Chromium renders for a real run.

These tests write the report of the session's ``new_span`` run, let headless
Chromium load it from disk, and check what is on the rendered page against the
sources of truth: ML Metadata, the DataGate's ``DriftSkew.pbtxt`` and the run
summary. Set ``UPDATE_RUN_REPORT_PNG=1`` to refresh ``docs/run-report.png`` from the
screenshot test.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from pipeline.views import report
from tests.support import browser
from tests.support.data import Runs

WINDOW_SIZE = "1200,2400"

pytestmark = pytest.mark.requires_root("installs Chromium with apt-get", unless_on_path="chromium")


@pytest.fixture(scope="module")
def report_file(clicks_runs: Runs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``new_span`` run's report, written to a temporary file."""
    from pipeline.mlmd import connection as metadata

    store = metadata.open_store(clicks_runs.config)
    path = tmp_path_factory.mktemp("report") / "run.html"
    return report.write_run_report(store, clicks_runs.config, clicks_runs.new_span.run_id, path)


@pytest.fixture(scope="module")
def rendered(chromium: str, report_file: Path) -> str:
    """The DOM Chromium built from the report (what the browser shows)."""
    return browser.dom(chromium, report_file)


def _drift_distances(clicks_runs: Runs) -> list[report.Distance]:
    """The DataGate's DriftSkew.pbtxt of the run, found through ML Metadata."""
    from ml_metadata.proto import metadata_store_pb2

    from pipeline.mlmd import connection as metadata
    from pipeline.mlmd.queries import artifacts
    from pipeline.nodes import DATA_GATE

    store = metadata.open_store(clicks_runs.config)
    run = store.get_context_by_type_and_name("pipeline_run", clicks_runs.new_span.run_id)
    gate = next(
        e
        for e in store.get_executions_by_context(run.id)
        if any(
            c.name == f"{clicks_runs.config.pipeline_name}.{DATA_GATE}"
            for c in store.get_contexts_by_execution(e.id)
        )
    )
    out = artifacts(store, gate.id, "report_artifact", metadata_store_pb2.Event.OUTPUT)
    return report.read_distances(Path(out[0].uri) / report.DISTANCES_FILE) or []


def test_report_page_header_and_components(rendered: str, clicks_runs: Runs) -> None:
    run = clicks_runs.new_span
    text = browser.text(rendered)
    assert run.run_id in text
    assert f"pipeline {clicks_runs.config.pipeline_name}" in text
    assert re.search(r'id="status"[^>]*>succeeded<', rendered)
    for node in run.nodes:
        row = browser.row(rendered, f"node-{node.node_id}")
        assert node.state in row and f"{node.seconds:.1f}" in row


def test_report_page_shows_every_feature_and_the_gate_drift(
    rendered: str, clicks_runs: Runs
) -> None:
    import tensorflow_data_validation as tfdv

    schema = tfdv.load_schema_text(str(clicks_runs.config.schema_file))
    for feature in schema.feature:
        assert feature.name in browser.row(rendered, f"feature-{feature.name}")
    # Numeric features get a histogram, categorical ones top-value bars, new vs previous.
    assert 'class="hist"' in rendered and 'class="bars"' in rendered
    assert 'class="previous"' in rendered

    distances = [d for d in _drift_distances(clicks_runs) if d.comparison == "drift"]
    assert distances, "the new span's gate measured no drift (the fixture has two spans before it)"
    for distance in distances:
        row = browser.row(rendered, f"drift-{distance.feature}")
        assert f"{distance.value:.4f}" in row and f"{distance.threshold:.4f}" in row
        assert ("exceeded" if distance.exceeded else "within") in row


def test_report_page_shows_evaluation_and_slices(rendered: str, clicks_runs: Runs) -> None:
    run = clicks_runs.new_span
    auc = f"{run.metrics['auc']:.4f}"
    assert auc in browser.row(rendered, "metric-auc")
    gate = browser.row(rendered, "model-gate")
    assert run.model_gate is not None and f"{run.model_gate.value:.4f}" in gate
    assert f"{run.model_gate.baseline_value:.4f}" in gate  # compared with the first model
    slices = re.findall(r'<tr class="slice"><td>([^<]*)</td>', rendered)
    assert slices[0] == "overall"
    assert any(name.startswith("device=") for name in slices), slices


def test_report_page_draws_the_lineage_graph(rendered: str, clicks_runs: Runs) -> None:
    match = re.search(r'<svg[^>]*id="lineage".*?</svg>', rendered, re.S)
    assert match, "no lineage <svg> on the page"
    graph = match.group(0)
    nodes = set(re.findall(r'data-node="([^"]+)"', graph))
    assert {n.node_id for n in clicks_runs.new_span.nodes} <= nodes
    assert "push" in nodes and any(n.startswith("span-") for n in nodes)
    version = os.path.basename(str(clicks_runs.new_span.pushed_destination).rstrip("/"))
    assert f"pushed version {version}" in browser.text(graph)
    assert 'data-from="Trainer" data-to="Evaluator"' in graph


def test_report_screenshot(chromium: str, report_file: Path, tmp_path: Path, repo: Path) -> None:
    png = tmp_path / "run-report.png"
    data = browser.screenshot(chromium, report_file, png, WINDOW_SIZE)
    # A blank page compresses to a few KB; tables, charts and a graph do not.
    assert len(data) > 50_000
    if os.environ.get("UPDATE_RUN_REPORT_PNG") == "1":
        (repo / "docs").mkdir(exist_ok=True)
        shutil.copyfile(png, repo / "docs" / "run-report.png")
