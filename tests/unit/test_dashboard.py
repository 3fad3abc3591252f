"""The dashboard's drawing: days on one axis, the heat map's colours, escaping, gaps."""

from __future__ import annotations

import re

from pipeline.ops.trends import Day, DriftCell, ModelDay, ServingEvent, Trends
from pipeline.views import dashboard, trend_charts
from pipeline.views.trend_charts import DayAxis, Series


def _day(span: int, **fields: object) -> Day:
    values: dict[str, object] = dict(
        span=span,
        day=f"2026-11-{span:02d}",
        run_id=f"run-{span}",
        kind="run",
        status="succeeded",
        rows=1000,
        label_mean=0.2,
        gate="passed",
        stopped_by=None,
        reason=None,
        drift=(),
        model=None,
        served_version=None,
        served_value=None,
        duration_seconds=60.0,
        node_seconds={"Trainer": 20.0, "CsvExampleGen": 5.0},
        peak_rss_mib=None,
        finished_ms=span * 1000,
    )
    values.update(fields)
    return Day(**values)  # type: ignore[arg-type]


def _trends() -> Trends:
    hostile = "<script>alert(1)</script>"
    days = (
        _day(
            1,
            model=ModelDay(0.80, None, True, {"device=mobile": 0.79}, "101"),
            served_version="101",
            served_value=0.80,
        ),
        _day(
            2,
            gate="stopped",
            kind="validation",
            status="failed",
            stopped_by="data gate",
            reason="BLOCK price: drift",
            drift=(DriftCell("price", "L-infinity distance", 0.3, 0.1),),
        ),
        _day(3, run_id=None, kind="none", status="no run", rows=None, gate="not checked"),
        _day(
            4,
            drift=(DriftCell(hostile, "Jensen-Shannon divergence", 0.05, 0.1),),
            model=ModelDay(0.70, 0.80, False, {"device=mobile": 0.69}, None),
            stopped_by="model gate",
            served_version="101",
            served_value=0.80,
            peak_rss_mib=900.0,
        ),
    )
    return Trends(
        pipeline_name="clicks",
        model_name="clicks",
        gate_metric="AUC",
        label="clicked",
        slices=("device=mobile",),
        features=("price", hostile),
        days=days,
        events=(ServingEvent(1500, "push", "101", "stable", None, "run-1"),),
        served=None,
    )


def test_the_page_lines_days_up_and_escapes_what_it_shows() -> None:
    trends = _trends()
    html = dashboard.render(dashboard.build_page(trends, {"run-1": "runs/run-1/report.html"}))
    assert "<script" not in html and "&lt;script&gt;" in html
    assert 'id="stopped-days">stopped days: data gate 1, model gate 1</span>' in html
    # Newest first in the table; the day without a run says so; only run-1 links.
    rows = re.findall(r'<tr id="day-([0-9-]+)">', html)
    assert rows == ["2026-11-04", "2026-11-03", "2026-11-02", "2026-11-01"]
    assert html.count('href="runs/') == 1 and "no run" in html
    # The stopped day's drift cell is past its limit; the other is not.
    assert re.findall(r'class="cell over" data-feature="([^"]+)"', html) == ["price"]
    # The rejected candidate's point is red; the blessed one is not.
    red = re.findall(r'fill="#e0584f"><title>(2026-11-0\d) candidate', html)
    assert red == ["2026-11-04"]
    # One push mark, on the day of the run that pushed it.
    assert len(re.findall(r'class="event push"', html)) == 1
    # Memory recorded for one day only: a chart, not the "not recorded" note.
    assert 'id="no-memory"' not in html
    # The same history renders the same page.
    again = dashboard.render(dashboard.build_page(trends, {"run-1": "runs/run-1/report.html"}))
    assert html == again


def test_an_empty_store_says_so() -> None:
    empty = Trends("clicks", "clicks", "AUC", "clicked", (), (), (), (), None)
    assert 'id="empty"' in dashboard.render(dashboard.build_page(empty, {}))


def test_heat_colours_rise_to_the_limit_then_turn_red() -> None:
    assert trend_charts.heat_colour(0.0) == "#ffffff"
    assert trend_charts.heat_colour(None) == "#f3f3f3"
    half, full = trend_charts.heat_colour(0.5), trend_charts.heat_colour(1.0)
    assert half != full and int(full[3:5], 16) < int(half[3:5], 16)  # greener is nearer 0
    assert trend_charts.heat_colour(1.01) == trend_charts.heat_colour(5.0) == "#b3261e"


def test_a_line_breaks_where_a_day_has_no_value() -> None:
    axis = DayAxis.fit(["a", "b", "c", "d"], width=400)
    svg = trend_charts.svg_lines(axis, [Series("x", (1.0, 2.0, None, 3.0), "#000")], "x")
    assert len(re.findall(r"<polyline", svg)) == 2
    assert len(re.findall(r'<circle class="point"', svg)) == 3
    step = trend_charts.svg_lines(axis, [Series("s", (1.0, 2.0, 2.0, 3.0), "#000", step=True)], "s")
    # A step line holds each value until the next day: two points per change.
    (points,) = re.findall(r'points="([^"]+)"', step)
    assert len(points.split()) == 7
