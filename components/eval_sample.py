"""TFX's Evaluator on a seeded, deterministic sample of the eval split (or all of it).

``evaluation.max_examples`` bounds how many eval rows TFMA runs both models over.
The sample is the ``max_examples`` serialized ``tf.Example`` records with the
smallest keyed hash (BLAKE2b, keyed by the seed): a keyed hash behaves as a random
permutation of the records that does not depend on their content's meaning, so its
bottom ``max_examples`` are a simple random sample without replacement. Metrics that
are means over rows (accuracy, mean label, precision at a fixed threshold) are then
unbiased estimates of the full split's, and AUC (a ratio of U-statistics) a
consistent one, bias O(1/n). The same seed and the same split give the same rows, so
a rerun is reproducible, and the candidate and the baseline are judged on the same
rows: TFX evaluates both in one Evaluator run over this one sample (a paired
comparison). The run summary reports the gate metric's standard error
(:mod:`pipeline.ops.standard_errors`: closed form for AUC and binary accuracy, TFMA's
jackknife otherwise) next to the sample size, recorded on the ModelEvaluation
artifact (``eval_examples``, ``eval_population``).

Everything else is TFX's own Evaluator executor, unchanged: the sample is written
under the evaluation's URI, handed to it as the Examples input, and removed after.
Without ``max_examples`` (``0``) TFX's executor evaluates every row. Either way the
metrics TFMA wrote are also recorded on the ModelEvaluation artifact
(:func:`record_metrics`), so the ops views read them from ML Metadata alone.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import os
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
from tfx import types
from tfx.components.evaluator import executor as evaluator_executor
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import io_utils, json_utils

MAX_EXAMPLES_KEY = "max_examples"
SEED_KEY = "sample_seed"
# Custom properties of the ModelEvaluation artifact the run summary reads.
SAMPLE_SIZE_PROPERTY = "eval_examples"
POPULATION_PROPERTY = "eval_population"
# TFMA's metrics per slice and model, for the ops views (see record_metrics).
METRICS_PROPERTY = "metrics"
# The name TFX's Evaluator gives the baseline model in TFMA's metric keys.
BASELINE_MODEL = "baseline"

_SAMPLE_DIR = "eval_sample"


def _counts_path(sample_uri: str, split: str) -> str:
    return os.path.join(sample_uri, f"counts-{split}.json")


def sample_rank(record: bytes, seed: int) -> int:
    """The record's place in the seeded random order (smaller is sampled first).

    Args:
        record: A serialized ``tf.Example``.
        seed: The sample's seed.

    Returns:
        A 64-bit keyed hash: deterministic for a record and seed, and as good as
        uniformly random across records (so the smallest n are a random sample).
    """
    digest = hashlib.blake2b(record, digest_size=8, key=seed.to_bytes(8, "big", signed=True))
    return int.from_bytes(digest.digest(), "big")


def sample_records(records: Iterable[bytes], max_examples: int, seed: int) -> list[bytes]:
    """The same sample as :class:`SampleRecords`, drawn in this process.

    For a reader that is not a Beam pipeline (the TFLite check, which measures on
    the rows the Evaluator judged): one pass, holding only ``max_examples`` records.

    Args:
        records: Serialized examples.
        max_examples: At most this many records are kept.
        seed: The sample's seed.

    Returns:
        The records of smallest :func:`sample_rank`, smallest first.
    """
    # Ranked by (rank, record), as Top.Smallest orders the pairs, so ties break alike.
    return heapq.nsmallest(
        max_examples, records, key=lambda record: (sample_rank(record, seed), record)
    )


class SampleRecords(beam.PTransform):
    """Keeps the ``max_examples`` records of smallest :func:`sample_rank` (all if fewer)."""

    def __init__(self, max_examples: int, seed: int) -> None:
        """Sets the sample's size and seed.

        Args:
            max_examples: At most this many records are kept.
            seed: The sample's seed.
        """
        super().__init__()
        self._max_examples = max_examples
        self._seed = seed

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        """Returns the sampled records.

        Args:
            records: Serialized examples.

        Returns:
            At most ``max_examples`` of them; Beam's Top combiner keeps only that
            many in memory per worker and merges them.
        """
        seed = self._seed
        return (
            records
            | "Rank" >> beam.Map(lambda record: (sample_rank(record, seed), record))
            | "Smallest" >> beam.combiners.Top.Smallest(self._max_examples)
            | "Unrank" >> beam.FlatMap(lambda ranked: [record for _, record in ranked])
        )


def _sample_split(
    pipeline: beam.Pipeline,
    source_uri: str,
    target_uri: str,
    counts_path: str,
    max_examples: int,
    seed: int,
) -> None:
    """Adds the sampling of one split to ``pipeline``, and the writing of its counts.

    The counts go outside the split's directory, where TFX reads every file as data.
    """
    # ExampleGen writes gzipped TFRecords; AUTO compression reads them by extension.
    records = pipeline | "Read" >> beam.io.ReadFromTFRecord(io_utils.all_files_pattern(source_uri))
    sample = records | "Sample" >> SampleRecords(max_examples, seed)
    _ = sample | "Write" >> beam.io.WriteToTFRecord(
        os.path.join(target_uri, "data_tfrecord"), file_name_suffix=".gz"
    )
    population = records | "CountPopulation" >> beam.combiners.Count.Globally()
    size = sample | "CountSample" >> beam.combiners.Count.Globally()
    _ = (
        pipeline
        | "One" >> beam.Create([None])
        | "Counts"
        >> beam.Map(
            lambda _, total, kept: json.dumps({"population": total, "sample": kept}),
            total=beam.pvalue.AsSingleton(population),
            kept=beam.pvalue.AsSingleton(size),
        )
        | "WriteCounts" >> beam.io.WriteToText(counts_path, shard_name_template="")
    )


class Executor(evaluator_executor.Executor):
    """Runs TFX's Evaluator executor on a sample of the eval split (or all of it)."""

    def Do(  # noqa: N802 (TFX's name)
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        """Evaluates (on the sample when ``max_examples`` > 0) and records the metrics.

        Args:
            input_dict: The Evaluator's inputs (``examples``, ``model``, ``baseline_model``).
            output_dict: ``evaluation`` and ``blessing``.
            exec_properties: The Evaluator's, plus ``max_examples`` (0: every row)
                and ``sample_seed``.
        """
        properties = dict(exec_properties)
        max_examples = int(properties.pop(MAX_EXAMPLES_KEY))
        seed = int(properties.pop(SEED_KEY))
        evaluation = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EVALUATION_KEY]
        )
        if max_examples > 0:
            self._evaluate_sample(input_dict, output_dict, properties, max_examples, seed)
        else:
            super().Do(input_dict, output_dict, properties)
        record_metrics(evaluation)

    def _evaluate_sample(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        properties: dict[str, Any],
        max_examples: int,
        seed: int,
    ) -> None:
        examples = artifact_utils.get_single_instance(
            input_dict[standard_component_specs.EXAMPLES_KEY]
        )
        splits = json_utils.loads(
            properties.get(standard_component_specs.EXAMPLE_SPLITS_KEY) or "null"
        ) or ["eval"]
        evaluation = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EVALUATION_KEY]
        )
        sample = standard_artifacts.Examples()
        sample.uri = os.path.join(evaluation.uri, _SAMPLE_DIR)
        sample.split_names = artifact_utils.encode_split_names(list(splits))
        if examples.has_custom_property("payload_format"):
            sample.set_string_custom_property(
                "payload_format", examples.get_string_custom_property("payload_format")
            )
        for split in splits:
            with self._make_beam_pipeline() as pipeline:
                _sample_split(
                    pipeline,
                    artifact_utils.get_split_uri([examples], split),
                    artifact_utils.get_split_uri([sample], split),
                    _counts_path(sample.uri, split),
                    max_examples,
                    seed,
                )
        population = kept = 0
        for split in splits:
            with fileio.open(_counts_path(sample.uri, split)) as handle:
                counts = json.loads(handle.read())
            population += counts["population"]
            kept += counts["sample"]
        try:
            super().Do(
                {**input_dict, standard_component_specs.EXAMPLES_KEY: [sample]},
                output_dict,
                properties,
            )
        finally:
            # The sample is reproducible from the split and the seed; keep only metrics.
            fileio.rmtree(sample.uri)
        evaluation.set_int_custom_property(SAMPLE_SIZE_PROPERTY, kept)
        evaluation.set_int_custom_property(POPULATION_PROPERTY, population)


