"""The run report's SVG and formatting helpers, and its templates on hand-made facts.

The page Chromium renders for a real run is tested in tests/e2e/test_ops_report_e2e.py.
"""

from __future__ import annotations

import re

from components.distances import Distance
from pipeline.ops.model_gate import ModelGate, SliceCheck, SliceMetrics
from pipeline.ops.summary import NodeRun, RunSummary
from pipeline.views import charts, report


def test_svg_bar_chart_escapes_labels_and_scales_bars_to_the_largest() -> None:
    svg = charts.svg_bar_chart([("<b>&\"x'", 0.5, 0.25), ("plain", 0.1, None)], width=200)

    assert "<b>" not in svg and "&lt;b&gt;&amp;&quot;x&#x27;" in svg
    widths = [float(w) for w in re.findall(r'class="(?:new|previous)"[^>]*?width="([\d.]+)"', svg)]
    # 0.5 is the largest value and fills the width; the rest are proportional.
    assert widths == [200.0, 100.0, 40.0]
    # No previous value: no previous bar for that row.
    assert svg.count('class="previous"') == 1


def test_bar_width_clamps_and_ignores_bad_values() -> None:
    assert charts.bar_width(3, 4, 100) == 75.0
    assert charts.bar_width(5, 4, 100) == 100.0
    assert charts.bar_width(-1, 4, 100) == 0.0
    assert charts.bar_width(1, 0, 100) == 0.0
    assert charts.bar_width(float("nan"), 1, 100) == 0.0


def test_svg_histogram_shares_one_axis_and_skips_infinite_buckets() -> None:
    new = [(0.0, 5.0, 10.0), (5.0, 10.0, 30.0), (10.0, float("inf"), 5.0)]
    previous = [(0.0, 10.0, 20.0)]
    svg = charts.svg_histogram(new, previous, width=100, height=50)

    rects = re.findall(
        r'<rect class="(new|previous)" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', svg
    )
    assert ("previous", "0.0", "100.0") in rects
    assert ("new", "0.0", "50.0") in rects and ("new", "50.0", "50.0") in rects
    assert len(rects) == 3  # the infinite bucket is left out
    assert svg.startswith("<svg") and svg.endswith("</svg>")


def test_svg_lineage_escapes_and_draws_known_edges_only() -> None:
    boxes = [
        charts.Box("a<1>", "A <one>", "#fff", 0),
        charts.Box("b", "B", "#fff", 1),
    ]
    svg = charts.svg_lineage(boxes, [("a<1>", "b", False), ("b", "missing", True)])

    assert 'data-node="a&lt;1&gt;"' in svg and "A &lt;one&gt;" in svg and "<one>" not in svg
    assert svg.count('class="edge"') == 1


def test_graph_layers_follow_the_longest_upstream_path() -> None:
    graph = {"a": (), "b": ("a",), "c": ("a", "b"), "d": ("x",)}
    assert charts.graph_layers(["a", "b", "c", "d"], graph) == {"a": 0, "b": 1, "c": 2, "d": 0}


def test_fmt_and_esc() -> None:
    assert charts.fmt(None) == "-" and charts.fmt(3) == "3" and charts.fmt(0.123456) == "0.1235"
    assert charts.esc("<&>") == "&lt;&amp;&gt;"
    assert charts.metric_text("example_count", 502.0) == "502"
    assert charts.metric_text("auc", 0.8125) == "0.8125"


# ---------------------------------------------------------------------------------
# The page's templates, on facts made here (the page of a real run: the e2e tests)


def _facts(**overrides: object) -> report.RunReport:
    gate = ModelGate(
        metric="AUC",
        metric_key="auc",
        value=0.5912,
        lower_bound=0.65,
        value_passed=False,
        blessed=False,
        slices=(
            SliceCheck(
                slice="device=<tab>",
                spec="device=*",
                value=0.5912,
                lower_bound=0.6,
                value_passed=False,
                example_count=47,
            ),
        ),
    )
    summary = RunSummary(
        pipeline_name="clicks<&>",
        run_id="run-1",
        nodes=(NodeRun("Trainer", "ran", 5.0, 7),),
        metrics={"auc": 0.5912},
        blessed=False,
        baseline_model_uri=None,
        pushed=False,
        pushed_destination=None,
        model_uri=None,
        model_gate=gate,
        data_gate_report="Data gate: span 3 passed\n  <b>kept</b>",
    )
    fields: dict[str, object] = dict(
        summary=summary,
        model_name="clicks",
        status="succeeded",
        statistics=None,
        anomalies=report.Anomalies(("eval", "train"), ()),
        distances=(Distance("drift", "price", "L-infinity distance", 0.3, 0.2),),
        slices=(SliceMetrics("overall", {"auc": 0.5912, "example_count": 502.0}),),
        baseline={},
        lineage=charts.svg_lineage([charts.Box("Trainer", "Trainer", "#fff", 0)], []),
    )
    fields.update(overrides)
    return report.RunReport(**fields)  # type: ignore[arg-type]


def test_page_escapes_what_it_reads_and_keeps_the_charts() -> None:
    page = report.render(_facts())

    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>\n")
    assert "clicks&lt;&amp;&gt;" in page and "clicks<&>" not in page
    assert "&lt;b&gt;kept&lt;/b&gt;" in page  # the gate report is text, not markup
    assert '<svg id="lineage"' in page and 'data-node="Trainer"' in page
    assert re.search(r'id="status"[^>]*>succeeded<', page)
    assert 'id="drift-price" class="exceeded"' in page
    assert "ExampleValidator found no anomalies (splits eval, train)." in page
    assert '<tr class="slice"><td>overall</td><td class="num">0.5912</td>' in page
    assert "<script" not in page


def test_gate_tables_give_each_check_its_verdict() -> None:
    table = report.render_gate(_facts().summary.model_gate, blessed=False)

    row = table[table.index('<tr id="model-gate">') :]
    assert row[: row.index("</tr>")].count('class="fail">FAIL') == 1
    assert '<td class="fail">not blessed</td>' in row
    sliced = table[table.index("<td>device=&lt;tab&gt;</td><td>device=*</td>") :]
    assert '<td class="num">47</td>' in sliced and "&ge; 0.6000" in sliced
    assert report.render_gate(None, blessed=None).strip() == (
        '<p class="muted">The Evaluator applied no threshold on the overall slice.</p>'
    )
