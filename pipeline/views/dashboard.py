"""The dashboard: the pipeline's last days on one static HTML page.

:func:`pipeline.ops.trends.gather` reads the days; this module lays them out on one
shared day axis (:mod:`pipeline.views.trend_charts`): rows and the data gate's
verdict, the label's mean, a drift heat map, the gate metric of each candidate
against its baseline and the served model, serving events, run times and memory,
then a table linking each day to its run's ``report.html`` and the served version's
lineage. Like the run report, the page is a Jinja2 template (autoescaped) with inline
SVG: no scripts, no network, the same history renders the same page.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import ml_metadata as mlmd
from markupsafe import Markup

from pipeline.config import PipelineConfig
from pipeline.mlmd import queries
from pipeline.nodes import execution_order
from pipeline.ops.trends import Day, Trends, gather
from pipeline.run.outputs import HTML_REPORT_FILE, dashboard_path, run_dir
from pipeline.views import trend_charts
from pipeline.views.lineage import format_lineage
from pipeline.views.report import templates
from pipeline.views.trend_charts import DayAxis, Series

GATE_COLOURS = {
    "passed": trend_charts.PASSED,
    "stopped": trend_charts.STOPPED,
    "not checked": trend_charts.NO_RUN,
}


@dataclasses.dataclass(frozen=True)
class DayRow:
    """One line of the days table (newest first on the page).

    Attributes:
        day: The day's facts.
        report: The run report's path relative to the page (None: not written).
    """

    day: Day
    report: str | None


@dataclasses.dataclass(frozen=True)
class Page:
    """Everything the dashboard template draws.

    Attributes:
        trends: The gathered days.
        rows_chart: Rows per day, coloured by the data gate's verdict.
        label_chart: The label's mean per day (None: no day has it).
        heat_map: Drift as a share of its limit, features by days.
        model_chart: The gate metric: candidates, baselines, the served model.
        slice_chart: The candidates' gate metric per configured slice.
        events_chart: Pushes, rollbacks and promotions.
        time_chart: Seconds per component per day.
        memory_chart: Peak memory per day (None: no run recorded it).
        table: The days, newest first.
        stopped: How many days each cause stopped (``data gate``, ``model gate``...).
        served_text: The served version's lineage as text ("" when nothing is served).
    """

    trends: Trends
    rows_chart: Markup
    label_chart: Markup | None
    heat_map: Markup
    model_chart: Markup
    slice_chart: Markup | None
    events_chart: Markup
    time_chart: Markup
    memory_chart: Markup | None
    table: tuple[DayRow, ...]
    stopped: dict[str, int]
    served_text: str


def _rows_title(day: Day) -> str:
    if day.run_id is None:
        rows = "no run"
    elif day.rows is None:
        rows = "rows not recorded"
    else:
        rows = f"{day.rows:,} rows"
    verdict = f"gate {day.gate}"
    if day.stopped_by:
        verdict += f", stopped by {day.stopped_by}" + (f": {day.reason}" if day.reason else "")
    return f"{day.day}: {rows}, {verdict}"


def _model_series(trends: Trends) -> list[Series]:
    days = trends.days
    marks = tuple(
        (trend_charts.STOPPED if d.model and d.model.blessed is False else None) for d in days
    )
    return [
        Series(
            "baseline (last blessed)",
            tuple(d.model.baseline if d.model else None for d in days),
            trend_charts.BASELINE,
            dashed=True,
        ),
        Series(
            "served",
            tuple(d.served_value for d in days),
            trend_charts.SERVED,
            step=True,
        ),
        Series(
            "candidate (red: not blessed)",
            tuple(d.model.candidate if d.model else None for d in days),
            trend_charts.CANDIDATE,
            marks=marks,
        ),
    ]


def _slice_series(trends: Trends) -> list[Series]:
    return [
        Series(
            name,
            tuple(d.model.slices.get(name) if d.model else None for d in trends.days),
            trend_charts.PALETTE[number % len(trend_charts.PALETTE)],
        )
        for number, name in enumerate(trends.slices)
    ]


def _heat_cells(trends: Trends) -> list[dict[str, tuple[float, str]]]:
    return [
        {
            cell.feature: (
                cell.share,
                f"{day.day} {cell.feature}: {cell.measure} {cell.value:.4f} "
                f"({cell.share:.0%} of the limit {cell.threshold:.4f})",
            )
            for cell in day.drift
        }
        for day in trends.days
    ]


def _event_marks(trends: Trends) -> list[tuple[int, str, str]]:
    # A push belongs to the day of the run that pushed it; a label move to the last
    # day finished before it (rollbacks and promotions come between runs).
    by_run = {d.run_id: i for i, d in enumerate(trends.days) if d.run_id}
    marks = []
    for event in trends.events:
        index = by_run.get(event.run_id or "")
        if index is None:
            before = [
                i
                for i, d in enumerate(trends.days)
                if d.finished_ms and d.finished_ms <= event.at_ms
            ]
            if not before:
                continue
            index = before[-1]
        what = f"{event.kind} version {event.version} as {event.label}"
        if event.previous:
            what += f" (was {event.previous})"
        marks.append((index, event.kind, f"{queries.utc(event.at_ms)} {what}"))
    return marks


def _node_order(days: Sequence[Day]) -> list[str]:
    seen = sorted({node for d in days for node in d.node_seconds})
    return execution_order(seen, seen.index)


def build_page(trends: Trends, links: dict[str, str]) -> Page:
    """Draws the charts and the table.

    Args:
        trends: The gathered days.
        links: Run id -> its ``report.html`` relative to the page (runs without one
            are left out).

    Returns:
        The page's parts.
    """
    days = trends.days
    axis = DayAxis.fit([d.day for d in days])
    stopped: dict[str, int] = {}
    for day in days:
        if day.stopped_by:
            cause = day.stopped_by.split(" in ")[0]
            stopped[cause] = stopped.get(cause, 0) + 1
    memory = [d.peak_rss_mib for d in days]
    return Page(
        trends=trends,
        rows_chart=trend_charts.svg_day_bars(
            axis,
            [float(d.rows) if d.rows is not None else None for d in days],
            [GATE_COLOURS.get(d.gate, trend_charts.NO_RUN) for d in days],
            [_rows_title(d) for d in days],
            "rows",
        ),
        label_chart=(
            trend_charts.svg_lines(
                axis,
                [Series(f"mean {trends.label}", tuple(d.label_mean for d in days), "#b07aa1")],
                f"mean {trends.label}",
                height=90,
            )
            if any(d.label_mean is not None for d in days)
            else None
        ),
        heat_map=trend_charts.svg_heat_map(axis, trends.features, _heat_cells(trends)),
        model_chart=trend_charts.svg_lines(axis, _model_series(trends), trends.gate_metric),
        slice_chart=(
            trend_charts.svg_lines(axis, _slice_series(trends), trends.gate_metric)
            if trends.slices
            else None
        ),
        events_chart=trend_charts.svg_events(axis, _event_marks(trends)),
        time_chart=trend_charts.svg_stacked(
            axis, [d.node_seconds for d in days], _node_order(days), "seconds"
        ),
        memory_chart=(
            trend_charts.svg_lines(
                axis, [Series("peak RSS, MiB", tuple(memory), "#4e79a7")], "MiB", 80, digits=0
            )
            if any(m is not None for m in memory)
            else None
        ),
        table=tuple(DayRow(d, links.get(d.run_id) if d.run_id else None) for d in reversed(days)),
        stopped=dict(sorted(stopped.items())),
        served_text=format_lineage(trends.served) if trends.served else "",
    )


def render(page: Page) -> str:
    """Renders the page.

    Args:
        page: The page's parts (:func:`build_page`).

    Returns:
        The HTML document (inline CSS and SVG; no scripts, no external resources).
    """
    return templates().get_template("dashboard.html.j2").render(page=page)


def report_links(config: PipelineConfig, trends: Trends, page: Path) -> dict[str, str]:
    """Each day's run report that exists, as a link relative to the page.

    Args:
        config: The pipeline config (where runs write their reports).
        trends: The days.
        page: Where the page is written.

    Returns:
        Run id -> relative path of its ``report.html``.
    """
    links = {}
    for day in trends.days:
        if day.run_id is None:
            continue
        report = run_dir(config, day.run_id) / HTML_REPORT_FILE
        if report.is_file():
            links[day.run_id] = Path(os.path.relpath(report, page.parent)).as_posix()
    return links


def write_dashboard(
    store: mlmd.MetadataStore,
    config: PipelineConfig,
    days: int = 30,
    path: str | os.PathLike[str] | None = None,
) -> Path:
    """Gathers the last ``days`` days and writes the page.

    The file is replaced atomically, so a server never sends half a page.

    Args:
        store: The metadata store.
        config: The pipeline config.
        days: How many days to show.
        path: The HTML file (default ``<pipeline_root>/dashboard.html``).

    Returns:
        The path written.
    """
    target = Path(path) if path is not None else dashboard_path(config)
    target.parent.mkdir(parents=True, exist_ok=True)
    trends = gather(store, config, days)
    html = render(build_page(trends, report_links(config, trends, target.resolve())))
    staging = target.with_name(f".{target.name}.tmp")
    staging.write_text(html, encoding="utf-8")
    os.replace(staging, target)
    return target