def record_metrics(evaluation: types.Artifact) -> None:
    """Records TFMA's metrics on the ModelEvaluation artifact, as JSON.

    The ops views (the dashboard, the metrics exporter) then read a day's metrics
    from ML Metadata alone: loading them through TFMA costs its import (10-40 s)
    per reading process, for a few kilobytes.

    Args:
        evaluation: The ModelEvaluation TFMA wrote (its ``metrics`` under the URI).
            Gets ``metrics``: ``{"candidate": [[slice, {name: value}], ...],
            "baseline": [...]}``, a slice as ``[[column, value], ...]`` (``[]``
            overall), double-valued metrics only, diffs left out.
    """
    import tensorflow_model_analysis as tfma  # imported by the executor already

    recorded: dict[str, list[Any]] = {"candidate": [], "baseline": []}
    for slice_metrics in tfma.load_metrics(evaluation.uri):
        columns = [
            [column, value.decode() if isinstance(value, bytes) else value]
            for column, value in tfma.slicer.deserialize_slice_key(slice_metrics.slice_key)
        ]
        by_model: dict[str, dict[str, float]] = {}
        for kv in slice_metrics.metric_keys_and_values:
            key = tfma.metrics.MetricKey.from_proto(kv.key)
            if key.is_diff or not kv.value.HasField("double_value"):
                continue
            model = "baseline" if key.model_name == BASELINE_MODEL else "candidate"
            by_model.setdefault(model, {})[key.name] = kv.value.double_value.value
        for model, values in sorted(by_model.items()):
            recorded[model].append([columns, dict(sorted(values.items()))])
    evaluation.set_string_custom_property(METRICS_PROPERTY, json.dumps(recorded, sort_keys=True))


