"""The benchmark page (``docs/benchmarks.md``), rendered from what the suite measured.

The page's fixed prose (what is measured, what each lever is, why a target is not
met) lives in ``templates/benchmarks.md.j2`` beside the numbers, so the committed
page is exactly what ``make bench BENCH_ARGS=--docs`` writes and is never edited by
hand. This module turns ``results.json`` into tables (lists of formatted cells) and
the few numbers the prose quotes; the template lays them out.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence
from typing import Any

import jinja2

from pipeline.nodes import RESOLVERS

# The penguin comparison's sides: TFX's example with its own Beam arguments
# (multi-processing, a worker per core) and with none (Beam's in-process default).
REFERENCE = "reference"
REFERENCE_IN_PROCESS = "reference, in-process Beam"

# Targets from the issue that asked for the benchmark.
TARGET_RATIO = 0.5
TARGET_CACHED = 0.3
TARGET_1M_SECONDS = 300.0
TARGET_1M_RSS_MIB = 4096.0
TARGET_1M_OVER_100K = 10.0
TARGET_5M_OVER_1M = 5.0
TARGET_5M_RSS_MIB = 12288.0
TARGET_THROUGHPUT = 0.8
TARGET_AIRFLOW_RATIO = 1.5
# The dashboard over a year of days, the whole process (issue 19).
TARGET_DASHBOARD_SECONDS = 10.0

# The components whose times the levers and scale tables show.
MAIN_NODES = ("CsvExampleGen", "StatisticsGen", "Transform", "Trainer", "Evaluator")
SCALE_NODES = (*MAIN_NODES[:4], "TFLiteConverter", "Evaluator")
# Resolver nodes only look artifacts up, so they are never "cached": a rerun whose
# every other node is cached is fully cached.
# Resolver nodes look artifacts up on every run, so a rerun never caches them: ours
# (pipeline.nodes.RESOLVERS) and the reference's ``latest_blessed_model_resolver``.
REFERENCE_RESOLVER_SUFFIX = "_resolver"

_TEMPLATE = "benchmarks.md.j2"


def fmt(value: float | None, digits: int = 1) -> str:
    """A number with fixed decimals, or ``-`` when not measured.

    Args:
        value: The number, or None.
        digits: Decimals.

    Returns:
        The cell text.
    """
    return "-" if value is None else f"{value:.{digits}f}"


def median(values: Sequence[float]) -> float | None:
    """The median, or None for no values.

    Args:
        values: Measurements.

    Returns:
        Their median, or None.
    """
    return statistics.median(values) if values else None


@dataclasses.dataclass(frozen=True)
class Summary:
    """One side's successful runs of one kind, reduced to medians.

    Attributes:
        n: How many runs.
        wall: Median whole-process seconds.
        startup: Median seconds before the first node.
        rss: Worst peak RSS of the process tree, MiB.
        nodes: Median seconds per node id, in first-seen order.
        walls: Every run's whole-process seconds.
        all_cached: Whether every non-resolver node of every run was a cache hit.
    """

    n: int
    wall: float | None
    startup: float | None
    rss: float | None
    nodes: dict[str, float | None]
    walls: list[float]
    all_cached: bool


def summarise(runs: list[dict[str, Any]], label: str, kind: str) -> Summary:
    """Reduces the successful runs of one side and kind to medians.

    Args:
        runs: ``RunResult.to_dict()`` entries.
        label: The side (``ours``, :data:`REFERENCE` ...).
        kind: ``first`` or ``cached``.

    Returns:
        The summary (``n == 0`` and Nones when there was no such run).
    """
    chosen = [r for r in runs if r["label"] == label and r["kind"] == kind and r["returncode"] == 0]
    nodes: dict[str, list[float]] = {}
    for run in chosen:
        for node in run["nodes"]:
            nodes.setdefault(node["node_id"], []).append(node["seconds"])
    return Summary(
        n=len(chosen),
        wall=median([r["wall_seconds"] for r in chosen]),
        startup=median([r["startup_seconds"] for r in chosen]),
        rss=max((r["peak_rss_mib"] for r in chosen), default=None),
        nodes={node: median(values) for node, values in nodes.items()},
        walls=[r["wall_seconds"] for r in chosen],
        all_cached=all(
            n["state"] == "cached"
            or n["node_id"] in RESOLVERS
            or n["node_id"].endswith(REFERENCE_RESOLVER_SUFFIX)
            for r in chosen
            for n in r["nodes"]
        ),
    )


@dataclasses.dataclass(frozen=True)
class Table:
    """A markdown table: a header, column alignments and rows of formatted cells."""

    head: list[str]
    align: list[str]
    rows: list[list[str]]


@dataclasses.dataclass(frozen=True)
class Target:
    """One target of the issue, measured.

    Attributes:
        key: A short name the template's explanations refer to.
        name: What is measured.
        wanted: The target, as text.
        measured: The measurement, as text.
        met: Whether the target is met.
    """

    key: str
    name: str
    wanted: str
    measured: str
    met: bool


@dataclasses.dataclass(frozen=True)
class Penguin:
    """The penguin comparison: both sides' summaries and the table."""

    references: list[str]
    ours: Summary
    ours_cached: Summary
    refs: dict[str, Summary]
    floor: float | None
    table: Table


