"""TFLite export (components/tflite.py) and its push, on the session's real runs.

The conversion tests use the model the first run trained (``clicks_runs``); the
refusal test exports a larger model over the same Transform graph (large enough for
dynamic-range quantization to change its weights, so its metric delta is not zero)
and runs the real TFLiteConverter and AtomicPusher executors on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import tensorflow as tf
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.utils import proto_utils

from components import tflite
from components.eval_sample import sample_records
from components.model.exporter import OUTPUT_KEY, RAW_SIGNATURE, SERVING_SIGNATURE
from components.pusher import TFLITE_PUSHED, TFLITE_REASON, AtomicPusherExecutor
from pipeline import nodes
from pipeline.mlmd import queries
from pipeline.views.summary import format_summary

if TYPE_CHECKING:
    import ml_metadata as mlmd

    from pipeline.ops.summary import RunSummary
    from tests.support.data import Runs


def _store(runs: Runs) -> mlmd.MetadataStore:
    from pipeline.mlmd import connection as metadata

    return metadata.open_store(runs.config)


def _input(runs: Runs, run: RunSummary, node: str, key: str):
    execution = run.node(node).execution_id
    (artifact,) = queries.artifacts(_store(runs), execution, key, queries.Event.INPUT)
    return artifact


def _output(runs: Runs, run: RunSummary, node: str, key: str):
    execution = run.node(node).execution_id
    (artifact,) = queries.artifacts(_store(runs), execution, key)
    return artifact


@pytest.fixture(scope="module")
def model_dir(clicks_runs: Runs) -> str:
    """The first run's trained SavedModel (the Trainer's serving export)."""
    return str(Path(clicks_runs.first.model_uri or "") / "Format-Serving")


@pytest.fixture(scope="module")
def eval_files(clicks_runs: Runs) -> list[str]:
    """The raw eval split the first run's Evaluator (and converter) measured on."""
    examples = _input(clicks_runs, clicks_runs.first, nodes.EVALUATOR, "examples")
    return sorted(str(p) for p in (Path(examples.uri) / "Split-eval").iterdir())


def test_conversion_of_the_trained_model_keeps_its_predictions_and_metric(
    clicks_runs: Runs, model_dir: str, eval_files: list[str], tmp_path: Path
) -> None:
    verdict = tflite.convert_and_measure(
        model_dir, eval_files, str(tmp_path / tflite.TFLITE_FILE), "clicked", "AUC", 0.01
    )
    print(f"\nfixture model: {verdict}")
    result = verdict.measurement
    assert result is not None and verdict.within_bound, verdict.reason
    rows = sum(1 for _ in tf.data.TFRecordDataset(eval_files, compression_type="GZIP"))
    assert (result.examples, result.skipped) == (rows, 0)
    # The same rows the Evaluator measured, and AUC with TFMA's 10,000 thresholds.
    assert result.float_value == pytest.approx(clicks_runs.first.metrics["auc"], abs=0.002)
    assert abs(result.delta) <= 0.01
    assert 0 < verdict.size_bytes < verdict.float_size_bytes
    assert verdict.size_bytes == (tmp_path / tflite.TFLITE_FILE).stat().st_size

    # On device the inputs are the raw features (strings included): the Transform
    # graph and its vocabularies are inside the .tflite file.
    flatbuffer = (tmp_path / tflite.TFLITE_FILE).read_bytes()
    interpreter = tf.lite.Interpreter(model_content=flatbuffer)
    features = clicks_runs.config.features
    assert sorted(interpreter.get_signature_list()[RAW_SIGNATURE]["inputs"]) == sorted(
        features.model_features
    )
    float_predict, inputs = tflite.float_predictor(model_dir)
    batch, _, _ = next(tflite.eval_batches(eval_files, inputs, "clicked", batch_size=64))
    assert batch["device"].dtype == object  # raw category strings, not vocabulary ids
    np.testing.assert_allclose(
        tflite.tflite_predictor(flatbuffer)(batch), float_predict(batch), rtol=0, atol=1e-4
    )


def test_with_a_sample_the_check_reads_the_rows_the_evaluator_sampled(
    model_dir: str, eval_files: list[str]
) -> None:
    # evaluation.max_examples: the TFLite check measures on the Evaluator's seeded
    # sample (components.eval_sample), drawn from the same split with the same seed.
    _, inputs = tflite.float_predictor(model_dir)
    records = [r.numpy() for r in tf.data.TFRecordDataset(eval_files, compression_type="GZIP")]
    assert len(records) > 100
    expected = []
    for record in sample_records(records, 100, seed=18):
        feature = tf.train.Example.FromString(record).features.feature
        expected.append(
            (feature["device"].bytes_list.value[0], feature["clicked"].int64_list.value[0])
        )
    read = []
    for batch, labels, skipped in tflite.eval_batches(
        eval_files, inputs, "clicked", batch_size=32, max_examples=100, seed=18
    ):
        assert skipped == 0
        read += list(zip(batch["device"].tolist(), labels.tolist(), strict=True))
    assert sorted(read) == sorted(expected)


def test_without_constant_asset_paths_the_vocabularies_are_never_loaded(model_dir: str) -> None:
    # Why saved_model_for_conversion exists: converted as is, the model's vocabulary
    # tables are never initialized and the first lookup fails at run time.
    converter = tf.lite.TFLiteConverter.from_saved_model(model_dir, signature_keys=[RAW_SIGNATURE])
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.TFLITE_BUILTINS,
        tf.lite.OpsSet.SELECT_TF_OPS,
    ]
    runner = tf.lite.Interpreter(model_content=converter.convert()).get_signature_runner(
        RAW_SIGNATURE
    )
    row = {
        "price": np.array([9.34], np.float32),
        "rating": np.array([4.5], np.float32),
        "position": np.array([11]),
        "user_ctr": np.array([0.3], np.float32),
        "item_ctr": np.array([0.1], np.float32),
        "purchase_quantity": np.array([1]),
        "device": np.array([b"tablet"]),
        "region": np.array([b"eu"]),
        "item_category": np.array([b"grocery"]),
        "hour": np.array([13]),
    }
    with pytest.raises(RuntimeError, match="hashtable need to be initialized"):
        runner(**row)


