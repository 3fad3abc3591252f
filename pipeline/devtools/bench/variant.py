"""One pipeline run with one speed lever turned back off, for the levers table.

``python -m pipeline.devtools.bench.variant LEVER -- <python -m pipeline run arguments>``
runs ``python -m pipeline run`` in this process with one of the changes the
benchmark led to undone, so its effect can be measured against a normal run:

- ``tfx_v1``: import ``tfx.v1`` first (with its Google Cloud extensions), as the
  code did before ``components.tfx_api``;
- ``autograph``: let AutoGraph convert ``tf_keras`` again;
- ``transform_stats``: Transform computes its pre- and post-transform statistics;
- ``row_examples``: CsvExampleGen builds each ``tf.Example`` in Python (TFX's path)
  instead of reading with Arrow and encoding in C++;
- ``beam_write``: TFX's base executor splits and writes the Arrow path's records
  one at a time through Beam, not a file's rows at once
  (``components.example_gen.DIRECT_WRITE``);
- ``analyzer_cache``: Transform analyses every span of the window on every run;
- ``materialize``: Transform writes the transformed window and the Trainer reads it,
  instead of applying the Transform graph in its input pipeline;
- ``eval_sample``: the Evaluator evaluates every eval row, not the seeded
  ``evaluation.max_examples`` sample (``pipeline.pipeline.EVAL_SAMPLING``);
- ``stats_exact``: StatisticsGen groups every value for top values and distinct
  counts instead of sketching them (``pipeline.pipeline.STATS_SKETCH``);
- ``none``: nothing undone (the baseline, same driver).

One more is an option tried rather than a change undone (the scale levers table):

- ``stats_batch``: StatisticsGen's ``StatsOptions.desired_batch_size`` is
  :data:`STATS_BATCH_SIZE` (TFDV's default batches are smaller).

Beam-argument levers need no driver: they are config files (see the suite).
"""

from __future__ import annotations

import copy
import sys
from typing import Any

# The rows per Arrow batch StatisticsGen's TFDV run takes under ``stats_batch``.
STATS_BATCH_SIZE = 8192

LEVERS = (
    "none",
    "tfx_v1",
    "autograph",
    "transform_stats",
    "row_examples",
    "beam_write",
    "analyzer_cache",
    "materialize",
    "eval_sample",
    "stats_exact",
    "stats_batch",
)


def undo(lever: str) -> None:
    """Undoes one lever in this process, before the pipeline is built.

    Args:
        lever: One of :data:`LEVERS`.

    Raises:
        ValueError: On an unknown lever.
    """
    if lever not in LEVERS:
        raise ValueError(f"unknown lever {lever!r}; expected one of {LEVERS}")
    if lever == "tfx_v1":
        import tfx.v1  # noqa: F401 - the import is the point
    elif lever == "autograph":
        import components.model.autograph

        components.model.autograph.skip_autograph_for_tf_keras = lambda: None
        import components.model.exporter
        import components.model.training

        components.model.training.skip_autograph_for_tf_keras = lambda: None
        components.model.exporter.skip_autograph_for_tf_keras = lambda: None
    elif lever == "transform_stats":
        from components.tfx_api import tfx

        transform = tfx.components.Transform

        def with_statistics(**kwargs):  # noqa: ANN003, ANN202 - same signature as Transform
            return transform(**{**kwargs, "disable_statistics": False})

        tfx.components.Transform = with_statistics
    elif lever == "row_examples":
        import components.example_gen

        components.example_gen.ARROW_READER = False
    elif lever == "beam_write":
        import components.example_gen

        components.example_gen.DIRECT_WRITE = False
    elif lever == "analyzer_cache":
        import components.resolvers

        components.resolvers.ANALYZER_CACHE = False
    elif lever == "materialize":
        import components.model.trainer

        components.model.trainer.MATERIALIZE_TRANSFORMED = True
    elif lever == "eval_sample":
        import pipeline.pipeline

        pipeline.pipeline.EVAL_SAMPLING = False
    elif lever == "stats_exact":
        import pipeline.pipeline

        pipeline.pipeline.STATS_SKETCH = False
    elif lever == "stats_batch":
        _stats_options({"desired_batch_size": STATS_BATCH_SIZE})


def _stats_options(changes: dict[str, Any]) -> None:
    # Every StatisticsGen built from now on gets the pipeline's options (else TFDV's
    # defaults) with these attributes set.
    import tensorflow_data_validation as tfdv

    from components.tfx_api import tfx

    statistics_gen = tfx.components.StatisticsGen

    def with_options(**kwargs):  # noqa: ANN003, ANN202 - same signature as StatisticsGen
        given = kwargs.get("stats_options")
        options = tfdv.StatsOptions() if given is None else copy.copy(given)
        for name, value in changes.items():
            setattr(options, name, value)
        return statistics_gen(**{**kwargs, "stats_options": options})

    tfx.components.StatisticsGen = with_options


def main(argv: list[str] | None = None) -> int:
    """Undoes the lever and runs the pipeline CLI.

    Args:
        argv: ``LEVER -- run arguments`` (default ``sys.argv[1:]``).

    Returns:
        The CLI's exit code.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    lever, rest = args[0], args[1:]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    undo(lever)
    from pipeline import cli

    return cli.main(["run", *rest])


if __name__ == "__main__":
    sys.exit(main())