def penguin_section(results: dict[str, Any]) -> Penguin | None:
    """Ours against the reference(s) on the penguin data, first runs and reruns.

    Args:
        results: What the suite measured.

    Returns:
        The section, or None when the penguin part was not measured.
    """
    penguin = results.get("penguin") or []
    if not penguin:
        return None
    with_in_process = any(r["label"] == REFERENCE_IN_PROCESS for r in penguin)
    references = [REFERENCE, *([REFERENCE_IN_PROCESS] if with_in_process else [])]
    ours_label = next(r["label"] for r in penguin if r["label"] not in references)
    ours = summarise(penguin, ours_label, "first")
    ours_cached = summarise(penguin, ours_label, "cached")
    refs = {side: summarise(penguin, side, "first") for side in references}
    refs_cached = [summarise(penguin, side, "cached") for side in references]
    floor = median(results.get("import_floor") or [])

    def row(name: str, mine: str, theirs: list[str]) -> list[str]:
        return [name, mine, *theirs]

    nodes = list(dict.fromkeys([*refs[REFERENCE].nodes, *ours.nodes]))
    rows = [
        row(node, fmt(ours.nodes.get(node)), [fmt(r.nodes.get(node)) for r in refs.values()])
        for node in nodes
    ]
    rows += [
        row(
            "start-up (interpreter, imports, compile)",
            fmt(ours.startup),
            [fmt(r.startup) for r in refs.values()],
        ),
        row(
            "**whole process**",
            f"**{fmt(ours.wall)}**",
            [f"**{fmt(r.wall)}**" for r in refs.values()],
        ),
        row(
            "peak RSS of the process tree, MiB",
            fmt(ours.rss, 0),
            [fmt(r.rss, 0) for r in refs.values()],
        ),
        row(
            "cached rerun, whole process", fmt(ours_cached.wall), [fmt(r.wall) for r in refs_cached]
        ),
    ]
    if floor is not None:
        name = "importing TFX's LocalDagRunner alone (fresh process, after each cached rerun)"
        rows.append(row(name, fmt(floor), ["-" for _ in references]))
    table = Table(
        ["seconds", "ours", *references], ["---", *["---:"] * (1 + len(references))], rows
    )
    return Penguin(references, ours, ours_cached, refs, floor, table)


