"""``run`` and ``train-worker``: the local pipeline run and a multi-worker Trainer's worker."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from pipeline.cli.common import EXIT_BUSY, add_config_arguments, load, route_logs
from pipeline.config import ENV_OUTPUT_ROOT
from pipeline.run.guards import output_check

# After a Ctrl-C, how long the main thread may take to unwind before the watchdog
# records the interruption itself and exits (pipeline.run.guards.run_owner.InterruptWatch).
INTERRUPT_GRACE_SECONDS = 5.0


def _cmd_run(args: argparse.Namespace) -> int:
    config = load(args)
    from pipeline import alerts

    # Alerts that could not be sent from here (no Airflow extra, no connection): say so now.
    alerts.check(config)
    # Before the log file goes into the pipeline root; the flag counts as its variable.
    flags = {ENV_OUTPUT_ROOT: args.output_root} if args.output_root else {}
    output_check.check_outputs(config, {**os.environ, **flags})
    log_path = route_logs(config, args.verbose)
    from pipeline.run.local import PipelineRunError, run
    from pipeline.run.outputs import REPORT_FILE, run_dir

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

    echo = _echo_alerts() if log_path and config.alerts.configured else None
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
    finally:
        if echo is not None:
            logging.getLogger(alerts.destinations.__name__).removeHandler(echo)
    from pipeline.mlmd import connection as metadata

    print(format_summary(summary))
    print(
        f"\nPipeline root: {config.outputs.pipeline_root}\n"
        f"ML Metadata:   {metadata.describe(metadata.connection_config(config))}\n"
        f"Serving dir:   {config.push_dir} (TF Serving layout: <model>/<version>/)\n"
        f"Report:        {run_dir(config, summary.run_id) / REPORT_FILE} (and report.html)"
    )
    return 0


def _echo_alerts() -> logging.Handler:
    """Shows on the terminal where each alert went (the rest of the log is in the file)."""
    from pipeline.alerts import destinations

    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("alert: %(message)s"))
    logging.getLogger(destinations.__name__).addHandler(handler)
    return handler


def _cmd_train_worker(args: argparse.Namespace) -> int:
    config = load(args)
    route_logs(None, verbose=False)
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


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Adds the run subcommands.

    Args:
        commands: The CLI's subparsers.
    """
    run = commands.add_parser("run", help="run the whole pipeline with LocalDagRunner")
    add_config_arguments(run)
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
    add_config_arguments(worker)
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
