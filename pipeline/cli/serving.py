"""What asks the served model: ``predict``."""

from __future__ import annotations

import argparse
import sys

from pipeline.cli.common import add_config_arguments, load, route_logs

SIGNATURE_CHOICES = ("serving_default", "serving_raw")


def _cmd_predict(args: argparse.Namespace) -> int:
    config = load(args)
    route_logs(None, verbose=False)
    from components.model import serving_requests
    from pipeline.serving import client

    predictor: client.Predictor
    if args.rows is not None and args.rows < 1:
        print(f"error: --rows {args.rows}: send at least one row", file=sys.stderr)
        return 2
    try:
        rows = client.read_csv_rows(args.csv, config.data.delimiter, args.rows)
        if args.host or args.grpc:
            remote = client.Remote(
                host=args.host or args.grpc,
                model_name=config.model_name,
                version=args.version,
                label=args.label or None,
                inputs=serving_requests.schema_inputs(config.schema_file, config.features),
                timeout=args.timeout,
            )
            predictor = client.RestPredictor(remote) if args.host else client.GrpcPredictor(remote)
        else:
            version_dir = client.local_version_dir(config, args.version, args.label or None)
            predictor = client.LocalPredictor(version_dir)
        predictions = predictor.predict(rows, args.signature)
    except (client.PredictError, serving_requests.RequestError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(predictions.to_json())
    else:
        print(f"# {len(predictions.values)} rows, {args.signature}, {predictions.target}")
        print("\n".join(predictions.lines()))
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Adds the serving subcommands.

    Args:
        commands: The CLI's subparsers.
    """
    predict = commands.add_parser(
        "predict",
        help="predict CSV rows with TF Serving (REST --host, gRPC --grpc) or the local model",
        description=(
            "Reads rows of a CSV file (the pipeline's columns and data.delimiter) and prints "
            "one prediction per row. With --host or --grpc it asks TF Serving for the "
            "config's model_name; without, it loads the version from the serving directory "
            "(the --label version in models.config, else the newest)."
        ),
    )
    add_config_arguments(predict)
    predict.add_argument("csv", help="CSV file with a header row (.csv or .csv.gz)")
    predict.add_argument("--rows", type=int, help="send only the first N rows")
    where = predict.add_mutually_exclusive_group()
    where.add_argument("--host", help="TF Serving REST host:port (e.g. localhost:8501)")
    where.add_argument("--grpc", help="TF Serving gRPC host:port (e.g. localhost:8500)")
    predict.add_argument(
        "--signature",
        choices=SIGNATURE_CHOICES,
        default="serving_default",
        help="serving_default (rows as tf.Examples) or serving_raw (one tensor per feature)",
    )
    version = predict.add_mutually_exclusive_group()
    version.add_argument("--version", type=int, help="ask this model version")
    version.add_argument(
        "--label",
        default="stable",
        help="ask the version with this label (default: stable; '' for the newest version)",
    )
    predict.add_argument(
        "--timeout", type=float, default=30.0, help="seconds per request (default 30)"
    )
    predict.add_argument("--json", action="store_true", help="print JSON for scripts")
    predict.set_defaults(func=_cmd_predict)
