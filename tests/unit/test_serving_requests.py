"""Requests for TF Serving: protos, REST bodies, warm-up files, and the predict client.

A small real SavedModel with the clicks model's two signatures (same input names and
dtypes, a fixed formula instead of a trained network) stands in for the trained model,
so every request is run through real signatures in seconds. The client's REST bodies
are captured by a real HTTP server (tests/support/receivers.py) that decodes them by
TF Serving's documented REST rules (tests/support/tf_serving_rest.py); its gRPC
requests by a real gRPC server implementing TF Serving's ``PredictionService``.
"""

from __future__ import annotations

import base64
import csv
import gzip
import itertools
import json
import os
import shutil
import threading
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.utils import proto_utils

from components import pusher, warmup
from components.model import serving_requests
from components.model.exporter import OUTPUT_KEY, RAW_SIGNATURE, SERVING_SIGNATURE
from pipeline.config import DEFAULT_CONFIG, load_config
from tests.support import tf_serving_rest
from tests.support.cli import REPO, error_paragraph, run_cli
from tests.support.config import write_config
from tests.support.receivers import HttpReceiver

CSV = REPO / "data" / "clicks" / "2026-11-01" / "clicks.csv"


@pytest.fixture(scope="module")
def inputs() -> dict[str, tf.dtypes.DType]:
    """The clicks model's raw inputs, typed by the curated schema."""
    config = load_config(DEFAULT_CONFIG)
    return serving_requests.schema_inputs(config.schema_file, config.features)