def penguin_targets(section: Penguin, results: dict[str, Any]) -> list[Target]:
    """The penguin targets: ours against each reference, and the cached rerun.

    Records the ratios in ``results`` (``penguin_ratio``,
    ``penguin_ratio_in_process``, ``cached_ratio``) for callers that want numbers.

    Args:
        section: The penguin section.
        results: What the suite measured (updated).

    Returns:
        The targets that could be measured.
    """
    targets = []
    ours = section.ours
    for side, ref in section.refs.items():
        if ours.wall and ref.wall:
            ratio = ours.wall / ref.wall
            in_process = side == REFERENCE_IN_PROCESS
            results["penguin_ratio_in_process" if in_process else "penguin_ratio"] = ratio
            name = "penguin: ours / reference" + (
                " with in-process Beam (whole process)" if in_process else " (whole process)"
            )
            key = "penguin_in_process" if in_process else "penguin"
            targets.append(
                Target(key, name, f"<= {TARGET_RATIO}", f"{ratio:.2f}", ratio <= TARGET_RATIO)
            )
    cached = section.ours_cached
    if cached.wall and ours.wall:
        ratio = cached.wall / ours.wall
        results["cached_ratio"] = ratio
        measured = f"{ratio:.2f}" + ("" if cached.all_cached else " (not all cached)")
        met = ratio <= TARGET_CACHED and cached.all_cached
        name = "cached rerun / first run (ours, penguin)"
        targets.append(Target("cached", name, f"<= {TARGET_CACHED}", measured, met))
    return targets


def levers_table(results: dict[str, Any]) -> Table | None:
    """Each lever undone alone, against none undone (the first variant).

    Args:
        results: What the suite measured.

    Returns:
        The table, or None when the levers were not measured.
    """
    levers = results.get("levers") or []
    if not levers:
        return None
    names = list(dict.fromkeys(r["label"] for r in levers))
    base = summarise(levers, names[0], "first")
    rows = []
    for name in names:
        row = summarise(levers, name, "first")
        measured = name != names[0] and row.wall and base.wall
        change = f"{row.wall - base.wall:+.1f}" if measured and row.wall and base.wall else ""
        rows.append(
            [name, fmt(row.wall), change, fmt(row.startup)]
            + [fmt(row.nodes.get(node)) for node in MAIN_NODES]
            + [fmt(row.rss, 0)]
        )
    head = ["variant", "whole process, s", "change", "start-up", *MAIN_NODES, "peak RSS, MiB"]
    return Table(head, ["---", *["---:"] * (len(head) - 1)], rows)


@dataclasses.dataclass(frozen=True)
class Scale:
    """The steady-state days: a new generated day into a window holding two.

    Attributes:
        table: One row per size: the first run's seconds and the steady day's.
        levers: The steady day with each lever undone alone, and the options tried,
            at the size the levers ran at (None if not run).
        levers_rows: That size (None if the levers were not run).
        steady: Per size (rows), the steady day's run with nothing undone.
        big_nodes: Seconds per node of the 1M-row steady day (empty if none).
    """

    table: Table
    levers: Table | None
    levers_rows: int | None
    steady: dict[int, dict[str, Any]]
    big_nodes: dict[str, float]


def _scale_cells(entry: dict[str, Any]) -> list[str]:
    by_node = {n["node_id"]: n["seconds"] for n in entry["nodes"]}
    failed = "" if entry["returncode"] == 0 else f" (exit {entry['returncode']})"
    return [
        fmt(entry["wall_seconds"]) + failed,
        fmt(entry["startup_seconds"]),
        *[fmt(by_node.get(node)) for node in SCALE_NODES],
        fmt(entry["peak_rss_mib"], 0),
    ]