class SampledEvaluatorSpec(standard_component_specs.EvaluatorSpec):
    """The Evaluator's spec plus the sample's size and seed (part of the cache key)."""

    PARAMETERS = {
        **standard_component_specs.EvaluatorSpec.PARAMETERS,
        MAX_EXAMPLES_KEY: ExecutionParameter(type=int),
        SEED_KEY: ExecutionParameter(type=int),
    }


class SampledEvaluator(base_beam_component.BaseBeamComponent):
    """TFX's Evaluator over at most ``max_examples`` seeded-sampled eval rows (0: all)."""

    SPEC_CLASS = SampledEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        model: types.BaseChannel,
        baseline_model: types.BaseChannel,
        eval_config: Any,
        max_examples: int,
        seed: int,
    ) -> None:
        """Wires the Evaluator's inputs and outputs.

        Args:
            examples: The Examples whose eval split is sampled.
            model: The candidate model.
            baseline_model: The baseline model (may resolve to nothing).
            eval_config: The ``tfma.EvalConfig``.
            max_examples: At most this many eval rows are evaluated; 0 evaluates
                every row.
            seed: The sample's seed.
        """
        spec = SampledEvaluatorSpec(
            examples=examples,
            model=model,
            baseline_model=baseline_model,
            eval_config=eval_config,
            example_splits=json_utils.dumps(None),
            fairness_indicator_thresholds=json_utils.dumps(None),
            evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
            blessing=types.Channel(type=standard_artifacts.ModelBlessing),
            **{MAX_EXAMPLES_KEY: max_examples, SEED_KEY: seed},
        )
        super().__init__(spec=spec)