def _formula(features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """A fixed function of every raw feature: each one changes the probability."""
    score = tf.zeros_like(features["price"])
    for name, value in sorted(features.items()):
        if value.dtype == tf.string:
            value = tf.cast(tf.strings.to_hash_bucket_fast(value, 7), tf.float32)
        score += 0.01 * tf.cast(value, tf.float32) * (1 + len(name) % 3)
    return {OUTPUT_KEY: tf.reshape(tf.sigmoid(score - 1.0), [-1, 1])}


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory, inputs: dict) -> Path:
    """A SavedModel with ``serving_default`` and ``serving_raw`` over the clicks inputs."""
    parse_spec = {name: tf.io.FixedLenFeature([], dtype) for name, dtype in inputs.items()}
    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def default(examples: tf.Tensor) -> dict[str, tf.Tensor]:
        return _formula(tf.io.parse_example(examples, parse_spec))

    @tf.function(
        input_signature=[
            {name: tf.TensorSpec([None], dtype, name=name) for name, dtype in inputs.items()}
        ]
    )
    def raw(features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return _formula(features)

    path = tmp_path_factory.mktemp("model") / "1"
    tf.saved_model.save(
        module,
        str(path),
        signatures={
            SERVING_SIGNATURE: default.get_concrete_function(),
            RAW_SIGNATURE: raw.get_concrete_function(),
        },
    )
    return path


@pytest.fixture(scope="module")
def loaded(saved_model: Path) -> Any:
    return tf.saved_model.load(str(saved_model))


@pytest.fixture(scope="module")
def csv_rows() -> list[dict[str, str]]:
    with CSV.open(encoding="utf-8") as handle:
        return list(itertools.islice(csv.DictReader(handle), 8))


def _run(loaded: Any, signature: str, tensors: dict[str, Any]) -> np.ndarray:
    outputs = loaded.signatures[signature](**{k: tf.constant(v) for k, v in tensors.items()})
    return outputs[OUTPUT_KEY].numpy()


# --- typing rows ---------------------------------------------------------------------------


def test_signature_and_schema_agree_on_the_inputs(saved_model: Path, inputs: dict) -> None:
    assert serving_requests.signature_inputs(saved_model) == inputs
    assert inputs["position"] == tf.int64
    assert inputs["price"] == tf.float32
    assert inputs["device"] == tf.string
    assert "clicked" not in inputs and "user_id" not in inputs  # label and ids are not inputs
    assert serving_requests.saved_model_signatures(saved_model) == [
        SERVING_SIGNATURE,
        RAW_SIGNATURE,
    ]


def test_csv_text_is_typed_by_the_inputs(inputs: dict, csv_rows: list) -> None:
    (row,) = serving_requests.typed_rows(csv_rows[:1], inputs)
    assert row["position"] == int(csv_rows[0]["position"]) and isinstance(row["position"], int)
    assert row["price"] == float(csv_rows[0]["price"])
    assert row["device"] == csv_rows[0]["device"].encode()
    assert set(row) == set(inputs)


def test_a_bad_cell_names_its_row_and_column(inputs: dict, csv_rows: list) -> None:
    rows = [dict(csv_rows[0]), dict(csv_rows[1], position="third")]
    with pytest.raises(serving_requests.RequestError, match=r"row 1 column 'position'.*int64"):
        serving_requests.typed_rows(rows, inputs)
    with pytest.raises(serving_requests.RequestError, match="not an integer"):
        serving_requests.typed_rows([dict(csv_rows[0], hour="1.5")], inputs)


def test_a_missing_value_is_absent_from_the_example_and_refused_by_serving_raw(
    inputs: dict, csv_rows: list
) -> None:
    typed = serving_requests.typed_rows([dict(csv_rows[0], purchase_quantity="")], inputs)
    assert typed[0]["purchase_quantity"] is None
    assert "purchase_quantity" not in serving_requests.to_example(typed[0]).features.feature
    with pytest.raises(serving_requests.RequestError, match="row 0 has no value for"):
        serving_requests.predict_request(typed, inputs, RAW_SIGNATURE)


# --- PredictRequest ------------------------------------------------------------------------


def test_predict_requests_of_both_signatures_give_the_same_predictions(
    inputs: dict, loaded: Any, csv_rows: list
) -> None:
    typed = serving_requests.typed_rows(csv_rows, inputs)
    default = serving_requests.predict_request(typed, inputs, SERVING_SIGNATURE, "clicks")
    raw = serving_requests.predict_request(typed, inputs, RAW_SIGNATURE, "clicks", label="canary")
    assert default.model_spec.name == "clicks"
    assert default.model_spec.signature_name == SERVING_SIGNATURE
    assert not default.model_spec.HasField("version") and not default.model_spec.version_label
    assert raw.model_spec.version_label == "canary"
    assert list(default.inputs) == ["examples"]
    examples = default.inputs["examples"]
    assert examples.dtype == tf.string.as_datatype_enum
    assert [d.size for d in examples.tensor_shape.dim] == [len(csv_rows)]
    parsed = tf.train.Example.FromString(examples.string_val[0])
    assert parsed.features.feature["position"].int64_list.value == [typed[0]["position"]]
    assert set(raw.inputs) == set(inputs)
    for name, dtype in inputs.items():
        assert raw.inputs[name].dtype == dtype.as_datatype_enum
    by_default = _run(
        loaded, SERVING_SIGNATURE, {k: tf.make_ndarray(v) for k, v in default.inputs.items()}
    )
    by_raw = _run(loaded, RAW_SIGNATURE, {k: tf.make_ndarray(v) for k, v in raw.inputs.items()})
    assert by_default.shape == (len(csv_rows), 1)
    np.testing.assert_allclose(by_default, by_raw, rtol=1e-6)
    assert len(np.unique(by_default)) > 1


def test_version_and_label_are_exclusive(inputs: dict, csv_rows: list) -> None:
    typed = serving_requests.typed_rows(csv_rows[:1], inputs)
    request = serving_requests.predict_request(typed, inputs, RAW_SIGNATURE, "m", version=3)
    assert request.model_spec.version.value == 3
    with pytest.raises(serving_requests.RequestError, match="not both"):
        serving_requests.predict_request(typed, inputs, RAW_SIGNATURE, "m", 3, "stable")
    with pytest.raises(serving_requests.RequestError, match="not both"):
        serving_requests.rest_path("m", 3, "stable")


# --- REST bodies ---------------------------------------------------------------------------


def test_rest_paths() -> None:
    assert serving_requests.rest_path("clicks") == "/v1/models/clicks:predict"
    assert serving_requests.rest_path("clicks", 7) == "/v1/models/clicks/versions/7:predict"
    assert (
        serving_requests.rest_path("clicks", label="stable")
        == "/v1/models/clicks/labels/stable:predict"
    )


def test_rest_bodies_follow_tf_servings_json_mapping(
    inputs: dict, loaded: Any, csv_rows: list
) -> None:
    typed = serving_requests.typed_rows(csv_rows, inputs)
    raw = json.loads(json.dumps(serving_requests.rest_body(typed, inputs, RAW_SIGNATURE)))
    assert raw["signature_name"] == RAW_SIGNATURE
    first = raw["instances"][0]
    assert set(first) == set(inputs)
    # Row format: JSON integers for int64, numbers for float32, strings for string inputs.
    assert isinstance(first["position"], int) and isinstance(first["hour"], int)
    assert isinstance(first["price"], float)
    assert first["device"] == csv_rows[0]["device"]
    default = json.loads(json.dumps(serving_requests.rest_body(typed, inputs, SERVING_SIGNATURE)))
    assert default["signature_name"] == SERVING_SIGNATURE
    serialized = base64.b64decode(default["instances"][0]["examples"]["b64"])
    assert tf.train.Example.FromString(serialized) == serving_requests.to_example(typed[0])
    # Decoded as TF Serving decodes them, both bodies run and agree.
    results = []
    for body in (raw, default):
        name, tensors = tf_serving_rest.to_tensors(body, loaded.signatures)
        results.append(loaded.signatures[name](**tensors)[OUTPUT_KEY].numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6)


def test_no_rows_and_unknown_signatures_are_refused(inputs: dict) -> None:
    with pytest.raises(serving_requests.RequestError, match="no rows"):
        serving_requests.rest_body([], inputs, RAW_SIGNATURE)
    with pytest.raises(serving_requests.RequestError, match="'predict' is not one of"):
        serving_requests.rest_body([{}], inputs, "predict")


# --- warm-up -------------------------------------------------------------------------------


def _examples_artifact(root: Path, rows: list[dict[str, str]], inputs: dict) -> Any:
    """An ExampleGen ``Examples`` artifact whose eval split holds these rows (gzipped)."""
    artifact = standard_artifacts.Examples()
    artifact.uri = str(root)
    artifact.split_names = '["train", "eval"]'
    split = root / "Split-eval"
    split.mkdir(parents=True)
    typed = serving_requests.typed_rows(rows, inputs)
    with tf.io.TFRecordWriter(str(split / "data_tfrecord-00000-of-00001.gz"), "GZIP") as writer:
        for row in typed:
            writer.write(serving_requests.to_example(row).SerializeToString())
    return artifact


def _copy(saved_model: Path, tmp_path: Path) -> Path:
    shutil.copytree(saved_model, tmp_path / "version")
    return tmp_path / "version"


def test_warmup_requests_are_built_from_complete_eval_rows(
    tmp_path: Path, saved_model: Path, inputs: dict, loaded: Any, csv_rows: list
) -> None:
    version = _copy(saved_model, tmp_path)
    rows = [dict(csv_rows[0], rating="")] + csv_rows[1:]  # the first row is incomplete
    examples = _examples_artifact(tmp_path / "examples", rows, inputs)
    count, reason = warmup.add_to_version(str(version), examples)
    logs = warmup.read(version)
    assert count == len(logs) == 2 * len(warmup.BATCH_SIZES)
    assert "serving_default, serving_raw" in reason
    sizes = []
    for log in logs:
        request = log.predict_log.request
        tensors = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
        outputs = _run(loaded, request.model_spec.signature_name, tensors)
        sizes.append((request.model_spec.signature_name, len(outputs)))
        assert ((outputs > 0) & (outputs < 1)).all()
    # Seven complete rows: batches of 1, 4 and 7, for each signature.
    assert sizes == [(s, n) for s in (SERVING_SIGNATURE, RAW_SIGNATURE) for n in (1, 4, 7)]
    first = logs[0].predict_log.request.inputs["examples"].string_val[0]
    assert tf.train.Example.FromString(first) == serving_requests.to_example(
        serving_requests.typed_rows(csv_rows[1:2], inputs)[0]
    )


def test_no_complete_eval_row_writes_no_warmup(
    tmp_path: Path, saved_model: Path, inputs: dict, csv_rows: list
) -> None:
    version = _copy(saved_model, tmp_path)
    rows = [dict(row, price="") for row in csv_rows]
    examples = _examples_artifact(tmp_path / "examples", rows, inputs)
    count, reason = warmup.add_to_version(str(version), examples)
    assert count == 0 and "no eval row" in reason and "price" in reason
    assert not (version / warmup.WARMUP_FILE).exists()


def test_the_pusher_writes_warmup_into_the_version_before_it_appears(
    tmp_path: Path,
    saved_model: Path,
    inputs: dict,
    csv_rows: list,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "model")
    shutil.copytree(saved_model, tmp_path / "model" / "Format-Serving")
    model.id = 7
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    blessing.set_int_custom_property("blessed", 1)
    blessing.set_int_custom_property("current_model_id", 7)
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed")
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(
            base_directory=str(tmp_path / "serving" / "clicks")
        )
    )
    input_dict = {
        standard_component_specs.MODEL_KEY: [model],
        standard_component_specs.MODEL_BLESSING_KEY: [blessing],
        pusher.EXAMPLES_KEY: [_examples_artifact(tmp_path / "examples", csv_rows, inputs)],
    }
    output_dict = {standard_component_specs.PUSHED_MODEL_KEY: [pushed]}
    properties = {
        standard_component_specs.PUSH_DESTINATION_KEY: proto_utils.proto_to_json(destination)
    }
    real_rename = os.rename
    seen = []

    def watch(source: str, target: str) -> None:
        if Path(source, "saved_model.pb").exists():  # the version, not models.config
            seen.append(len(warmup.read(source)))
        real_rename(source, target)

    monkeypatch.setattr(pusher.os, "rename", watch)
    pusher.AtomicPusherExecutor().Do(input_dict, output_dict, properties)
    final = Path(pushed.get_string_custom_property("pushed_destination"))
    assert seen == [2 * len(warmup.BATCH_SIZES)]  # complete when the rename made it visible
    assert pushed.get_int_custom_property(pusher.WARMUP_REQUESTS) == 6
    assert "6 requests" in pushed.get_string_custom_property(pusher.WARMUP_REASON)
    assert len(warmup.read(final)) == 6
    assert len(warmup.read(pushed.uri)) == 6  # the archived copy matches