def scale_section(results: dict[str, Any]) -> Scale | None:
    """The clicks pipeline's steady-state day per size, and its levers.

    Args:
        results: What the suite measured (``scale`` entries with ``day`` first or
            steady and ``lever``; the first lever name is the as-is run).

    Returns:
        The section, or None when the scale part was not measured.
    """
    scale = [entry for entry in results.get("scale") or [] if "day" in entry]
    if not scale:
        return None
    as_is = scale[0]["lever"]
    steady: dict[int, dict[str, Any]] = {}
    first: dict[int, dict[str, Any]] = {}
    for entry in scale:
        if entry["lever"] == as_is:
            (steady if entry["day"] == "steady" else first)[entry["rows"]] = entry
    rows = []
    for count, entry in sorted(first.items()):
        shown = steady.get(count)
        first_wall = fmt(entry["wall_seconds"]) + (
            "" if entry["returncode"] == 0 else f" (exit {entry['returncode']})"
        )
        cells = _scale_cells(shown) if shown else ["not run"] + ["-"] * (len(SCALE_NODES) + 2)
        rows.append([f"{count:,}", entry["beam"], first_wall, *cells])
    head = ["rows a day", "Beam", "first run, s", "steady day, s", "start-up"]
    head += [*SCALE_NODES, "peak RSS, MiB"]
    table = Table(head, ["---:", "---", *["---:"] * (len(head) - 2)], rows)

    # The levers are run at one size (the largest of their run), not always the
    # largest on the page: the 5M-row day can be measured alone, without levers.
    varied = [e["rows"] for e in scale if e["day"] == "steady" and e["lever"] != as_is]
    biggest = max(varied, default=None)
    variants = [
        e for e in scale if e["rows"] == biggest and e["day"] == "steady" and e["lever"] != as_is
    ]
    levers = None
    if variants and biggest is not None:
        base = steady[biggest]
        lever_rows = []
        for entry in [base, *variants]:
            wall, *rest = _scale_cells(entry)
            change = "" if entry is base else f"{entry['wall_seconds'] - base['wall_seconds']:+.1f}"
            lever_rows.append([entry["lever"], wall, change, *rest])
        head = ["lever", "steady day, s", "change", "start-up", *SCALE_NODES, "peak RSS, MiB"]
        levers = Table(head, ["---", *["---:"] * (len(head) - 1)], lever_rows)
    big = steady.get(1_000_000, {"nodes": []})
    big_nodes = {n["node_id"]: n["seconds"] for n in big["nodes"]}
    return Scale(table, levers, biggest if levers else None, steady, big_nodes)


def scale_targets(section: Scale) -> list[Target]:
    """The steady-state targets: 1M rows in time and memory, and growth with size.

    Args:
        section: The scale section.

    Returns:
        The targets whose runs succeeded.
    """
    done = {c: e for c, e in section.steady.items() if e["returncode"] == 0}
    targets = []
    big = done.get(1_000_000)
    if big is not None:
        wall, rss = big["wall_seconds"], big["peak_rss_mib"]
        targets += [
            Target(
                "1m_seconds",
                "steady-state 1M-row day, whole process",
                f"<= {TARGET_1M_SECONDS:.0f} s",
                f"{wall:.0f} s",
                wall <= TARGET_1M_SECONDS,
            ),
            Target(
                "1m_rss",
                "steady-state 1M-row day, peak RSS",
                f"<= {TARGET_1M_RSS_MIB:.0f} MiB",
                f"{rss:.0f} MiB",
                rss <= TARGET_1M_RSS_MIB,
            ),
        ]
        if 100_000 in done:
            growth = wall / done[100_000]["wall_seconds"]
            targets.append(
                Target(
                    "1m_growth",
                    "steady day: 1M / 100k wall time",
                    f"<= {TARGET_1M_OVER_100K:.0f}x",
                    f"{growth:.1f}x",
                    growth <= TARGET_1M_OVER_100K,
                )
            )
    huge = done.get(5_000_000)
    if huge is not None and big is not None:
        growth = huge["wall_seconds"] / big["wall_seconds"]
        targets += [
            Target(
                "5m_growth",
                "steady day: 5M / 1M wall time",
                f"<= {TARGET_5M_OVER_1M:.0f}x",
                f"{growth:.1f}x",
                growth <= TARGET_5M_OVER_1M,
            ),
            Target(
                "5m_rss",
                "steady-state 5M-row day, peak RSS",
                f"<= {TARGET_5M_RSS_MIB:.0f} MiB",
                f"{huge['peak_rss_mib']:.0f} MiB",
                huge["peak_rss_mib"] <= TARGET_5M_RSS_MIB,
            ),
        ]
    return targets


