"""The benchmark suite: what ``make bench`` measures (:mod:`.page` writes the page).

1. **Penguin, side by side.** TFX's own penguin example
   (:mod:`pipeline.devtools.bench.reference`) and this project configured for the same data
   (``pipeline/configs/penguin.yaml``), alternating in one session, each a fresh
   process on fresh outputs: per-component time (from ML Metadata), the whole
   process (imports included) and the peak memory of its process tree.
2. **Cached rerun.** Each first run is followed by a rerun with no new data.
3. **Levers.** Our penguin run with each speed change undone on its own
   (:mod:`pipeline.devtools.bench.variant`).
4. **Scale.** The clicks pipeline's steady-state day at 10k and 100k rows a day
   (1M with ``--scale-1m``, 5M with ``--scale-5m``): three days, then the fourth,
   measured; ``--scale-levers`` adds, for the largest size, the steady day again with
   each lever undone alone (or each option tried), every one from the same state:
   the as-is first run's output root, snapshotted and restored in place.
5. **Trainer input throughput** (:mod:`pipeline.devtools.bench.throughput`).
6. **Airflow.** A 5,000-row day's DAG run under a real ``airflow scheduler``
   against the local run of the same day (:mod:`pipeline.devtools.bench.orchestrated`).
7. **Dashboard.** ``python -m pipeline dashboard --days 365`` over a year of days:
   the scale part's four real 5,000-row days, then the steady day replayed as each
   later day (:mod:`pipeline.devtools.replay`), against a process that only imports
   the dashboard.

Every run is a subprocess, so imports count; the harness process only launches,
watches memory and reads ML Metadata afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from pipeline.devtools.bench.measure import (
    RunResult,
    generate_clicks,
    machine_info,
    measure,
    run_process,
)
from pipeline.devtools.bench.page import REFERENCE, REFERENCE_IN_PROCESS, format_results

REPO = Path(__file__).resolve().parents[3]
PENGUIN_CONFIG = REPO / "pipeline" / "configs" / "penguin.yaml"
CLICKS_CONFIG = REPO / "pipeline" / "configs" / "clicks.yaml"
# TFX's penguin example data (data/, schema/); by default a folder beside the clone,
# else --anchor or BENCH_PENGUIN_DIR (docs/benchmarks.md says where to get it).
DEFAULT_ANCHOR = REPO.parent / "shared" / "anchors" / "penguin"
PENGUIN_CSV = "penguins_processed.csv"
# The committed copy under docs/ (``--docs``): the page is exactly results.md.
DOCS_PAGE = "benchmarks.md"
DOCS_JSON = "benchmarks.json"

# What every run imports before its first node: TFX's runner pulls in TensorFlow
# (tfx.types.artifact -> tfx.utils.doc_controls), Beam (the launcher's Beam executor
# operator) and every component's executor with TFDV, TFT and TFMA (the input
# resolution ops import tfx.components).
FLOOR_MODULE = "tfx.orchestration.local.local_dag_runner"

# The scale part's days: the clicks window (3 spans) plus the day that arrives.
SCALE_DAYS = 4
SCALE_START = "2026-01-01"
# The scale levers table: (row name, lever the variant driver undoes or option it
# tries, SCALE_BEAM key or None for the run's own), "none" first. Each row is the
# largest size's steady day from the same state (the as-is first run's).
SCALE_LEVERS: tuple[tuple[str, str, str | None], ...] = (
    ("none undone", "none", None),
    ("CsvExampleGen row by row (TFX's Python path)", "row_examples", None),
    ("CsvExampleGen splits and writes record by record (TFX's Beam path)", "beam_write", None),
    ("Transform analyses every span (no analyzer cache)", "analyzer_cache", None),
    ("Transform materialises the window", "materialize", None),
    ("Evaluator on every eval row (no evaluation.max_examples sample)", "eval_sample", None),
    ("StatisticsGen top values and distinct counts exact (no sketch)", "stats_exact", None),
    ("Beam multi_threading, 2 workers (both cores)", "none", "multi_threading"),
    (
        "StatisticsGen in batches of 8,192 rows (StatsOptions.desired_batch_size)",
        "stats_batch",
        None,
    ),
)

# The generated day whose Transform output the Trainer input throughput is measured on.
THROUGHPUT_ROWS = 100_000
# The results.json keys each part writes (``--keep`` copies them).
PART_KEYS = {
    "penguin": ("penguin", "import_floor"),
    "levers": ("levers",),
    "scale": ("scale",),
    "throughput": ("throughput",),
    "airflow": ("airflow",),
    "dashboard": ("dashboard",),
}
# Rows per day of the airflow part (the 5,000-row day).
AIRFLOW_ROWS = 5_000
# The dashboard part: a year of days, the real ones of this size.
DASHBOARD_DAYS = 365
DASHBOARD_ROWS = 5_000

# Beam arguments for the scale runs, by name (``--scale-beam``).
SCALE_BEAM = {
    "in_memory": ["--direct_running_mode=in_memory", "--direct_num_workers=1"],
    "multi_processing": ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
    # Both cores in one process: threads, for the C++ work that drops the GIL (TF
    # inference in TFMA, Arrow in TFDV).
    "multi_threading": ["--direct_running_mode=multi_threading", "--direct_num_workers=2"],
}
# Beam arguments of the Beam levers: Beam's defaults spelt out (so TFX builds its
# sdist), and the reference's own (a worker per core).
LEVER_BEAM = {
    "in_memory": SCALE_BEAM["in_memory"],
    "multi_processing": ["--direct_running_mode=multi_processing", "--direct_num_workers=0"],
}
# The levers table: (row name, lever the variant driver undoes, LEVER_BEAM key or None).
LEVER_VARIANTS: tuple[tuple[str, str, str | None], ...] = (
    ("none undone", "none", None),
    ("tfx.v1 imported", "tfx_v1", None),
    ("AutoGraph converts tf_keras", "autograph", None),
    ("Transform statistics on", "transform_stats", None),
    ("Beam args given (in_memory, 1 worker: TFX builds its sdist)", "none", "in_memory"),
    ("Beam multi_processing, workers = cores (the reference's args)", "none", "multi_processing"),
)


class Bench:
    """Runs the measurements and keeps their results.

    Attributes:
        out: Where results and working directories go.
        results: Everything measured, JSON-able.
    """

    def __init__(self, out: Path, anchor: Path) -> None:
        """Prepares the output directory.

        Args:
            out: Results directory (``results.md``, ``results.json``, ``work/``).
            anchor: The penguin reference folder (``data/``, ``schema/``).
        """
        self.out = out
        self.anchor = anchor
        self.work = out / "work"
        self.logs = out / "logs"
        self.results: dict[str, Any] = {
            "machine": machine_info(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        }

    # -- runs ---------------------------------------------------------------

    def _ours(
        self, config: Path, data_root: Path, output_root: Path, label: str, kind: str
    ) -> RunResult:
        command = [
            sys.executable,
            "-m",
            "pipeline",
            "run",
            "--config",
            str(config),
            "--data-root",
            str(data_root),
            "--output-root",
            str(output_root),
        ]
        name = yaml.safe_load(config.read_text())["pipeline_name"]
        return measure(
            label,
            kind,
            command,
            output_root / "metadata" / f"{name}.sqlite",
            self.logs / f"{output_root.name}-{kind}.log",
            cwd=REPO,
        )

    def _reference(self, output_root: Path, kind: str, side: str = REFERENCE) -> RunResult:
        from pipeline.devtools.bench.reference import PIPELINE_NAME

        command = [
            sys.executable,
            "-m",
            "pipeline.devtools.bench.reference",
            "--data-root",
            str(self.anchor / "data"),
            "--schema",
            str(self.anchor / "schema" / "user_provided" / "schema.pbtxt"),
            "--output-root",
            str(output_root),
            "--beam",
            "in_process" if side == REFERENCE_IN_PROCESS else "example",
        ]
        return measure(
            side,
            kind,
            command,
            output_root / "metadata" / f"{PIPELINE_NAME}.sqlite",
            self.logs / f"{output_root.name}-{kind}.log",
            cwd=REPO,
        )

    def penguin_data(self) -> Path:
        """Lays the anchor's labelled CSV out as one span (``span-1/``).

        Returns:
            The data root for our config.
        """
        data_root = self.work / "penguin-data"
        span = data_root / "span-1"
        span.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.anchor / "data" / "labelled" / PENGUIN_CSV, span / PENGUIN_CSV)
        return data_root

    def penguin(self, rounds: int, config: Path = PENGUIN_CONFIG, label: str = "ours") -> None:
        """Runs ours and the reference alternately, each followed by a cached rerun.

        Args:
            rounds: How many first runs of each.
            config: Our config for the penguin data.
            label: Name of our side in the results.
        """
        data_root = self.penguin_data()
        runs: list[RunResult] = []
        sides = [label, REFERENCE, REFERENCE_IN_PROCESS]
        for index in range(rounds):
            # Rotate who goes first, so drift in the machine's load hits every side.
            order = sides[index % 3 :] + sides[: index % 3]
            for side in order:
                root = self.work / f"penguin-{side.replace(' ', '-')}-{index}"
                shutil.rmtree(root, ignore_errors=True)
                for kind in ("first", "cached"):
                    if side in (REFERENCE, REFERENCE_IN_PROCESS):
                        result = self._reference(root, kind, side)
                    else:
                        result = self._ours(config, data_root, root, side, kind)
                    runs.append(result)
                    _progress(result)
                if side == label:
                    self.import_floor(f"{side}-{index}")
        self.results.setdefault("penguin", []).extend(r.to_dict() for r in runs)

    def import_floor(self, name: str) -> float:
        """Times a fresh process that only imports TFX's ``LocalDagRunner``.

        Right after our cached rerun, so both see the same load. Importing TFX's
        runner (or its launcher) imports TensorFlow, Beam, TFDV, TFT and TFMA: no run,
        cached or not, can start faster than this.

        Args:
            name: Suffix of the log file.

        Returns:
            Wall seconds (also appended to ``results["import_floor"]``).
        """
        command = [sys.executable, "-c", f"import {FLOOR_MODULE}"]
        _, wall, code, _ = run_process(command, self.logs / f"import-floor-{name}.log", cwd=REPO)
        if code == 0:
            self.results.setdefault("import_floor", []).append(wall)
            print(f"{'import floor':>18} {'':<6} wall {wall:6.1f} s", flush=True)
        return wall

    def levers(self, rounds: int) -> None:
        """Penguin first runs with each speed lever undone alone, against none undone.

        Args:
            rounds: Runs of each variant (alternating variants within a round).
        """
        data_root = self.penguin_data()
        variants = [
            (name, lever, self._penguin_config(beam)) for name, lever, beam in LEVER_VARIANTS
        ]
        for index in range(rounds):
            for number, (name, lever, config) in enumerate(variants):
                root = self.work / f"lever-{number}-{index}"
                shutil.rmtree(root, ignore_errors=True)
                result = self._variant(lever, config, data_root, root, name, "first")
                _progress(result)
                self.results.setdefault("levers", []).append(result.to_dict())

    def _penguin_config(self, beam: str | None) -> Path:
        # The bundled penguin config as is, or with the named Beam arguments.
        if beam is None:
            return PENGUIN_CONFIG
        return self._config_with(PENGUIN_CONFIG, LEVER_BEAM[beam], f"penguin-{beam}")

    def _config_with(self, base: Path, beam_args: list[str], name: str) -> Path:
        raw = yaml.safe_load(base.read_text())
        # A bundled config's schema path names the working directory: the repository.
        raw["schema_file"] = str(REPO / raw["schema_file"])
        raw["beam_args"] = beam_args
        path = self.work / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        return path

    def scale(self, rows: Sequence[int], beam: str, levers: bool = False) -> None:
        """Runs the clicks pipeline's steady-state day at each size.

        The daily case: the window (``window_spans: 3`` in ``clicks.yaml``) already
        holds two days when a new one arrives. So three generated days are run first
        (that run also validates the two older spans), then a fourth day is added and
        run: the steady state, what Airflow runs every night. Both runs are recorded
        (``day``: ``first`` or ``steady``).

        With ``levers``, the largest size's first run is shared: its output root
        (pipeline root, ML Metadata, serving directory) is copied aside before the
        as-is steady day, and each :data:`SCALE_LEVERS` variant is only a steady day,
        run after restoring that copy to the same path (ML Metadata holds absolute
        artifact URIs). Every lever row is thus the steady day from the same state as
        the as-is one; the variants get no ``first`` entry. The as-is root is put
        back at the end.

        Args:
            rows: Rows per day, one pair of runs per size.
            beam: A :data:`SCALE_BEAM` name.
            levers: Also run the largest size's steady day with each
                :data:`SCALE_LEVERS` lever undone alone (or option tried).
        """
        config = self._clicks_config(beam)
        for count in rows:
            root = self.work / f"clicks-{count}-{beam}"
            with_levers = levers and count == max(rows)
            for entry in self._steady_state(config, count, root, with_levers):
                entry.update(rows=count, beam=beam)
                self.results.setdefault("scale", []).append(entry)

    def _steady_state(
        self, config: Path, count: int, root: Path, levers: bool = False
    ) -> list[dict[str, Any]]:
        # Days 1-3 in the data root and day 4 held back until the first run is done.
        # The files are moved, never copied, so ExampleGen's input fingerprints
        # (name, size, mtime) stay the same from run to run.
        data_root = self.work / f"clicks-{count}-data"
        held = self.work / f"clicks-{count}-held"
        if not data_root.exists():
            staging = self.work / f"clicks-{count}-staging"
            shutil.rmtree(staging, ignore_errors=True)
            generate_clicks(staging, SCALE_START, days=SCALE_DAYS, rows=count)
            staging.rename(data_root)
        held.mkdir(parents=True, exist_ok=True)
        days = sorted(data_root.iterdir())
        if len(days) == SCALE_DAYS:
            days[-1].rename(held / days[-1].name)
        shutil.rmtree(root, ignore_errors=True)
        label = f"clicks {count:,} rows"
        as_is_name, as_is_lever, _ = SCALE_LEVERS[0]
        entries = []
        first = self._variant(as_is_lever, config, data_root, root, label, "first")
        _progress(first)
        entries.append({**first.to_dict(), "day": "first", "lever": as_is_name})
        if first.returncode != 0:
            return entries
        snapshot = root.with_name(f"{root.name}-snapshot-first")
        if levers:
            shutil.rmtree(snapshot, ignore_errors=True)
            shutil.copytree(root, snapshot, symlinks=True)
        for newest in held.iterdir():
            newest.rename(data_root / newest.name)
        steady = self._variant(as_is_lever, config, data_root, root, label, "steady")
        _progress(steady)
        entries.append({**steady.to_dict(), "day": "steady", "lever": as_is_name})
        if not levers:
            return entries
        # The as-is root is kept aside (renamed: its URIs point at root, so it is only
        # usable back there) and put back after the levers. Both side folders have a
        # third dash, so throughput() never takes them for an as-is run.
        kept = root.with_name(f"{root.name}-kept-as-is")
        shutil.rmtree(kept, ignore_errors=True)
        root.rename(kept)
        try:
            for name, lever, beam in SCALE_LEVERS[1:]:
                shutil.rmtree(root, ignore_errors=True)
                shutil.copytree(snapshot, root, symlinks=True)
                variant_config = config if beam is None else self._clicks_config(beam)
                log = f"{root.name}-steady-{lever if beam is None else beam}"
                result = self._variant(
                    lever, variant_config, data_root, root, label, "steady", log=log
                )
                _progress(result)
                entries.append({**result.to_dict(), "day": "steady", "lever": name})
        finally:
            shutil.rmtree(root, ignore_errors=True)
            kept.rename(root)
            shutil.rmtree(snapshot, ignore_errors=True)
        return entries

    def _variant(
        self,
        lever: str,
        config: Path,
        data_root: Path,
        root: Path,
        label: str,
        kind: str,
        log: str | None = None,
    ) -> RunResult:
        # `python -m pipeline run` through the variant driver (lever "none": as is);
        # the log is logs/<log>.log (default <root's name>-<kind>).
        name = yaml.safe_load(config.read_text())["pipeline_name"]
        command = [
            sys.executable,
            "-m",
            "pipeline.devtools.bench.variant",
            lever,
            "--",
            "--config",
            str(config),
            "--data-root",
            str(data_root),
            "--output-root",
            str(root),
        ]
        return measure(
            label,
            kind,
            command,
            root / "metadata" / f"{name}.sqlite",
            self.logs / f"{log or f'{root.name}-{kind}'}.log",
            cwd=REPO,
        )

    def _clicks_config(self, beam: str) -> Path:
        # in_memory is Beam's default: no arguments, so TFX builds no sdist of itself.
        args = [] if beam == "in_memory" else SCALE_BEAM[beam]
        return self._config_with(CLICKS_CONFIG, args, f"clicks-{beam}")

    def throughput(self, steps: int) -> None:
        """Measures the Trainer's input against in-memory tensors, in a fresh process.

        Uses the 100k-row day's Transform output (else the largest scale run's, else
        the first penguin run's). One fixed day keeps runs comparable: the 1M-row
        day's files measured differently (input alone 27 µs of CPU per example
        against 5.8 on the 100k day, in one run).

        Args:
            steps: Training steps per measurement.
        """
        # The as-is runs (a lever variant's folder has a third dash).
        candidates = sorted(
            (
                path
                for path in self.work.glob("clicks-*-*/metadata/clicks.sqlite")
                if path.parts[-3].count("-") == 2
            ),
            key=_rows_of,
        )
        candidates = [c for c in candidates if _rows_of(c) == THROUGHPUT_ROWS] or candidates
        metadata = (
            candidates[-1]
            if candidates
            else next(self.work.glob("penguin-ours-0/metadata/*.sqlite"), None)
        )
        if metadata is None:
            return
        config = self.work / "clicks-in_memory.yaml" if candidates else PENGUIN_CONFIG
        if candidates and not config.exists():
            config = self._clicks_config("in_memory")
        out = self.logs / "throughput.json"
        command = [
            sys.executable,
            "-m",
            "pipeline.devtools.bench.throughput",
            "--config",
            str(config),
            "--metadata",
            str(metadata),
            "--steps",
            str(steps),
            "--json",
            str(out),
        ]
        with open(self.logs / "throughput.log", "wb") as log:
            code = subprocess.run(
                command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT
            ).returncode
        if code == 0:
            self.results["throughput"] = json.loads(out.read_text())
            print(f"throughput: {self.results['throughput']}", flush=True)
        else:
            print(
                f"throughput failed (exit {code}); see {self.logs / 'throughput.log'}", flush=True
            )

    # -- report -------------------------------------------------------------

    def airflow(self, rows: int) -> None:
        """A day's DAG run under a real scheduler against the local run of the same day.

        Args:
            rows: Rows per generated day.
        """
        from pipeline.devtools.bench.orchestrated import measure_airflow

        self.results["airflow"] = measure_airflow(self.work / "airflow", self.logs, rows)

    def dashboard(self, days: int = DASHBOARD_DAYS, rows: int = DASHBOARD_ROWS) -> None:
        """Times the dashboard over ``days`` days, as a fresh process.

        Four real days (the scale part's first and steady runs at ``rows`` rows),
        then the steady run replayed as each later day, in a copy of the store. The
        page's reading time is the dashboard process's wall time less that of a
        process that only imports the dashboard module (the same imports).

        Args:
            days: Days on the page (and in the store).
            rows: Rows per real day.
        """
        from pipeline.config import load_config, with_env_overrides
        from pipeline.devtools.replay import replay
        from pipeline.mlmd import connection as metadata
        from pipeline.mlmd import queries

        config_path = self._clicks_config("in_memory")
        root = self.work / f"dashboard-{rows}"
        entries = self._steady_state(config_path, rows, root)
        if any(e["returncode"] != 0 for e in entries):
            self.results["dashboard"] = {"days": days, "error": "the real days failed"}
            return
        year = self.work / f"dashboard-{rows}-year"
        shutil.rmtree(year, ignore_errors=True)
        shutil.copytree(root / "metadata", year / "metadata")
        shutil.copytree(root / "serving", year / "serving", symlinks=True)
        config = with_env_overrides(
            load_config(config_path),
            {
                "PIPELINE_DATA_ROOT": str(self.work / f"clicks-{rows}-data"),
                "PIPELINE_OUTPUT_ROOT": str(year),
            },
        )
        store = metadata.open_store(config, {})
        steady = next(
            r for r in queries.runs(store, config.pipeline_name) if "-validate-" not in r.run_id
        )
        real = len(list((self.work / f"clicks-{rows}-data").iterdir()))
        started = time.perf_counter()
        replay(store, config.pipeline_name, [(steady.run_id, k) for k in range(1, days - real + 1)])
        replayed = time.perf_counter() - started
        arguments = ["--config", str(config_path), "--output-root", str(year)]
        page = year / "dashboard.html"
        _, wall, code, rss = run_process(
            [
                sys.executable,
                "-m",
                "pipeline",
                "dashboard",
                *arguments,
                "--days",
                str(days),
                "--out",
                str(page),
            ],
            self.logs / "dashboard.log",
            cwd=REPO,
        )
        _, floor, floor_code, _ = run_process(
            [sys.executable, "-c", "import pipeline.views.dashboard, pipeline.cli"],
            self.logs / "dashboard-import.log",
            cwd=REPO,
        )
        self.results["dashboard"] = {
            "days": days,
            "real_days": real,
            "rows": rows,
            "replay_seconds": round(replayed, 1),
            "wall_seconds": round(wall, 2),
            "import_seconds": round(floor, 2) if floor_code == 0 else None,
            "peak_rss_mib": round(rss),
            "returncode": code,
            "page_bytes": page.stat().st_size if page.exists() else 0,
        }
        print(f"dashboard: {self.results['dashboard']}", flush=True)

    def keep(
        self, earlier_json: Path, skipped: Sequence[str], scale_rows: Sequence[int] = ()
    ) -> None:
        """Takes the skipped parts' results from an earlier run's ``results.json``.

        Args:
            earlier_json: The earlier results (e.g. ``docs/benchmarks.json``).
            skipped: The parts not measured now (:data:`PART_KEYS` names).
            scale_rows: The day sizes the scale part measures now (when not
                skipped): the earlier scale runs of the other sizes are kept, so
                one size (the 5M-row day, an hour) can be measured alone.
        """
        earlier = json.loads(earlier_json.read_text())
        run = f"{earlier.get('started', '?')} to {earlier.get('finished', '?')}"
        # A part the earlier run had itself kept was measured in that earlier run.
        earlier_kept = earlier.get("kept") or []
        if isinstance(earlier_kept, dict):
            earlier_kept = [earlier_kept]
        by_run: dict[str, list[str]] = {}
        for part in skipped:
            if part == "scale" or not any(key in earlier for key in PART_KEYS[part]):
                continue
            self.results.update({key: earlier[key] for key in PART_KEYS[part] if key in earlier})
            source = next((k["run"] for k in earlier_kept if part in k["parts"]), run)
            by_run.setdefault(source, []).append(part)
        # Scale runs are kept per size (every size when the part is skipped), each
        # carrying the run that measured it.
        measured_now = () if "scale" in skipped else tuple(scale_rows)
        others = [
            {**entry, "run": entry.get("run", run)}
            for entry in earlier.get("scale", [])
            if entry.get("rows") not in measured_now
        ]
        if others:
            self.results["scale"] = others
        sizes_by_run: dict[str, set[int]] = {}
        for entry in others:
            sizes_by_run.setdefault(entry["run"], set()).add(entry["rows"])
        for source, sizes in sizes_by_run.items():
            names = ", ".join(f"{rows:,}" for rows in sorted(sizes))
            by_run.setdefault(source, []).append(f"scale ({names} rows a day)")
        self.results["kept"] = [{"parts": parts, "run": src} for src, parts in by_run.items()]

    def write(self, docs: Path | None) -> Path:
        """Writes results.json and results.md (and copies them to ``docs``).

        Args:
            docs: A directory for the committed copy (``benchmarks.md`` and
                ``benchmarks.json``), or None.

        Returns:
            The markdown file.
        """
        self.results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "results.json").write_text(json.dumps(self.results, indent=2) + "\n")
        md = self.out / "results.md"
        md.write_text(format_results(self.results))
        if docs is not None:
            docs.mkdir(parents=True, exist_ok=True)
            shutil.copy(self.out / "results.json", docs / DOCS_JSON)
            shutil.copy(md, docs / DOCS_PAGE)
        return md


def _rows_of(path: Path) -> int:
    try:
        return int(path.parts[-3].split("-")[1])
    except (IndexError, ValueError):
        return 0


def _progress(result: RunResult) -> None:
    print(
        f"{result.label:>18} {result.kind:<6} wall {result.wall_seconds:6.1f} s  "
        f"peak {result.peak_rss_mib:7.0f} MiB  exit {result.returncode}",
        flush=True,
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m pipeline.devtools.bench``.

    Returns:
        The parser.
    """
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.devtools.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", default=str(REPO / "outputs" / "bench"))
    parser.add_argument(
        "--docs",
        action="store_true",
        help=f"also copy the results to docs/{DOCS_PAGE} and docs/{DOCS_JSON}",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="first runs of each side on the penguin data"
    )
    parser.add_argument(
        "--anchor",
        default=os.environ.get("BENCH_PENGUIN_DIR", str(DEFAULT_ANCHOR)),
        help="the penguin reference folder (data/, schema/)",
    )
    parser.add_argument("--skip", action="append", default=[], choices=sorted(PART_KEYS))
    parser.add_argument("--lever-rounds", type=int, default=1, help="runs of each lever variant")
    parser.add_argument(
        "--scale-rows", default="10000,100000", help="comma-separated rows per generated day"
    )
    parser.add_argument("--scale-1m", action="store_true", help="add 1M-row days (minutes)")
    parser.add_argument("--scale-5m", action="store_true", help="add 5M-row days (an hour)")
    parser.add_argument(
        "--scale-levers",
        action="store_true",
        help="also run the largest size's steady day with each scale lever undone alone"
        " (or option tried), each from the same first run",
    )
    parser.add_argument("--scale-beam", default="in_memory", choices=sorted(SCALE_BEAM))
    parser.add_argument("--throughput-steps", type=int, default=200)
    parser.add_argument(
        "--keep",
        metavar="RESULTS_JSON",
        help="take the skipped parts' results from an earlier results.json "
        "(e.g. docs/benchmarks.json), so one part can be re-measured alone",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the benchmark suite and writes the results table.

    Args:
        argv: Command-line arguments (default ``sys.argv[1:]``).

    Returns:
        0 when every measured run finished, 1 otherwise.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    anchor = Path(args.anchor)
    bench = Bench(Path(args.out).resolve(), anchor)
    rows = [int(r) for r in args.scale_rows.split(",") if r]
    rows += [1_000_000] * args.scale_1m + [5_000_000] * args.scale_5m
    if args.keep:
        bench.keep(Path(args.keep), args.skip, rows)
    if "penguin" not in args.skip or "levers" not in args.skip:
        if not (anchor / "data" / "labelled" / PENGUIN_CSV).is_file():
            parser.error(
                f"no penguin reference data under {anchor} (set --anchor or BENCH_PENGUIN_DIR)"
            )
    if "penguin" not in args.skip:
        bench.penguin(args.rounds)
    if "levers" not in args.skip:
        bench.levers(args.lever_rounds)
    if "scale" not in args.skip:
        bench.scale(rows, args.scale_beam, levers=args.scale_levers)
    if "throughput" not in args.skip:
        bench.throughput(args.throughput_steps)
    if "airflow" not in args.skip:
        bench.airflow(AIRFLOW_ROWS)
    if "dashboard" not in args.skip:
        bench.dashboard()
    md = bench.write(REPO / "docs" if args.docs else None)
    print(md.read_text())
    # Only runs measured now: a kept run (a kept part, or a kept scale size, which
    # names its run) failed in its own measurement, which the page shows.
    failed = [
        r
        for key in ("penguin", "levers", "scale")
        if key not in args.skip
        for r in bench.results.get(key, [])
        if r["returncode"] != 0 and "run" not in r
    ]
    return 1 if failed else 0
