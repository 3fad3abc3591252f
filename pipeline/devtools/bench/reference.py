"""Runs TFX's own penguin example (the reference) once, in this process.

``python -m pipeline.devtools.bench.reference --data-root DIR --output-root DIR`` builds
``tfx.examples.penguin.penguin_pipeline_local.create_pipeline`` as its ``__main__``
does, with the anchor data and schema: the same components as this project's
penguin config (CsvExampleGen, StatisticsGen, ImportSchemaGen, ExampleValidator,
Transform, Trainer with 100 steps, the blessed-model resolver, Evaluator, Pusher),
no Tuner, BulkInferrer or ExampleDiff, and the example's own DirectRunner
arguments (Beam's multi-processing mode, one worker per core), or with ``--beam
in_process`` no Beam arguments (Beam's in-process default, as this project runs).
Run as a fresh process by the harness, so its imports are timed too.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PIPELINE_NAME = "penguin_reference"


def make_pip_available(scratch: Path) -> None:
    """Lets the reference's wheel install find pip, as it would in a pip-made venv.

    TFX packages a ``module_file`` as a wheel and installs it with
    ``sys.executable -m pip install`` in every component that uses it (Transform,
    Trainer). This project's venv is made by uv and has no pip, so the reference
    would fail; pip is taken from the base interpreter (which the Makefile already
    uses to install uv) and offered to the child processes through ``PYTHONPATH``,
    without touching the venv.

    Args:
        scratch: A directory for the link to pip.
    """
    import importlib.util

    if importlib.util.find_spec("pip") is not None:
        return
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    pip = Path(sys.base_prefix) / "lib" / version / "site-packages" / "pip"
    if not pip.is_dir():
        raise RuntimeError(
            f"the reference needs pip (TFX pip-installs its module_file), and neither this "
            f"venv nor the base interpreter at {sys.base_prefix} has it"
        )
    scratch.mkdir(parents=True, exist_ok=True)
    link = scratch / "pip"
    if not link.exists():
        link.symlink_to(pip, target_is_directory=True)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(scratch), *filter(None, [os.environ.get("PYTHONPATH")])]
    )


def main(argv: list[str] | None = None) -> int:
    """Builds and runs the reference pipeline with LocalDagRunner.

    Args:
        argv: Command-line arguments (default ``sys.argv[1:]``).

    Returns:
        The exit code (0: the run finished).
    """
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-root", required=True, help="holds labelled/*.csv")
    parser.add_argument("--schema", required=True, help="the user-provided schema")
    parser.add_argument("--output-root", required=True)
    parser.add_argument(
        "--beam",
        choices=("example", "in_process"),
        default="example",
        help="the example's own DirectRunner arguments, or none (in-process Beam)",
    )
    args = parser.parse_args(argv)

    from absl import logging as absl_logging
    from tfx import v1 as tfx
    from tfx.examples.penguin import penguin_pipeline_local as reference

    absl_logging.set_verbosity(absl_logging.WARNING)
    out = Path(args.output_root)
    make_pip_available(out / "pip-path")
    module_file = os.path.join(os.path.dirname(reference.__file__), "penguin_utils_keras.py")
    pipeline = reference.create_pipeline(
        pipeline_name=PIPELINE_NAME,
        pipeline_root=str(out / "pipelines" / PIPELINE_NAME),
        data_root=args.data_root,
        module_file=module_file,
        accuracy_threshold=0.6,
        serving_model_dir=str(out / "serving" / PIPELINE_NAME),
        metadata_path=str(out / "metadata" / f"{PIPELINE_NAME}.sqlite"),
        user_provided_schema_path=args.schema,
        enable_tuning=False,
        enable_bulk_inferrer=False,
        enable_example_diff=False,
        examplegen_input_config=None,
        examplegen_range_config_date=None,
        resolver_range_config=None,
        # The example's own arguments for its default runner, or Beam's defaults.
        beam_pipeline_args=(
            reference._beam_pipeline_args_by_runner["DirectRunner"]
            if args.beam == "example"
            else []
        ),
        enable_transform_input_cache=False,
    )
    tfx.orchestration.LocalDagRunner().run(pipeline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
