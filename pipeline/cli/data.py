"""Data commands: ``schema`` and ``init`` (onboarding), ``generate`` and ``example-data``."""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

from pipeline.cli.common import add_config_arguments, load, route_logs


def _cmd_schema(args: argparse.Namespace) -> int:
    config = load(args)
    route_logs(None, verbose=False)
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
    route_logs(None, verbose=False)
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


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Adds the data subcommands.

    Args:
        commands: The CLI's subparsers.
    """
    schema = commands.add_parser(
        "schema",
        help="infer or update the schema from the training window's spans, show the diff, write it",
    )
    add_config_arguments(schema)
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
