"""Trainer input throughput: the Trainer's tf.data input against in-memory tensors.

``python -m pipeline.devtools.bench.throughput --config C --metadata M`` takes the newest
Transform recorded in the ML Metadata store ``M`` (its graph, and what the Trainer
reads: the transformed TFRecords when Transform materialised them, else the newest
raw span with the graph applied in tf.data) and the config's model, and measures
examples per second:

- the input alone: the Trainer's input function (:func:`components.model.training.input_fn`
  or ``raw_input_fn``), built exactly as the Trainer builds it (TFX's ``DataAccessor``
  over the Examples artifact), iterated without a model;
- training fed by that input (``model.fit``, the Trainer's call);
- training fed from in-memory tensors: the same batches, already parsed and held in
  memory, so the only cost left is the model's step: the limit on this machine.

Each fit is timed after a warm-up on the same iterator, so tracing, the shuffle
buffer's first fill and the prefetch threads' start are not counted: steady state.
Beside examples/s, each measurement reports the process's CPU microseconds per
example (all threads), which other processes on the machine disturb much less.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.devtools.bench.measure import open_readonly

if TYPE_CHECKING:
    from pipeline.config import PipelineConfig

# Examples per second, and the process's CPU microseconds per example.
Rate = tuple[float, float]


def newest_transform(metadata_path: Path, pipeline_name: str) -> tuple[Any, str, bool]:
    """The newest finished Transform's examples for the Trainer, and its graph URI.

    Args:
        metadata_path: The SQLite ML Metadata store of a finished run.
        pipeline_name: The pipeline whose Transform to take.

    Returns:
        ``(Examples artifact, transform graph URI, materialised)``: Transform's
        ``transformed_examples`` when it wrote them, else its newest raw input span.

    Raises:
        LookupError: If no Transform execution finished.
    """
    from tfx.types import artifact_utils

    from pipeline.mlmd import queries
    from pipeline.nodes import TRANSFORM

    store = open_readonly(metadata_path)
    finished = [
        e
        for e in queries.node_executions(store, pipeline_name, TRANSFORM)
        if e.last_known_state == queries.Execution.COMPLETE
    ]
    if not finished:
        raise LookupError(f"no finished Transform execution in {metadata_path}")
    newest = finished[-1]
    examples = queries.artifact(store, newest, "transformed_examples")
    materialised = examples is not None
    if examples is None:
        window = queries.artifacts(store, newest.id, "examples", queries.Event.INPUT)
        examples = max(window, key=lambda a: queries.span(a) or 0, default=None)
    graph = queries.artifact(store, newest, "transform_graph")
    if examples is None or graph is None:
        raise LookupError(f"Transform execution {newest.id} recorded no examples or graph")
    examples_type = store.get_artifact_types_by_id([examples.type_id])[0]
    return (
        artifact_utils.deserialize_artifact(examples_type, examples),
        graph.uri,
        materialised,
    )


def trainer_input(config: PipelineConfig, metadata_path: Path) -> tuple[Any, Any, str]:
    """The Trainer's training input, built exactly as the Trainer builds it.

    Args:
        config: The pipeline config.
        metadata_path: The ML Metadata store of a finished run.

    Returns:
        ``(tf.data dataset of (features, label) batches, TFTransformOutput, the
        examples' URI)``.
    """
    import tensorflow_transform as tft
    from tfx.components.trainer.fn_args_utils import DataAccessor
    from tfx.components.util import tfxio_utils

    from components.model.training import input_fn, raw_input_fn

    examples, graph_uri, materialised = newest_transform(metadata_path, config.pipeline_name)
    accessor = DataAccessor(
        tf_dataset_factory=tfxio_utils.get_tf_dataset_factory_from_artifact([examples], []),
        record_batch_factory=tfxio_utils.get_record_batch_factory_from_artifact([examples], []),
        data_view_decode_fn=None,
    )
    train_files = [os.path.join(examples.uri, "Split-train", "*")]
    tf_transform_output = tft.TFTransformOutput(graph_uri)
    spec, hparams = config.features, config.model
    build = input_fn if materialised else raw_input_fn
    dataset = build(
        train_files, accessor, tf_transform_output, spec, hparams.batch_size, hparams.seed
    )
    return dataset, tf_transform_output, str(examples.uri)


def time_input(iterator: Iterator[Any], steps: int, warmup_steps: int, batch: int) -> Rate:
    """Iterates the input alone, without a model, after a warm-up.

    Args:
        iterator: The dataset's iterator (left after the timed batches).
        steps: Batches timed.
        warmup_steps: Batches drawn first, untimed.
        batch: Examples per batch.

    Returns:
        Examples/s and CPU microseconds per example.
    """
    for _ in range(warmup_steps):
        next(iterator)
    tick, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        next(iterator)
    examples = steps * batch
    return examples / (time.perf_counter() - tick), (time.process_time() - cpu) * 1e6 / examples


def hold_in_memory(iterator: Iterator[Any], steps: int, batch: int) -> Any:
    """The next ``steps`` parsed batches, held in memory as a repeating dataset.

    Args:
        iterator: The Trainer input's iterator.
        steps: Batches to hold.
        batch: Examples per batch.

    Returns:
        A ``tf.data.Dataset`` of the same batches, from tensors.
    """
    import tensorflow as tf

    held = [next(iterator) for _ in range(steps)]
    features = {key: tf.concat([b[0][key] for b in held], 0) for key in held[0][0]}
    labels = tf.concat([b[1] for b in held], 0)
    return tf.data.Dataset.from_tensor_slices((features, labels)).batch(batch).repeat()


def fit_rates(
    model: Any, datasets: list[Any], steps: int, warmup_steps: int, batch: int
) -> list[list[Rate]]:
    """Trains on each dataset in turn, twice, timing the steps after a warm-up.

    Alternating keeps load from other processes from hurting one side more than
    another. Within each fit the warm-up steps fill tfxio's shuffle buffer and start
    the prefetch threads, which the Trainer pays once per run, not per step.

    Args:
        model: The compiled Keras model.
        datasets: The inputs to compare.
        steps: Steps timed per fit.
        warmup_steps: Steps before the timing starts.
        batch: Examples per batch.

    Returns:
        Per dataset, each fit's examples/s and CPU microseconds per example (every
        thread of this process: tf.data's and the training step's).
    """
    import tf_keras as keras

    class Clock(keras.callbacks.Callback):
        """Times the steps after the warm-up, within one fit (one iterator)."""

        def on_train_batch_end(self, step: int, logs: dict[str, Any] | None = None) -> None:
            if step == warmup_steps - 1:
                self.tick, self.cpu = time.perf_counter(), time.process_time()
            elif step == warmup_steps + steps - 1:
                self.seconds = time.perf_counter() - self.tick
                self.cpu_seconds = time.process_time() - self.cpu

    rates: list[list[Rate]] = [[] for _ in datasets]
    examples = steps * batch
    for _ in range(2):
        for index, data in enumerate(datasets):
            clock = Clock()
            model.fit(
                data, epochs=1, steps_per_epoch=warmup_steps + steps, verbose=0, callbacks=[clock]
            )
            rates[index].append((examples / clock.seconds, clock.cpu_seconds * 1e6 / examples))
    return rates


def measure(
    config_path: Path, metadata_path: Path, steps: int, warmup_steps: int
) -> dict[str, Any]:
    """Runs the three measurements.

    Args:
        config_path: The pipeline config (feature spec and model).
        metadata_path: The ML Metadata store of a finished run.
        steps: Batches per measurement.
        warmup_steps: Batches of warm-up (tracing, autotuning) before each.

    Returns:
        Examples/s of each input, and what was measured.
    """
    from components.model.autograph import skip_autograph_for_tf_keras
    from components.model.model import build_model
    from components.model.training import cardinalities
    from pipeline.config import load_config

    config = load_config(config_path)
    batch = config.model.batch_size
    dataset, tf_transform_output, source = trainer_input(config, metadata_path)
    iterator = iter(dataset)
    input_only, cpu_input_only = time_input(iterator, steps, warmup_steps, batch)
    in_memory = hold_in_memory(iterator, steps, batch)

    skip_autograph_for_tf_keras()
    spec = config.features
    model = build_model(spec, cardinalities(spec, tf_transform_output), config.model)
    tfrecords, memory = fit_rates(model, [dataset, in_memory], steps, warmup_steps, batch)
    # Each input's best: load from other processes only ever slows a fit down.
    return {
        "source": source,
        "batch_size": batch,
        "steps": steps,
        "warmup_steps": warmup_steps,
        "input_only": input_only,
        "fit_tfrecords": max(rate for rate, _ in tfrecords),
        "fit_in_memory": max(rate for rate, _ in memory),
        "fit_tfrecords_all": [rate for rate, _ in tfrecords],
        "fit_in_memory_all": [rate for rate, _ in memory],
        "cpu_us_input_only": cpu_input_only,
        "cpu_us_fit_tfrecords": min(cpu for _, cpu in tfrecords),
        "cpu_us_fit_in_memory": min(cpu for _, cpu in memory),
    }


def main(argv: list[str] | None = None) -> int:
    """Command line entry point.

    Args:
        argv: Arguments (default ``sys.argv[1:]``).

    Returns:
        The exit code.
    """
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    parser.add_argument("--metadata", required=True)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup-steps", type=int, default=20)
    parser.add_argument("--json", help="write the result here")
    args = parser.parse_args(argv)
    result = measure(Path(args.config), Path(args.metadata), args.steps, args.warmup_steps)
    text = json.dumps(result, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
