"""The benchmark suite: what ``make bench`` measures and the table it writes.

1. **Penguin, side by side.** TFX's own penguin example
   (:mod:`pipeline.devtools.bench.reference`) and this project configured for the same data
   (``pipeline/configs/penguin.yaml``), alternating in one session, each a fresh
   process on fresh outputs: per-component time (from ML Metadata), the whole
   process (imports included) and the peak memory of its process tree.
2. **Cached rerun.** Each first run is followed by a rerun with no new data.
3. **Scale.** One generated click day of 10k and 100k rows (and 1M with
   ``--scale-1m``) through the clicks pipeline.
4. **Trainer input throughput** (:mod:`pipeline.devtools.bench.throughput`).

Every run is a subprocess, so imports count; the harness process only launches,
watches memory and reads ML Metadata afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import yaml

from pipeline.devtools.bench.measure import RunResult, machine_info, measure, run_process

REPO = Path(__file__).resolve().parents[3]
PENGUIN_CONFIG = REPO / "pipeline" / "configs" / "penguin.yaml"
CLICKS_CONFIG = REPO / "pipeline" / "configs" / "clicks.yaml"
# The reference data sits in the steering repo's shared/ folder beside the clone.
DEFAULT_ANCHOR = REPO.parent / "shared" / "anchors" / "penguin"
PENGUIN_CSV = "penguins_processed.csv"

# What every run imports before its first node: TFX's runner pulls in TensorFlow
# (tfx.types.artifact -> tfx.utils.doc_controls), Beam (the launcher's Beam executor
# operator) and every component's executor with TFDV, TFT and TFMA (the input
# resolution ops import tfx.components).
FLOOR_MODULE = "tfx.orchestration.local.local_dag_runner"

# Targets from the issue.
TARGET_RATIO = 0.5
TARGET_CACHED = 0.3
TARGET_1M_SECONDS = 300.0
# The generated day whose Transform output the Trainer input throughput is measured on.
THROUGHPUT_ROWS = 100_000
# The two ways the reference runs: with TFX's penguin example's own Beam arguments
# (multi-processing, a worker per core), and with none (Beam's in-process default).
REFERENCE = "reference"
# The results.json keys each part writes (``--keep`` copies them).
PART_KEYS = {
    "penguin": ("penguin", "import_floor"),
    "levers": ("levers",),
    "scale": ("scale",),
    "throughput": ("throughput",),
}
REFERENCE_IN_PROCESS = "reference, in-process Beam"
TARGET_1M_RSS_MIB = 4096.0
TARGET_1M_OVER_100K = 10.0
TARGET_THROUGHPUT = 0.8

# Beam arguments for the scale runs, by name (``--scale-beam``).
SCALE_BEAM = {
    "in_memory": ["--direct_running_mode=in_memory", "--direct_num_workers=1"],
    "multi_processing": ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
}


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


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
        self.results: dict[str, Any] = {"machine": machine_info(), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}

    # -- runs ---------------------------------------------------------------

    def _ours(self, config: Path, data_root: Path, output_root: Path, label: str, kind: str) -> RunResult:
        command = [
            sys.executable, "-m", "pipeline", "run", "--config", str(config),
            "--data-root", str(data_root), "--output-root", str(output_root),
        ]
        name = yaml.safe_load(config.read_text())["pipeline_name"]
        return measure(
            label, kind, command,
            output_root / "metadata" / f"{name}.sqlite",
            self.logs / f"{output_root.name}-{kind}.log",
            cwd=REPO,
        )

    def _reference(self, output_root: Path, kind: str, side: str = REFERENCE) -> RunResult:
        from pipeline.devtools.bench.reference import PIPELINE_NAME

        command = [
            sys.executable, "-m", "pipeline.devtools.bench.reference",
            "--data-root", str(self.anchor / "data"),
            "--schema", str(self.anchor / "schema" / "user_provided" / "schema.pbtxt"),
            "--output-root", str(output_root),
            "--beam", "in_process" if side == REFERENCE_IN_PROCESS else "example",
        ]
        return measure(
            side, kind, command,
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
            order = sides[index % 3:] + sides[:index % 3]
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
        variants: list[tuple[str, list[str], Path]] = [
            ("none undone", ["-m", "pipeline.devtools.bench.variant", "none", "--"], PENGUIN_CONFIG),
            ("tfx.v1 imported", ["-m", "pipeline.devtools.bench.variant", "tfx_v1", "--"], PENGUIN_CONFIG),
            ("AutoGraph converts tf_keras", ["-m", "pipeline.devtools.bench.variant", "autograph", "--"], PENGUIN_CONFIG),
            ("Transform statistics on", ["-m", "pipeline.devtools.bench.variant", "transform_stats", "--"], PENGUIN_CONFIG),
            ("Beam args given (in_memory, 1 worker: TFX builds its sdist)", ["-m", "pipeline.devtools.bench.variant", "none", "--"],
             self._config_with(PENGUIN_CONFIG, SCALE_BEAM["in_memory"], "penguin-in_memory")),
            ("Beam multi_processing, workers = cores (the reference's args)", ["-m", "pipeline.devtools.bench.variant", "none", "--"],
             self._config_with(PENGUIN_CONFIG, ["--direct_running_mode=multi_processing", "--direct_num_workers=0"],
                               "penguin-multi_processing")),
        ]
        for index in range(rounds):
            for number, (name, driver, config) in enumerate(variants):
                root = self.work / f"lever-{number}-{index}"
                shutil.rmtree(root, ignore_errors=True)
                command = [sys.executable, *driver, "--config", str(config),
                           "--data-root", str(data_root), "--output-root", str(root)]
                result = measure(name, "first", command, root / "metadata" / "penguin.sqlite",
                                 self.logs / f"{root.name}.log", cwd=REPO)
                _progress(result)
                self.results.setdefault("levers", []).append(result.to_dict())

    def _config_with(self, base: Path, beam_args: list[str], name: str) -> Path:
        raw = yaml.safe_load(base.read_text())
        raw["schema_file"] = str((base.parent / raw["schema_file"]).resolve())
        raw["beam_args"] = beam_args
        path = self.work / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        return path

    def scale(self, rows: Sequence[int], beam: str) -> None:
        """Runs the clicks pipeline on one generated day of each size.

        Args:
            rows: Rows in the day, one run per size.
            beam: A :data:`SCALE_BEAM` name.
        """
        config = self._clicks_config(beam)
        for count in rows:
            data_root = self.work / f"clicks-{count}-data"
            if not data_root.exists():
                subprocess.run(
                    [sys.executable, "-m", "pipeline", "generate", "--out", str(data_root),
                     "--start", "2026-01-01", "--days", "1", "--rows", str(count), "--seed", "7"],
                    check=True, cwd=REPO, stdout=subprocess.DEVNULL,
                )
            root = self.work / f"clicks-{count}-{beam}"
            shutil.rmtree(root, ignore_errors=True)
            result = self._ours(config, data_root, root, f"clicks {count} rows", "first")
            _progress(result)
            entry = result.to_dict()
            entry.update(rows=count, beam=beam)
            self.results.setdefault("scale", []).append(entry)

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
        candidates = sorted(self.work.glob("clicks-*-*/metadata/clicks.sqlite"), key=_rows_of)
        candidates = [c for c in candidates if _rows_of(c) == THROUGHPUT_ROWS] or candidates
        metadata = candidates[-1] if candidates else next(self.work.glob("penguin-ours-0/metadata/*.sqlite"), None)
        if metadata is None:
            return
        config = self.work / "clicks-in_memory.yaml" if candidates else PENGUIN_CONFIG
        if candidates and not config.exists():
            config = self._clicks_config("in_memory")
        out = self.logs / "throughput.json"
        command = [
            sys.executable, "-m", "pipeline.devtools.bench.throughput", "--config", str(config),
            "--metadata", str(metadata), "--steps", str(steps), "--json", str(out),
        ]
        with open(self.logs / "throughput.log", "wb") as log:
            code = subprocess.run(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT).returncode
        if code == 0:
            self.results["throughput"] = json.loads(out.read_text())
            print(f"throughput: {self.results['throughput']}", flush=True)
        else:
            print(f"throughput failed (exit {code}); see {self.logs / 'throughput.log'}", flush=True)

    # -- report -------------------------------------------------------------

    def write(self, docs: Path | None) -> Path:
        """Writes results.json and results.md (and copies them to ``docs``).

        Args:
            docs: A directory for the committed copy, or None.

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
            shutil.copy(self.out / "results.json", docs / "bench-results.json")
            shutil.copy(md, docs / "bench-results.md")
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


