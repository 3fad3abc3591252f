"""The operations subcommands: history, lineage, labels, reports, the dashboard, metrics."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.cli.common import EXIT_BUSY, add_config_arguments, load, open_store, route_logs


def _cmd_runs(args: argparse.Namespace) -> int:
    config, store = open_store(args)
    from components.serving_config import ServingConfigError
    from pipeline.ops import history, lineage
    from pipeline.views.lineage import to_json
    from pipeline.views.runs import format_runs

    try:
        labels = lineage.current_labels(store, config)
    except ServingConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    records = history.list_runs(store, config.pipeline_name, labels)[: args.limit]
    print(to_json(records) if args.json else format_runs(records))
    return 0


def _cmd_diff(args: argparse.Namespace) -> int:
    config, store = open_store(args)
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
    config, store = open_store(args)
    from pipeline.ops import history
    from pipeline.run.outputs import HTML_REPORT_FILE, run_dir
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


def _cmd_dashboard(args: argparse.Namespace) -> int:
    config, store = open_store(args)
    from components.serving_config import ServingConfigError
    from pipeline.views import dashboard

    if args.days < 1:
        print(f"error: --days must be at least 1, not {args.days}", file=sys.stderr)
        return 2
    try:
        path = dashboard.write_dashboard(store, config, args.days, args.out)
    except ServingConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(path)
    return 0


def _cmd_metrics(args: argparse.Namespace) -> int:
    config = load(args)
    route_logs(None, verbose=False)
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
    config, store = open_store(args)
    from pipeline.ops import lineage
    from pipeline.views.lineage import format_lineage, to_json

    try:
        item = lineage.lineage(store, config, args.version)
    except (LookupError, ValueError) as err:  # ValueError: models.config unreadable
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(to_json(item) if args.json else format_lineage(item))
    return 0


def _move_stable(args: argparse.Namespace, action: str, version: str | None) -> int:
    config, store = open_store(args)
    from pipeline.mlmd import connection as metadata
    from pipeline.ops import labels
    from pipeline.run.guards import run_lock
    from pipeline.views.labels import format_label_change
    from pipeline.views.lineage import to_json

    # A label change writes ML Metadata and models.config: it takes its turn like a run.
    timeout = 0.0 if args.no_wait else config.outputs.lock_timeout_seconds
    try:
        with run_lock.hold(
            metadata.connection_config(config), timeout_seconds=timeout, purpose=action
        ):
            if action == labels.PROMOTE:
                assert version is not None  # argparse requires it
                result = labels.promote(store, config, version)
            else:
                result = labels.rollback(store, config, version)
    except run_lock.RunLockTimeout as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BUSY
    except (LookupError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(to_json(result) if args.json else format_label_change(result))
    return 0


def _cmd_promote(args: argparse.Namespace) -> int:
    return _move_stable(args, "promote", args.version)


def _cmd_rollback(args: argparse.Namespace) -> int:
    return _move_stable(args, "rollback", args.to)


def _label_change_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="if a run holds the SQLite metadata, refuse at once (exit 3)",
    )


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Adds the operations subcommands.

    Args:
        commands: The CLI's subparsers.
    """
    runs = commands.add_parser("runs", help="run history from ML Metadata, newest first")
    add_config_arguments(runs)
    runs.add_argument("--limit", type=int, default=50, help="at most this many runs (default 50)")
    runs.add_argument("--json", action="store_true", help="print JSON for scripts")
    runs.set_defaults(func=_cmd_runs)

    diff = commands.add_parser("diff", help="what differs between two runs")
    add_config_arguments(diff)
    diff.add_argument("run_a", help="a run id (see `runs`)")
    diff.add_argument("run_b", help="another run id")
    diff.add_argument("--json", action="store_true", help="print JSON for scripts")
    diff.set_defaults(func=_cmd_diff)

    lineage = commands.add_parser(
        "lineage", help="what produced a served model version (default: the one served now)"
    )
    add_config_arguments(lineage)
    lineage.add_argument("version", nargs="?", help="a pushed version (default: the served one)")
    lineage.add_argument("--json", action="store_true", help="print JSON for scripts")
    lineage.set_defaults(func=_cmd_lineage)

    promote = commands.add_parser(
        "promote", help="label a pushed, blessed version stable in TF Serving's models.config"
    )
    add_config_arguments(promote)
    promote.add_argument("version", help="the version to make stable (e.g. the canary)")
    _label_change_options(promote)
    promote.set_defaults(func=_cmd_promote)

    rollback = commands.add_parser(
        "rollback", help="move the stable label back to the version that held it before"
    )
    add_config_arguments(rollback)
    rollback.add_argument(
        "--to", help="the version to make stable (default: the previous stable version)"
    )
    _label_change_options(rollback)
    rollback.set_defaults(func=_cmd_rollback)

    report = commands.add_parser(
        "report", help="write a run's HTML report (default: the newest run; Airflow runs too)"
    )
    add_config_arguments(report)
    report.add_argument("run_id", nargs="?", help="a run id (see `runs`)")
    report.add_argument("--out", help="file to write (default: the run's output directory)")
    report.set_defaults(func=_cmd_report)

    dashboard = commands.add_parser(
        "dashboard",
        help="write the last days' data, gates, models and runs as one HTML page",
    )
    add_config_arguments(dashboard)
    dashboard.add_argument(
        "--days", type=int, default=30, help="how many days to show (default %(default)s)"
    )
    dashboard.add_argument(
        "--out", help="file to write (default: dashboard.html in the pipeline root)"
    )
    dashboard.set_defaults(func=_cmd_dashboard)

    metrics = commands.add_parser(
        "metrics",
        help="the pipeline's health as Prometheus metrics (stdout, --serve or --textfile)",
    )
    add_config_arguments(metrics)
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