def throughput_section(results: dict[str, Any]) -> tuple[dict[str, Any], Table] | None:
    """The Trainer input against in-memory tensors.

    Args:
        results: What the suite measured.

    Returns:
        The measurement (with ``source`` relative to the bench's work directory: the
        page must not carry a machine's absolute paths) and its table, or None.
    """
    measured = results.get("throughput")
    if not measured:
        return None
    shown = {**measured, "source": measured["source"].split("/bench/work/")[-1]}
    rows = [
        [
            "tf.data input alone (Transform's TFRecords, parsed; no model)",
            f"{measured['input_only']:,.0f}",
            fmt(measured.get("cpu_us_input_only")),
        ],
        [
            "training fed by the Trainer's tf.data input",
            f"{measured['fit_tfrecords']:,.0f}",
            fmt(measured.get("cpu_us_fit_tfrecords")),
        ],
        [
            "training fed from in-memory tensors (the limit)",
            f"{measured['fit_in_memory']:,.0f}",
            fmt(measured.get("cpu_us_fit_in_memory")),
        ],
    ]
    return shown, Table(
        ["input", "examples/s", "CPU µs per example"], ["---", "---:", "---:"], rows
    )


def throughput_target(measured: dict[str, Any]) -> Target:
    """Training from the Trainer's input against training from memory.

    Args:
        measured: The throughput measurement.

    Returns:
        The target.
    """
    ratio = measured["fit_tfrecords"] / measured["fit_in_memory"]
    return Target(
        "throughput",
        "Trainer input / in-memory",
        f">= {TARGET_THROUGHPUT:.0%}",
        f"{ratio:.0%}",
        ratio >= TARGET_THROUGHPUT,
    )


@dataclasses.dataclass(frozen=True)
class Orchestrated:
    """The ``airflow`` part: a day's DAG run against the local run of the same day.

    Attributes:
        runs: Per side, each day's seconds and the steady day's ratio to local.
        tasks: The steady day's seconds per task, per Airflow side, and where the
            preloaded side's task seconds went.
        ratio: The preloaded DAG run over the local run, the steady day (None if
            either failed).
        rows: Rows per day.
    """

    runs: Table
    tasks: Table
    ratio: float | None
    rows: int


def airflow_section(results: dict[str, Any]) -> Orchestrated | None:
    """Tables of the ``airflow`` part.

    Args:
        results: What the suite measured.

    Returns:
        The section, or None when the part was not measured.
    """
    measured = results.get("airflow")
    if not measured:
        return None
    local = measured["local"]
    steady_local = local[-1]["seconds"] if local and local[-1]["returncode"] == 0 else None
    days = [entry["day"] for entry in local]
    rows = [["local runner (`python -m pipeline run`)", *[fmt(e["seconds"]) for e in local], ""]]
    ratios: dict[str, float | None] = {}
    for name, side in measured["airflow"].items():
        runs = side["runs"]
        steady = runs[-1] if runs else {"state": "not run"}
        ratios[name] = (
            steady["seconds"] / steady_local
            if steady["state"] == "success" and steady_local
            else None
        )
        rows.append(
            [
                f"Airflow, {side['executor'].rsplit('.', 1)[-1]}",
                *[
                    fmt(r["seconds"]) + ("" if r["state"] == "success" else f" ({r['state']})")
                    for r in runs
                ],
                f"{ratios[name]:.2f}x" if ratios[name] else "",
            ]
        )
    head = ["side", *[f"day {d}, s" for d in days], "steady day / local"]
    runs_table = Table(head, ["---", *["---:"] * (len(head) - 1)], rows)

    sides = {
        name: (side["runs"][-1]["tasks"] if side["runs"] else {})
        for name, side in measured["airflow"].items()
    }
    preloaded = sides.get("preloaded", {})
    task_rows = []
    for task_id in preloaded:
        breakdown = preloaded[task_id].get("breakdown", {})
        nodes = sum(
            v for k, v in breakdown.items() if k not in ("imports", "compile", "backfill", "total")
        )
        task_rows.append(
            [
                task_id,
                *[fmt(side.get(task_id, {}).get("seconds")) for side in sides.values()],
                fmt(breakdown.get("imports"), 2),
                fmt(breakdown.get("compile"), 2),
                fmt(nodes) if breakdown else "",
            ]
        )
    task_head = [
        "task",
        *[f"{name}, s" for name in sides],
        "preloaded: imports",
        "compile",
        "nodes",
    ]
    tasks_table = Table(task_head, ["---", *["---:"] * (len(task_head) - 1)], task_rows)
    return Orchestrated(runs_table, tasks_table, ratios.get("preloaded"), measured["rows"])