def _summarise(runs: list[dict[str, Any]], label: str, kind: str) -> dict[str, Any]:
    chosen = [r for r in runs if r["label"] == label and r["kind"] == kind and r["returncode"] == 0]
    nodes: dict[str, list[float]] = {}
    for run in chosen:
        for node in run["nodes"]:
            nodes.setdefault(node["node_id"], []).append(node["seconds"])
    return {
        "n": len(chosen),
        "wall": _median([r["wall_seconds"] for r in chosen]),
        "startup": _median([r["startup_seconds"] for r in chosen]),
        "rss": max((r["peak_rss_mib"] for r in chosen), default=None),
        "nodes": {node: _median(values) for node, values in nodes.items()},
        "walls": [r["wall_seconds"] for r in chosen],
        "all_cached": all(
            n["state"] in ("cached",) or n["node_id"].endswith(("resolver", "_model", "_window", "_statistics"))
            for r in chosen for n in r["nodes"]
        ),
    }


def format_results(results: dict[str, Any]) -> str:
    """The results as a markdown page.

    Args:
        results: What :class:`Bench` measured.

    Returns:
        Markdown text.
    """
    machine = results["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Run {results['started']} to {results.get('finished', '?')} by `make bench` "
        "(`python -m pipeline.devtools.bench`). Every run is a fresh process (imports included); "
        "component times are ML Metadata's execution times; memory is the peak RSS of the "
        "run's process tree. Medians over the rounds."
        + (f" Kept from the run {results['kept']['run']}: {', '.join(results['kept']['parts'])}."
           if results.get("kept", {}).get("parts") else ""),
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, "
        f"{machine['os']}, Python {machine['python']}, TFX {machine['tfx']}, "
        f"TensorFlow {machine['tensorflow']}, Beam {machine['apache-beam']}.",
        "",
    ]
    head = len(lines)
    targets: list[tuple[str, str, str, str]] = []
    penguin = results.get("penguin") or []
    if penguin:
        references = [REFERENCE, *([REFERENCE_IN_PROCESS] if any(
            r["label"] == REFERENCE_IN_PROCESS for r in penguin) else [])]
        labels = [label for label in dict.fromkeys(r["label"] for r in penguin) if label not in references]
        ours_label = labels[0]
        ours, ours_c = _summarise(penguin, ours_label, "first"), _summarise(penguin, ours_label, "cached")
        refs = [_summarise(penguin, side, "first") for side in references]
        refs_c = [_summarise(penguin, side, "cached") for side in references]

        def row(name: str, ours_cell: str, cells: list[str]) -> str:
            return f"| {name} | {ours_cell} | " + " | ".join(cells) + " |"

        lines += [
            "## Penguin: this project against TFX's own example",
            "",
            "Same 334 rows, same components (CsvExampleGen, StatisticsGen, ImportSchemaGen, "
            "ExampleValidator, Transform, Trainer with 100 steps, Evaluator, Pusher; ours adds "
            "the DataGate and its resolvers), LocalDagRunner, SQLite ML Metadata, "
            f"runs in rotating order; {ours['n']} first runs each. `reference` is the example "
            "with its own Beam arguments (`--direct_running_mode=multi_processing "
            "--direct_num_workers=0`: a worker process per core for each Beam component)"
            + ("; `reference, in-process Beam` is the same with no Beam arguments (Beam's "
               "default, as this project runs)." if len(references) > 1 else "."),
            "",
            "| seconds | ours | " + " | ".join(references) + " |",
            "| --- | ---: | " + " | ".join("---:" for _ in references) + " |",
        ]
        order = list(dict.fromkeys([*refs[0]["nodes"], *ours["nodes"]]))
        for node in order:
            lines.append(row(node, _fmt(ours["nodes"].get(node)), [_fmt(r["nodes"].get(node)) for r in refs]))
        lines += [
            row("start-up (interpreter, imports, compile)", _fmt(ours["startup"]), [_fmt(r["startup"]) for r in refs]),
            row("**whole process**", f"**{_fmt(ours['wall'])}**", [f"**{_fmt(r['wall'])}**" for r in refs]),
            row("peak RSS of the process tree, MiB", _fmt(ours["rss"], 0), [_fmt(r["rss"], 0) for r in refs]),
            row("cached rerun, whole process", _fmt(ours_c["wall"]), [_fmt(r["wall"]) for r in refs_c]),
            *([row("importing TFX's LocalDagRunner alone (fresh process, after each cached rerun)",
                   _fmt(_median(results["import_floor"])), ["-" for _ in refs])]
              if results.get("import_floor") else []),
            "",
            "Every first run, seconds: ours " + ", ".join(_fmt(w) for w in ours["walls"])
            + "".join(f"; {side} " + ", ".join(_fmt(w) for w in r["walls"]) for side, r in zip(references, refs))
            + ".",
            "",
        ]
        for side, ref in zip(references, refs):
            if ours["wall"] and ref["wall"]:
                ratio = ours["wall"] / ref["wall"]
                results["penguin_ratio" if side == REFERENCE else "penguin_ratio_in_process"] = ratio
                name = ("penguin: ours / reference (whole process)" if side == REFERENCE
                        else "penguin: ours / reference with in-process Beam (whole process)")
                targets.append((name, f"<= {TARGET_RATIO}", f"{ratio:.2f}",
                                "met" if ratio <= TARGET_RATIO else "not met"))
        if ours_c["wall"] and ours["wall"]:
            ratio = ours_c["wall"] / ours["wall"]
            results["cached_ratio"] = ratio
            verdict = "met" if ratio <= TARGET_CACHED and ours_c["all_cached"] else "not met"
            targets.append(("cached rerun / first run (ours, penguin)", f"<= {TARGET_CACHED}",
                            f"{ratio:.2f}" + ("" if ours_c["all_cached"] else " (not all cached)"), verdict))
    levers = results.get("levers") or []
    if levers:
        names = list(dict.fromkeys(r["label"] for r in levers))
        base = _summarise(levers, names[0], "first")
        lines += [
            "## Levers: each change undone alone (ours, penguin, first run)",
            "",
            "| variant | whole process, s | change | start-up | CsvExampleGen | StatisticsGen | Transform | Trainer | Evaluator | peak RSS, MiB |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name in names:
            row = _summarise(levers, name, "first")
            change = "" if name == names[0] or not (row["wall"] and base["wall"]) else f"{row['wall'] - base['wall']:+.1f}"
            n = row["nodes"]
            lines.append(
                f"| {name} | {_fmt(row['wall'])} | {change} | {_fmt(row['startup'])} | "
                f"{_fmt(n.get('CsvExampleGen'))} | {_fmt(n.get('StatisticsGen'))} | {_fmt(n.get('Transform'))} | "
                f"{_fmt(n.get('Trainer'))} | {_fmt(n.get('Evaluator'))} | {_fmt(row['rss'], 0)} |"
            )
        lines.append("")
    scale = results.get("scale") or []
    if scale:
        lines += [
            "## Scale: one generated click day through the clicks pipeline",
            "",
            "`pipeline/configs/clicks.yaml` (300 training steps of 256), one span, fresh outputs.",
            "",
            "| rows | Beam | whole process, s | start-up | CsvExampleGen | StatisticsGen | Transform | Trainer | Evaluator | peak RSS, MiB |",
            "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for entry in scale:
            by = {n["node_id"]: n["seconds"] for n in entry["nodes"]}
            lines.append(
                f"| {entry['rows']:,} | {entry['beam']} | {_fmt(entry['wall_seconds'])} | "
                f"{_fmt(entry['startup_seconds'])} | {_fmt(by.get('CsvExampleGen'))} | "
                f"{_fmt(by.get('StatisticsGen'))} | {_fmt(by.get('Transform'))} | "
                f"{_fmt(by.get('Trainer'))} | {_fmt(by.get('Evaluator'))} | {_fmt(entry['peak_rss_mib'], 0)} |"
                + ("" if entry["returncode"] == 0 else f" (exit {entry['returncode']})")
            )
        lines.append("")
        # Per size, the fastest successful run (of the Beam modes measured).
        ok: dict[int, dict[str, Any]] = {}
        for e in scale:
            if e["returncode"] == 0 and (e["rows"] not in ok or e["wall_seconds"] < ok[e["rows"]]["wall_seconds"]):
                ok[e["rows"]] = e
        if 1_000_000 in ok:
            big = ok[1_000_000]
            targets.append(("1M-row day, whole process", f"<= {TARGET_1M_SECONDS:.0f} s",
                            f"{big['wall_seconds']:.0f} s", "met" if big["wall_seconds"] <= TARGET_1M_SECONDS else "not met"))
            targets.append(("1M-row day, peak RSS", f"<= {TARGET_1M_RSS_MIB:.0f} MiB",
                            f"{big['peak_rss_mib']:.0f} MiB", "met" if big["peak_rss_mib"] <= TARGET_1M_RSS_MIB else "not met"))
            if 100_000 in ok:
                r = big["wall_seconds"] / ok[100_000]["wall_seconds"]
                targets.append(("1M / 100k wall time", f"<= {TARGET_1M_OVER_100K:.0f}x", f"{r:.1f}x",
                                "met" if r <= TARGET_1M_OVER_100K else "not met"))
        elif 100_000 in ok and 10_000 in ok:
            r = ok[100_000]["wall_seconds"] / ok[10_000]["wall_seconds"]
            lines += [f"100k / 10k wall time: {r:.2f}x. The 1M-row day runs with `--scale-1m`.", ""]
    tp = results.get("throughput")
    if tp:
        lines += [
            "## Trainer input throughput",
            "",
            # Relative to the bench's work directory: the table must not carry a
            # machine's absolute paths into the committed docs.
            f"The Trainer's model and input on {tp['source'].split('/bench/work/')[-1]}: "
            f"batches of {tp['batch_size']}, "
            f"{tp['steps']} training steps each (after one warm-up epoch of {tp['warmup_steps']} steps).",
            "",
            "| input | examples/s | CPU µs per example |",
            "| --- | ---: | ---: |",
            f"| tf.data input alone (Transform's TFRecords, parsed; no model) | {tp['input_only']:,.0f} "
            f"| {_fmt(tp.get('cpu_us_input_only'))} |",
            f"| training fed by the Trainer's tf.data input | {tp['fit_tfrecords']:,.0f} "
            f"| {_fmt(tp.get('cpu_us_fit_tfrecords'))} |",
            f"| training fed from in-memory tensors (the limit) | {tp['fit_in_memory']:,.0f} "
            f"| {_fmt(tp.get('cpu_us_fit_in_memory'))} |",
            "",
            "CPU µs per example: the process's CPU time (all threads) over the timed steps, "
            "per example; less disturbed by other processes than examples/s. Input and "
            "model share the cores, so training from the Trainer's input costs about the "
            "sum of the two.",
            "",
        ]
        ratio = tp["fit_tfrecords"] / tp["fit_in_memory"]
        targets.append(("Trainer input / in-memory", f">= {TARGET_THROUGHPUT:.0%}", f"{ratio:.0%}",
                        "met" if ratio >= TARGET_THROUGHPUT else "not met"))
    if targets:
        lines[head:head] = [
            "## Targets",
            "",
            "| target | wanted | measured | |",
            "| --- | --- | --- | --- |",
            *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in targets],
            "",
        ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the benchmark suite and writes the results table.

    Args:
        argv: Command-line arguments (default ``sys.argv[1:]``).

    Returns:
        0 when every measured run finished, 1 otherwise.
    """
    parser = argparse.ArgumentParser(prog="python -m pipeline.devtools.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(REPO / "outputs" / "bench"))
    parser.add_argument("--docs", action="store_true",
                        help="also copy the results to docs/bench-results.{md,json} (the README quotes them)")
    parser.add_argument("--rounds", type=int, default=3, help="first runs of each side on the penguin data")
    parser.add_argument("--anchor", default=os.environ.get("BENCH_PENGUIN_DIR", str(DEFAULT_ANCHOR)),
                        help="the penguin reference folder (data/, schema/)")
    parser.add_argument("--skip", action="append", default=[], choices=["penguin", "levers", "scale", "throughput"])
    parser.add_argument("--lever-rounds", type=int, default=1, help="runs of each lever variant")
    parser.add_argument("--scale-rows", default="10000,100000", help="comma-separated rows per generated day")
    parser.add_argument("--scale-1m", action="store_true", help="add the 1M-row day (minutes)")
    parser.add_argument("--scale-beam", default="in_memory", choices=sorted(SCALE_BEAM))
    parser.add_argument("--throughput-steps", type=int, default=200)
    parser.add_argument("--keep", metavar="RESULTS_JSON",
                        help="take the skipped parts' results from an earlier results.json "
                             "(e.g. docs/bench-results.json), so one part can be re-measured alone")
    args = parser.parse_args(argv)

    anchor = Path(args.anchor)
    bench = Bench(Path(args.out).resolve(), anchor)
    if args.keep:
        earlier = json.loads(Path(args.keep).read_text())
        kept = [part for part in args.skip if any(key in earlier for key in PART_KEYS[part])]
        for part in kept:
            bench.results.update({key: earlier[key] for key in PART_KEYS[part] if key in earlier})
        bench.results["kept"] = {
            "parts": kept,
            "run": f"{earlier.get('started', '?')} to {earlier.get('finished', '?')}",
        }
    if "penguin" not in args.skip or "levers" not in args.skip:
        if not (anchor / "data" / "labelled" / PENGUIN_CSV).is_file():
            parser.error(f"no penguin reference data under {anchor} (set --anchor or BENCH_PENGUIN_DIR)")
    if "penguin" not in args.skip:
        bench.penguin(args.rounds)
    if "levers" not in args.skip:
        bench.levers(args.lever_rounds)
    if "scale" not in args.skip:
        rows = [int(r) for r in args.scale_rows.split(",") if r]
        if args.scale_1m:
            rows.append(1_000_000)
        bench.scale(rows, args.scale_beam)
    if "throughput" not in args.skip:
        bench.throughput(args.throughput_steps)
    md = bench.write(REPO / "docs" if args.docs else None)
    print(md.read_text())
    failed = [r for key in ("penguin", "levers", "scale") for r in bench.results.get(key, []) if r["returncode"] != 0]
    return 1 if failed else 0