# --- the predict client against real servers -----------------------------------------------


def _tf_serving_rest(loaded: Any):
    """A ``reply`` for HttpReceiver: decode the body as TF Serving does and run it."""

    def reply(path: str, body: Any) -> tuple[int, Any]:
        try:
            name, tensors = tf_serving_rest.to_tensors(body, loaded.signatures)
        except tf_serving_rest.RestRequestError as err:
            return 400, {"error": str(err)}
        return 200, {"predictions": loaded.signatures[name](**tensors)[OUTPUT_KEY].numpy().tolist()}

    return reply


def _local(loaded: Any, inputs: dict, rows: list, signature: str) -> np.ndarray:
    typed = serving_requests.typed_rows(rows, inputs)
    return _run(loaded, signature, serving_requests.input_arrays(typed, inputs, signature))


@pytest.mark.parametrize("signature", [SERVING_SIGNATURE, RAW_SIGNATURE])
def test_predict_over_rest_sends_tf_servings_row_format(
    tmp_path: Path, loaded: Any, inputs: dict, csv_rows: list, signature: str
) -> None:
    config = write_config(tmp_path)
    with HttpReceiver(reply=_tf_serving_rest(loaded)) as server:
        host = server.url.removeprefix("http://")
        args = ["predict", "--config", str(config), "--host", host, str(CSV), "--rows", "5"]
        result = run_cli([*args, "--signature", signature, "--json"])
    assert result.returncode == 0, result.stderr
    ((path, body, headers),) = server.requests
    assert path == "/v1/models/clicks/labels/stable:predict"
    assert headers["Content-Type"] == "application/json"
    assert body["signature_name"] == signature
    assert len(body["instances"]) == 5
    answer = json.loads(result.stdout)
    assert answer["target"] == f"{server.url}{path}"
    expected = _local(loaded, inputs, csv_rows[:5], signature)
    np.testing.assert_allclose(answer["predictions"], expected, rtol=1e-6)


