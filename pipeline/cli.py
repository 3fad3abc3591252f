"""Command line: ``tfxp`` (or ``python -m pipeline``) and its subcommands.

Subcommands: run, train-worker, runs, diff, lineage, rollback, report, metrics, schema, init,
generate, example-data.

Heavy imports (TensorFlow, TFX) happen inside the commands so ``--help`` and config
errors answer at once.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.config import (
    DEFAULT_CONFIG,
    ENV_DATA_ROOT,
    ENV_OUTPUT_ROOT,
    ConfigError,
    PipelineConfig,
    load_config,
    with_env_overrides,
)
from pipeline.run.guards import output_check

if TYPE_CHECKING:
    import ml_metadata as mlmd

# Exit code when another run held the SQLite metadata's run lock: nothing ran, and a
# scheduler may simply try again later.
EXIT_BUSY = 3


def _load(args: argparse.Namespace) -> PipelineConfig:
    # Flags are runner-level overrides, applied through the same path as env vars.
    overrides = dict(os.environ)
    if getattr(args, "data_root", None):
        overrides[ENV_DATA_ROOT] = args.data_root
    if getattr(args, "output_root", None):
        overrides[ENV_OUTPUT_ROOT] = args.output_root
    return with_env_overrides(load_config(args.config), overrides)


def _route_logs(config: PipelineConfig | None, verbose: bool) -> Path | None:
    """Sends TFX/Beam/TensorFlow logs to a per-run file unless ``verbose``.

    The terminal then shows only the summary or a one-paragraph error; the file keeps
    everything, tracebacks included. Must run before TensorFlow is imported, because
    its C++ log level is read from the environment at import.

    Returns:
        The log file, or None when logging to the terminal.
    """
    root = logging.getLogger()
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.INFO)
    if verbose or config is None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1" if verbose else "3")
        root.setLevel(logging.INFO if verbose else logging.WARNING)
        if not verbose:
            absl_logging.set_verbosity(absl_logging.WARNING)
        return None
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    log_dir = Path(config.outputs.pipeline_root) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    path = log_dir / f"run-{stamp}.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    return path


# After a Ctrl-C, how long the main thread may take to unwind before the watchdog
# records the interruption itself and exits (pipeline.run.guards.run_owner.InterruptWatch).
INTERRUPT_GRACE_SECONDS = 5.0


def _cmd_run(args: argparse.Namespace) -> int:
    config = _load(args)
    # Before the log file goes into the pipeline root; the flag counts as its variable.
    flags = {ENV_OUTPUT_ROOT: args.output_root} if args.output_root else {}
    output_check.check_outputs(config, {**os.environ, **flags})
    log_path = _route_logs(config, args.verbose)
    from pipeline.run.local import REPORT_FILE, PipelineRunError, run, run_dir

    print(f"Running pipeline {config.pipeline_name!r} from {config.source}", flush=True)
    print(f"  data: {config.data.input_base}/{config.data.span_pattern}", flush=True)
    if log_path:
        print(f"  logs: {log_path}", flush=True)
    from pipeline.run.guards import run_owner
    from pipeline.run.guards.run_lock import RunLockTimeout
    from pipeline.run.local import RunInterrupted, record_interruption
    from pipeline.views.summary import format_summary

    def on_timeout() -> None:
        # The main thread is stuck in C++ (Beam, TensorFlow): record it from here.
        record_interruption(config)
        print(
            f"\ninterrupted: pipeline {config.pipeline_name!r} stopped by Ctrl-C; its "
            "unfinished steps are recorded as canceled and nothing was pushed by this run",
            file=sys.stderr,
            flush=True,
        )

    try:
        with run_owner.InterruptWatch(on_timeout, grace=INTERRUPT_GRACE_SECONDS):
            summary = run(config, wait=not args.no_wait)
    except RunInterrupted as err:
        print(f"\ninterrupted: {err}", file=sys.stderr, flush=True)
        return run_owner.EXIT_INTERRUPTED
    except RunLockTimeout as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BUSY
    except PipelineRunError as err:
        if err.summary is not None:
            print(format_summary(err.summary), file=sys.stderr)
        print(f"\nerror: {err}", file=sys.stderr)
        return 1
    from pipeline.mlmd import connection as metadata

    print(format_summary(summary))
    print(
        f"\nPipeline root: {config.outputs.pipeline_root}\n"
        f"ML Metadata:   {metadata.describe(metadata.connection_config(config))}\n"
        f"Serving dir:   {config.push_dir} (TF Serving layout: <model>/<version>/)\n"
        f"Report:        {run_dir(config, summary.run_id) / REPORT_FILE} (and report.html)"
    )
    return 0


def _cmd_train_worker(args: argparse.Namespace) -> int:
    config = _load(args)
    _route_logs(None, verbose=False)
    # Only the job plumbing here: TensorFlow is imported by the training process.
    from components.distributed import cluster

    workers = config.training.workers
    if config.training.distribution_strategy != "multi_worker_mirrored" or not workers:
        print(
            f"error: {config.source} does not configure multi-worker training: set "
            "training.distribution_strategy: multi_worker_mirrored and training.workers "
            "(host:port of every worker, the pipeline's Trainer first)",
            file=sys.stderr,
        )
        return 2
    if not 1 <= args.index < len(workers):
        print(
            f"error: --index {args.index} is not a non-chief worker of training.workers in "
            f"{config.source}: use 1..{len(workers) - 1} (index 0 is the pipeline's own Trainer)",
            file=sys.stderr,
        )
        return 2
    directory = cluster.jobs_dir(config.outputs.pipeline_root)
    waiting = f"up to {args.timeout:.0f} s" if args.timeout is not None else "until one appears"
    print(
        f"Worker {args.index} of {len(workers)} ({workers[args.index]}): waiting {waiting} "
        f"for a training job in {directory}",
        flush=True,
    )
    job = cluster.wait_for_job(directory, args.index, args.timeout)
    if job is None:
        print(
            f"error: no open training job appeared in {directory} within {args.timeout:.0f} s; "
            "the pipeline's Trainer writes one when it starts multi-worker training (is the "
            "pipeline running, with this pipeline root?)",
            file=sys.stderr,
        )
        return 1
    if job.workers != workers:
        print(
            f"error: job {job.path} is for workers {list(job.workers)}, but {config.source} "
            f"lists {list(workers)}: run every worker with the pipeline's config",
            file=sys.stderr,
        )
        return 2
    print(
        f"Worker {args.index}: took job {job.path} (output also in {job.log_path(args.index)})",
        flush=True,
    )
    # The chief waits for workers until the job's deadline; so does this worker, for
    # the chief and the others (a little longer, in case the clocks differ).
    join_timeout = max(job.deadline - time.time(), 0.0) + 60.0
    try:
        cluster.run_task_process(
            job, args.index, join_timeout, echo=lambda line: print(line, flush=True)
        )
    except (cluster.WorkerJoinError, cluster.TrainingProcessError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"Worker {args.index}: done; the chief (worker 0) wrote the model.", flush=True)
    return 0


def _open(args: argparse.Namespace) -> tuple[PipelineConfig, mlmd.MetadataStore]:
    """The config and its ML Metadata store (SQLite, or MySQL from MLMD_MYSQL_*)."""
    config = _load(args)
    _route_logs(None, verbose=False)
    from pipeline.mlmd import connection as metadata

    return config, metadata.open_store(config)


def _cmd_runs(args: argparse.Namespace) -> int:
    config, store = _open(args)
    from pipeline.ops import history
    from pipeline.views.lineage import to_json
    from pipeline.views.runs import format_runs

    records = history.list_runs(store, config.pipeline_name)[: args.limit]
    print(to_json(records) if args.json else format_runs(records))
    return 0


def _cmd_diff(args: argparse.Namespace) -> int:
    config, store = _open(args)
    from pipeline.ops import history
    from pipeline.views.lineage import to_json
    from pipeline.views.runs import format_diff

    try:
        diff = history.diff_runs(store, config.pipeline_name, args.run_a, args.run_b)
    except LookupError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(to_json(diff) if args.json else format_diff(diff))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    config, store = _open(args)
    from pipeline.ops import history
    from pipeline.run.local import HTML_REPORT_FILE, run_dir
    from pipeline.views import report

    run_id = args.run_id
    if run_id is None:
        runs = [r for r in history.list_runs(store, config.pipeline_name) if r.kind == "run"]
        if not runs:
            print(
                f"error: pipeline {config.pipeline_name!r} has no runs in ML Metadata",
                file=sys.stderr,
            )
            return 2
        run_id = runs[0].run_id
    path = Path(args.out) if args.out else run_dir(config, run_id) / HTML_REPORT_FILE
    try:
        report.write_run_report(store, config, run_id, path)
    except LookupError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(path)
    return 0


def _cmd_metrics(args: argparse.Namespace) -> int:
    config = _load(args)
    _route_logs(None, verbose=False)
    from prometheus_client import generate_latest, start_http_server

    from pipeline.mlmd import connection as metadata
    from pipeline.views import monitoring

    registry = monitoring.registry(config, lambda: metadata.open_store(config))
    if args.textfile:
        monitoring.write_textfile(args.textfile, config, lambda: metadata.open_store(config))
        print(f"Wrote {args.textfile}")
    elif args.serve:
        server, thread = start_http_server(args.port, addr=args.addr, registry=registry)
        print(
            f"Serving Prometheus metrics on http://{args.addr}:{server.server_port}/metrics",
            flush=True,
        )
        thread.join()
    else:
        print(generate_latest(registry).decode(), end="")
    return 0


def _cmd_lineage(args: argparse.Namespace) -> int:
    config, store = _open(args)
    from pipeline.ops import lineage
    from pipeline.views.lineage import format_lineage, to_json

    try:
        item = lineage.lineage(store, config, args.version)
    except LookupError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(to_json(item) if args.json else format_lineage(item))
    return 0


def _cmd_rollback(args: argparse.Namespace) -> int:
    config, store = _open(args)
    from pipeline.mlmd import connection as metadata
    from pipeline.ops import rollback
    from pipeline.run.guards import run_lock
    from pipeline.views.lineage import to_json
    from pipeline.views.rollback import format_rollback

    # A rollback writes ML Metadata and the serving dir: it takes its turn like a run.
    timeout = 0.0 if args.no_wait else config.outputs.lock_timeout_seconds
    try:
        with run_lock.hold(
            metadata.connection_config(config), timeout_seconds=timeout, purpose="rollback"
        ):
            result = rollback.rollback(store, config, args.to)
    except run_lock.RunLockTimeout as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BUSY
    except (LookupError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(to_json(result) if args.json else format_rollback(result))
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    config = _load(args)
    _route_logs(None, verbose=False)
    from pipeline.onboarding import diff, schema, statistics

    print(
        f"Reading the training window (data.window_spans {config.data.window_spans}) "
        f"through the pipeline's ExampleGen: {config.data.input_base}"
    )
    try:
        result = schema.schema_for(config, fresh=args.fresh)
    except statistics.SpanReadError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    how = "Inferred from scratch" if result.fresh else "Updated the curated schema"
    print(f"{how} with spans {', '.join(map(str, result.spans))}.")
    for column in result.opened:
        print(f"  open domain {column.name}: {column.reason}")
    changes = diff.diff_schemas(result.current, result.schema)
    if not changes:
        print(f"No change against {config.schema_file}")
        return 0
    print(f"Changes against {config.schema_file}:")
    print("\n".join(f"  {line}" for line in changes))
    if args.dry_run:
        print("Dry run: nothing written.")
    else:
        schema.write_schema(result.schema, config.schema_file)
        print(f"Wrote {config.schema_file}; review the diff (git diff) before committing.")
    return 0


def _cmd_init(args: argparse.Namespace) -> int:
    _route_logs(None, verbose=False)
    from pipeline.onboarding import decisions, init, layout, statistics

    try:
        result = init.init(
            Path(args.data),
            args.label,
            task=args.task,
            out=Path(args.out) if args.out else None,
            schema_file=Path(args.schema) if args.schema else None,
        )
    except (
        FileExistsError,
        layout.LayoutError,
        decisions.DecisionError,
        statistics.SpanReadError,
    ) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"Spans {', '.join(map(str, result.spans))} under {args.data}: "
        f"span_pattern {result.span_pattern!r}, delimiter {result.delimiter!r}"
    )
    for column in result.decisions.columns:
        print(f"  {column.name}: {column.role} ({column.reason})")
    print(f"Wrote {result.config_file} and {result.schema_file}.")
    print(
        f"Review both, then: python -m pipeline schema --config {result.config_file} "
        f"(no change expected) and python -m pipeline run --config {result.config_file}"
    )
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from pipeline.devtools import clickgen

    paths = [
        clickgen.write_day(
            Path(args.out),
            args.start + datetime.timedelta(days=offset),
            rows=args.rows,
            seed=args.seed,
            drift=args.drift,
            inject=tuple(args.inject),
        )
        for offset in range(args.days)
    ]
    for path in paths:
        print(path)
    return 0


def _cmd_example_data(args: argparse.Namespace) -> int:
    from pipeline.devtools import example_data

    for path in example_data.write_wine(Path(args.out), spans=args.spans):
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Builds the argument parser.

    Returns:
        The parser for ``python -m pipeline``.
    """
    # Named as invoked: the console script, or ``python -m pipeline`` (whose argv[0] is
    # __main__.py on Python 3.10).
    invoked = os.path.basename(sys.argv[0]) if sys.argv else ""
    prog = invoked if invoked == "tfxp" else "python -m pipeline"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def with_config(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--config",
            default=str(DEFAULT_CONFIG),
            help="pipeline config YAML (default: %(default)s)",
        )
        sub.add_argument("--data-root", help=f"override data.input_base (env {ENV_DATA_ROOT})")
        sub.add_argument(
            "--output-root",
            help=f"put pipeline root, metadata and serving dir here (env {ENV_OUTPUT_ROOT})",
        )

    run = commands.add_parser("run", help="run the whole pipeline with LocalDagRunner")
    with_config(run)
    run.add_argument(
        "-v", "--verbose", action="store_true", help="log TFX/Beam INFO to the terminal, not a file"
    )
    run.add_argument(
        "--no-wait",
        action="store_true",
        help="if another run holds the SQLite metadata, refuse at once (exit 3) instead of "
        "waiting up to outputs.lock_timeout_seconds",
    )
    run.set_defaults(func=_cmd_run)

    worker = commands.add_parser(
        "train-worker",
        help="be worker --index of the multi-worker Trainer (training.workers) for one job",
    )
    with_config(worker)
    worker.add_argument(
        "--index",
        type=int,
        required=True,
        help="this worker's position in training.workers (1..N-1)",
    )
    worker.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds to wait for the pipeline's Trainer to start a job (default: until it does)",
    )
    worker.set_defaults(func=_cmd_train_worker)

    schema = commands.add_parser(
        "schema",
        help="infer or update the schema from the training window's spans, show the diff, write it",
    )
    with_config(schema)
    schema.add_argument("--dry-run", action="store_true", help="show the diff, write nothing")
    schema.add_argument(
        "--fresh",
        action="store_true",
        help="re-infer from scratch instead of updating the curated schema (drops domains, "
        "min_domain_mass, comparators set by hand)",
    )
    schema.set_defaults(func=_cmd_schema)

    init_cmd = commands.add_parser(
        "init", help="write a starter config and schema from a folder of CSV spans"
    )
    init_cmd.add_argument("--data", required=True, help="the folder of spans (data.input_base)")
    init_cmd.add_argument("--label", required=True, help="the column to predict")
    init_cmd.add_argument(
        "--task",
        choices=["binary", "multiclass", "regression"],
        help="override the detected task (float label: regression; 0/1: binary; "
        "class ids 0..n-1: multiclass)",
    )
    init_cmd.add_argument("--out", help="config file to write (default: ./<data folder name>.yaml)")
    init_cmd.add_argument(
        "--schema", help="schema to write (default: schemas/<name>/schema.pbtxt next to --out)"
    )
    init_cmd.set_defaults(func=_cmd_init)

    runs = commands.add_parser("runs", help="run history from ML Metadata, newest first")
    with_config(runs)
    runs.add_argument("--limit", type=int, default=50, help="at most this many runs (default 50)")
    runs.add_argument("--json", action="store_true", help="print JSON for scripts")
    runs.set_defaults(func=_cmd_runs)

    diff = commands.add_parser("diff", help="what differs between two runs")
    with_config(diff)
    diff.add_argument("run_a", help="a run id (see `runs`)")
    diff.add_argument("run_b", help="another run id")
    diff.add_argument("--json", action="store_true", help="print JSON for scripts")
    diff.set_defaults(func=_cmd_diff)

    lineage = commands.add_parser(
        "lineage", help="what produced a served model version (default: the one served now)"
    )
    with_config(lineage)
    lineage.add_argument("version", nargs="?", help="a pushed version (default: the served one)")
    lineage.add_argument("--json", action="store_true", help="print JSON for scripts")
    lineage.set_defaults(func=_cmd_lineage)

    rollback = commands.add_parser(
        "rollback", help="republish an earlier blessed version as the newest serving version"
    )
    with_config(rollback)
    rollback.add_argument(
        "--to", help="the version to republish (default: the previous blessed model)"
    )
    rollback.add_argument("--json", action="store_true", help="print JSON for scripts")
    rollback.add_argument(
        "--no-wait",
        action="store_true",
        help="if a run holds the SQLite metadata, refuse at once (exit 3)",
    )
    rollback.set_defaults(func=_cmd_rollback)

    report = commands.add_parser(
        "report", help="write a run's HTML report (default: the newest run; Airflow runs too)"
    )
    with_config(report)
    report.add_argument("run_id", nargs="?", help="a run id (see `runs`)")
    report.add_argument("--out", help="file to write (default: the run's output directory)")
    report.set_defaults(func=_cmd_report)

    metrics = commands.add_parser(
        "metrics",
        help="the pipeline's health as Prometheus metrics (stdout, --serve or --textfile)",
    )
    with_config(metrics)
    target = metrics.add_mutually_exclusive_group()
    target.add_argument(
        "--serve", action="store_true", help="serve /metrics over HTTP until stopped"
    )
    target.add_argument(
        "--textfile", help="write a .prom file for node_exporter's textfile collector"
    )
    metrics.add_argument(
        "--port", type=int, default=9108, help="with --serve (default %(default)s)"
    )
    metrics.add_argument("--addr", default="0.0.0.0", help="with --serve (default %(default)s)")
    metrics.set_defaults(func=_cmd_metrics)

    generate = commands.add_parser("generate", help="write synthetic click-log spans")
    generate.add_argument("--out", required=True, help="directory of <YYYY-MM-DD>/clicks.csv spans")
    generate.add_argument(
        "--start", type=datetime.date.fromisoformat, required=True, help="first day, YYYY-MM-DD"
    )
    generate.add_argument("--days", type=int, default=1)
    generate.add_argument("--rows", type=int, default=5000, help="rows per day")
    generate.add_argument("--seed", type=int, default=7)
    generate.add_argument("--drift", type=float, default=0.0, help="0 (none) .. 1 (strong)")
    generate.add_argument(
        "--inject", action="append", default=[], help="a bad-data injection by name (repeatable)"
    )
    generate.set_defaults(func=_cmd_generate)

    example = commands.add_parser(
        "example-data", help="write a public example dataset as CSV spans (wine)"
    )
    example.add_argument("dataset", choices=["wine"])
    example.add_argument("--out", required=True, help="the dataset's data.input_base")
    example.add_argument("--spans", type=int, default=1)
    example.set_defaults(func=_cmd_example_data)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the CLI.

    Args:
        argv: Arguments (default ``sys.argv[1:]``).

    Returns:
        The process exit code: 0 success, 1 pipeline failure, 2 bad config or input,
        3 another run held the SQLite metadata's run lock (nothing ran), 130
        interrupted (Ctrl-C).
    """
    args = build_parser().parse_args(argv)
    # google-cloud client libraries warn about Python 3.10 support on import; the
    # warning is about GCP SDK updates and says nothing about this run.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\..*")
    try:
        return args.func(args)
    except (ConfigError, FileNotFoundError, output_check.OutputCheckError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before or after a run: nothing to record
        print("\ninterrupted (Ctrl-C)", file=sys.stderr)
        return 130