def airflow_target(section: Orchestrated) -> Target:
    """A day's DAG run under the real scheduler against the local run of it.

    Args:
        section: The airflow section.

    Returns:
        The target.
    """
    ratio = section.ratio
    return Target(
        "airflow",
        f"{section.rows:,}-row day: DAG run (real scheduler) / local run",
        f"<= {TARGET_AIRFLOW_RATIO:.1f}x",
        f"{ratio:.2f}x" if ratio is not None else "failed",
        ratio is not None and ratio <= TARGET_AIRFLOW_RATIO,
    )


def dashboard_target(measured: dict[str, Any]) -> Target:
    """The dashboard over a year of days, as a fresh process.

    Args:
        measured: The ``dashboard`` part's results.

    Returns:
        The target.
    """
    wall = measured.get("wall_seconds")
    done = wall if measured.get("returncode") == 0 else None
    return Target(
        "dashboard",
        f"`dashboard --days {measured['days']}`, whole process",
        f"< {TARGET_DASHBOARD_SECONDS:.0f} s",
        f"{done:.1f} s" if done is not None else "failed",
        done is not None and done < TARGET_DASHBOARD_SECONDS,
    )


def _kept(results: dict[str, Any]) -> list[dict[str, Any]]:
    # The parts taken from earlier runs, a record per run (one dict before sizes
    # could be kept).
    kept = results.get("kept") or []
    return [k for k in ([kept] if isinstance(kept, dict) else kept) if k.get("parts")]


def format_results(results: dict[str, Any]) -> str:
    """The results as the markdown page (``results.md``, ``docs/benchmarks.md``).

    Args:
        results: What :class:`pipeline.devtools.bench.suite.Bench` measured. The
            penguin ratios are recorded in it (see :func:`penguin_targets`).

    Returns:
        Markdown text.
    """
    penguin = penguin_section(results)
    scale = scale_section(results)
    throughput = throughput_section(results)
    orchestrated = airflow_section(results)
    targets = [
        *(penguin_targets(penguin, results) if penguin else []),
        *(scale_targets(scale) if scale else []),
        *([throughput_target(throughput[0])] if throughput else []),
        *([airflow_target(orchestrated)] if orchestrated else []),
        *([dashboard_target(results["dashboard"])] if results.get("dashboard") else []),
    ]
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("pipeline.devtools.bench", "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # markdown, not HTML
    )
    environment.filters["fmt"] = fmt
    return environment.get_template(_TEMPLATE).render(
        results=results,
        kept=_kept(results),
        machine=results["machine"],
        targets=targets,
        missed={target.key for target in targets if not target.met},
        penguin=penguin,
        levers=levers_table(results),
        scale=scale,
        throughput=throughput,
        orchestrated=orchestrated,
        dashboard=results.get("dashboard"),
        REFERENCE=REFERENCE,
        REFERENCE_IN_PROCESS=REFERENCE_IN_PROCESS,
    )