def test_a_rest_error_is_one_paragraph_naming_the_url(tmp_path: Path, loaded: Any) -> None:
    config = write_config(tmp_path)

    def not_found(path: str, body: Any) -> tuple[int, Any]:
        return 404, {"error": "Servable not found for request: Label(clicks, canary)"}

    with HttpReceiver(reply=not_found) as server:
        host = server.url.removeprefix("http://")
        result = run_cli(
            ["predict", "--config", str(config), "--host", host, "--label", "canary", str(CSV)]
        )
    assert result.returncode == 2
    line = error_paragraph(result.stderr)
    assert f"{server.url}/v1/models/clicks/labels/canary:predict answered 404" in line
    assert "Servable not found" in line


class _Recorder(prediction_service_pb2_grpc.PredictionServiceServicer):
    """TF Serving's PredictionService: records each request and runs it on the model."""

    def __init__(self, loaded: Any) -> None:
        self.loaded = loaded
        self.requests: list[predict_pb2.PredictRequest] = []
        self.lock = threading.Lock()

    def Predict(self, request: predict_pb2.PredictRequest, context: Any) -> Any:  # noqa: N802
        with self.lock:
            self.requests.append(request)
        signature = self.loaded.signatures[request.model_spec.signature_name]
        tensors = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
        response = predict_pb2.PredictResponse()
        response.model_spec.CopyFrom(request.model_spec)
        for key, value in signature(**tensors).items():
            response.outputs[key].CopyFrom(tf.make_tensor_proto(value.numpy()))
        return response