def test_pushed_versions_carry_model_tflite_and_still_load(clicks_runs: Runs) -> None:
    runs = [clicks_runs.first] + ([clicks_runs.new_span] if clicks_runs.new_span.pushed else [])
    for run in runs:
        version = Path(run.pushed_destination or "")
        converted = _output(clicks_runs, run, nodes.TFLITE_CONVERTER, "tflite_model")
        assert converted.custom_properties["within_bound"].int_value == 1
        pushed = (version / tflite.TFLITE_FILE).read_bytes()
        assert pushed == (Path(converted.uri) / tflite.TFLITE_FILE).read_bytes()
        record = _output(clicks_runs, run, nodes.PUSHER, "pushed_model")
        assert record.custom_properties[TFLITE_PUSHED].int_value == 1
        assert record.custom_properties[TFLITE_REASON].string_value.startswith("pushed (")
        # TF Serving's loader reads saved_model.pb and variables/; the extra file is ignored.
        loaded = tf.saved_model.load(str(version))
        assert {SERVING_SIGNATURE, RAW_SIGNATURE} <= set(loaded.signatures)
        line = format_summary(run).splitlines()[-1]
        assert line.startswith("TFLite: ") and line.endswith(
            f"-> pushed as {version}/{tflite.TFLITE_FILE}."
        ), line
    # A rerun with nothing new: the converter and the Pusher are cache hits.
    assert clicks_runs.rerun.node(nodes.TFLITE_CONVERTER).state == "cached"
    assert format_summary(clicks_runs.rerun).endswith("within bound; nothing new pushed this run.")


def test_a_delta_over_the_bound_refuses_tflite_but_the_savedmodel_is_pushed(
    clicks_runs: Runs, tmp_path: Path
) -> None:
    import tensorflow_transform as tft
    import tf_keras as keras

    from components.model.exporter import export
    from components.model.hparams import Hyperparameters
    from components.model.model import build_model
    from components.model.training import cardinalities

    # The bundled config's model is too small to be quantized (every weight tensor has
    # under 1,024 elements, so its delta is 0); the default layer sizes are not.
    first = clicks_runs.first
    transform_graph = _input(clicks_runs, first, nodes.TRAINER, "transform_graph")
    tft_output = tft.TFTransformOutput(transform_graph.uri)
    spec = clicks_runs.config.features
    keras.utils.set_random_seed(0)
    model = build_model(spec, cardinalities(spec, tft_output), Hyperparameters())
    export(model, spec, tft_output, str(tmp_path / "model" / "Format-Serving"))

    model_artifact = standard_artifacts.Model()
    model_artifact.uri = str(tmp_path / "model")
    model_artifact.id = 1
    ingested = _input(clicks_runs, first, nodes.EVALUATOR, "examples")
    examples = standard_artifacts.Examples()
    examples.uri = ingested.uri
    examples.split_names = ingested.properties["split_names"].string_value
    converted = tflite.TFLiteModel()
    converted.uri = str(tmp_path / "tflite")
    # The pipeline node's own executor, with a bound of 0: any change refuses.
    tflite.TFLiteConverter.EXECUTOR_SPEC.executor_class().Do(
        {"model": [model_artifact], "examples": [examples]},
        {"tflite_model": [converted]},
        {
            "label_key": spec.label,
            "gate_metric": "AUC",
            "max_metric_delta": 0.0,
            "code_version": "",
        },
    )
    assert converted.get_int_custom_property("quantized_weights") > 0
    delta = converted.get_float_custom_property("delta")
    print(
        f"\nquantized model: delta {delta:+.6f}, "
        f"{converted.get_int_custom_property('size_bytes')} bytes"
    )
    assert delta != 0
    assert converted.get_int_custom_property("within_bound") == 0
    reason = converted.get_string_custom_property("reason")
    assert reason.startswith("|AUC float - TFLite| = ") and " > " in reason
    assert (tmp_path / "tflite" / tflite.TFLITE_FILE).is_file()  # kept, for a look

    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    blessing.set_int_custom_property("blessed", 1)
    blessing.set_int_custom_property("current_model_id", 1)
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed")
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=str(tmp_path / "serving"))
    )
    AtomicPusherExecutor().Do(
        {
            standard_component_specs.MODEL_KEY: [model_artifact],
            standard_component_specs.MODEL_BLESSING_KEY: [blessing],
            "tflite_model": [converted],
        },
        {standard_component_specs.PUSHED_MODEL_KEY: [pushed]},
        {standard_component_specs.PUSH_DESTINATION_KEY: proto_utils.proto_to_json(destination)},
    )
    assert pushed.get_int_custom_property("pushed") == 1
    version = Path(pushed.get_string_custom_property("pushed_destination"))
    assert (version / "saved_model.pb").is_file()
    assert not (version / tflite.TFLITE_FILE).exists()
    assert pushed.get_int_custom_property(TFLITE_PUSHED) == 0
    assert pushed.get_string_custom_property(TFLITE_REASON) == f"refused: {reason}"
    loaded = tf.saved_model.load(str(version))
    assert loaded.signatures[RAW_SIGNATURE].structured_outputs.keys() == {OUTPUT_KEY}
