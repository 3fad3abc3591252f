"""Trainer input throughput: the Trainer's tf.data input against in-memory tensors.

``python -m pipeline.devtools.bench.throughput --config C --metadata M`` takes the newest
Transform output recorded in the ML Metadata store ``M`` (the transformed TFRecords
and the transform graph) and the config's model, and measures examples per second:

- the input alone: :func:`components.model.training.input_fn`, built exactly as the Trainer
  builds it (TFX's ``DataAccessor`` over the Examples artifact, parsed with the
  transformed schema), iterated without a model;
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
from pathlib import Path


def _newest_transform(metadata_path: Path) -> tuple[object, str]:
    """The newest Transform execution's ``transformed_examples`` artifact and graph URI."""
    import ml_metadata as mlmd
    from ml_metadata.proto import metadata_store_pb2
    from tfx.types import artifact_utils, standard_artifacts

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(metadata_path)
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    store = mlmd.MetadataStore(config)
    executions = [
        e
        for c in store.get_contexts_by_type("node")
        if c.name.endswith(".Transform")
        for e in store.get_executions_by_context(c.id)
        if e.last_known_state == metadata_store_pb2.Execution.COMPLETE
    ]
    if not executions:
        raise LookupError(f"no finished Transform execution in {metadata_path}")
    newest = max(executions, key=lambda e: e.create_time_since_epoch)
    outputs = {}
    for event in store.get_events_by_execution_ids([newest.id]):
        if event.type == metadata_store_pb2.Event.OUTPUT:
            outputs[event.path.steps[0].key] = event.artifact_id
    examples, graph = store.get_artifacts_by_id(
        [outputs["transformed_examples"], outputs["transform_graph"]]
    )
    examples_type = store.get_artifact_types_by_id([examples.type_id])[0]
    artifact = artifact_utils.deserialize_artifact(examples_type, examples)
    assert isinstance(artifact, standard_artifacts.Examples)
    return artifact, graph.uri


def measure(config_path: Path, metadata_path: Path, steps: int, warmup_steps: int) -> dict:
    """Runs the three measurements.

    Args:
        config_path: The pipeline config (feature spec and model).
        metadata_path: The ML Metadata store of a finished run.
        steps: Batches per measurement.
        warmup_steps: Batches of warm-up (tracing, autotuning) before each.

    Returns:
        Examples/s of each input, and what was measured.
    """
    import tensorflow as tf
    import tensorflow_transform as tft
    import tf_keras as keras
    from tfx.components.trainer.fn_args_utils import DataAccessor
    from tfx.components.util import tfxio_utils

    from components.model.autograph import skip_autograph_for_tf_keras
    from components.model.model import build_model
    from components.model.training import cardinalities, input_fn
    from pipeline.config import load_config

    config = load_config(config_path)
    spec, hparams = config.features, config.model
    examples, graph_uri = _newest_transform(metadata_path)
    accessor = DataAccessor(
        tf_dataset_factory=tfxio_utils.get_tf_dataset_factory_from_artifact([examples], []),
        record_batch_factory=tfxio_utils.get_record_batch_factory_from_artifact([examples], []),
        data_view_decode_fn=None,
    )
    train_files = [os.path.join(examples.uri, "Split-train", "*")]
    tf_transform_output = tft.TFTransformOutput(graph_uri)
    dataset = input_fn(
        train_files, accessor, tf_transform_output, spec, hparams.batch_size, hparams.seed
    )
    batch = hparams.batch_size

    # 1. The input alone.
    iterator = iter(dataset)
    for _ in range(warmup_steps):
        next(iterator)
    tick, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        next(iterator)
    input_only = steps * batch / (time.perf_counter() - tick)
    cpu_input_only = (time.process_time() - cpu) * 1e6 / (steps * batch)

    # In-memory tensors: the same parsed batches, held in memory.
    held = [next(iterator) for _ in range(steps)]
    features = {key: tf.concat([b[0][key] for b in held], 0) for key in held[0][0]}
    labels = tf.concat([b[1] for b in held], 0)
    in_memory = tf.data.Dataset.from_tensor_slices((features, labels)).batch(batch).repeat()

    skip_autograph_for_tf_keras()
    model = build_model(spec, cardinalities(spec, tf_transform_output), hparams)

    class Clock(keras.callbacks.Callback):
        """Times the steps after the warm-up, within one fit (one iterator)."""

        def on_train_batch_end(self, step: int, logs: dict | None = None) -> None:
            if step == warmup_steps - 1:
                self.tick, self.cpu = time.perf_counter(), time.process_time()
            elif step == warmup_steps + steps - 1:
                self.seconds = time.perf_counter() - self.tick
                self.cpu_seconds = time.process_time() - self.cpu

    def fit(data: tf.data.Dataset) -> tuple[float, float]:
        # Steady state: a fit's first steps fill tfxio's shuffle buffer and start
        # the prefetch threads, which the Trainer pays once per run, not per step.
        clock = Clock()
        model.fit(data, epochs=1, steps_per_epoch=warmup_steps + steps, verbose=0, callbacks=[clock])
        # Examples/s, and CPU microseconds per example (every thread of this
        # process: tf.data's and the training step's).
        return steps * batch / clock.seconds, clock.cpu_seconds * 1e6 / (steps * batch)

    # Alternate twice and keep each input's best, so load from other processes
    # hurts neither side more than the other.
    tfrecords, memory = [], []
    for _ in range(2):
        tfrecords.append(fit(dataset))
        memory.append(fit(in_memory))
    return {
        "source": str(examples.uri),
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