def test_predict_over_grpc_sends_a_predict_request(
    tmp_path: Path, loaded: Any, inputs: dict, csv_rows: list
) -> None:
    config = write_config(tmp_path)
    recorder = _Recorder(loaded)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(recorder, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        args = ["predict", "--config", str(config), "--grpc", f"127.0.0.1:{port}", str(CSV)]
        result = run_cli([*args, "--rows", "3", "--signature", RAW_SIGNATURE, "--version", "7"])
    finally:
        server.stop(grace=None)
    assert result.returncode == 0, result.stderr
    (request,) = recorder.requests
    assert request.model_spec.name == "clicks"
    assert request.model_spec.signature_name == RAW_SIGNATURE
    assert request.model_spec.version.value == 7 and not request.model_spec.version_label
    assert set(request.inputs) == set(inputs)
    assert request.inputs["position"].dtype == tf.int64.as_datatype_enum
    assert list(tf.make_ndarray(request.inputs["position"])) == [
        int(row["position"]) for row in csv_rows[:3]
    ]
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith(f"# 3 rows, {RAW_SIGNATURE}, grpc://127.0.0.1:{port}/clicks")
    expected = _local(loaded, inputs, csv_rows[:3], RAW_SIGNATURE)
    np.testing.assert_allclose([float(line) for line in lines[1:]], expected[:, 0], atol=1e-6)


def test_an_unreachable_grpc_server_is_one_paragraph(tmp_path: Path) -> None:
    from pipeline.devtools.services import free_ports

    (port,) = free_ports(1)
    config = write_config(tmp_path)
    result = run_cli(
        ["predict", "--config", str(config), "--grpc", f"127.0.0.1:{port}", str(CSV)]
        + ["--timeout", "2"]
    )
    assert result.returncode == 2
    assert "UNAVAILABLE" in error_paragraph(result.stderr)


def test_a_gzipped_csv_with_a_bom_is_read_like_the_pipeline_reads_it(tmp_path: Path) -> None:
    from pipeline.serving import client

    text = CSV.read_text(encoding="utf-8").replace(",", ";")
    path = tmp_path / "rows.csv.gz"
    path.write_bytes(gzip.compress(("\ufeff" + text).encode("utf-8")))
    rows = client.read_csv_rows(path, ";", limit=2)
    assert len(rows) == 2 and "impression_id" in rows[0]
    with pytest.raises(client.PredictError, match="data.delimiter"):
        client.read_csv_rows(path, ",", limit=2)
