"""The pushed SavedModel's two serving signatures, called as TF Serving would call them.

``serving_default`` takes serialized ``tf.Example`` (TF Serving's predict/classify
input); ``serving_raw`` takes the raw features as named tensors (a REST
``{"instances": [{...}]}`` body). Both run the Transform layer inside the model.
The tests load the version directory the session's real runs pushed (``clicks_runs``)
and send requests decoded from JSON by TF Serving's documented REST rules
(tests/support/tf_serving_rest.py), including the exact bodies of docs/serving.md's
``curl`` examples.
"""

from __future__ import annotations

import base64
import glob
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import tensorflow as tf

from components.model.exporter import OUTPUT_KEY, RAW_SIGNATURE, SERVING_SIGNATURE
from tests.support import tf_serving_rest

if TYPE_CHECKING:
    from tests.support.data import Runs

ROWS = 64


@pytest.fixture(scope="module")
def pushed_dir(clicks_runs: Runs) -> Path:
    """The version directory the first run pushed (TF Serving's ``<model>/<version>``)."""
    assert clicks_runs.first.pushed
    return Path(clicks_runs.first.pushed_destination or "")


@pytest.fixture(scope="module")
def loaded(pushed_dir: Path) -> Any:
    """The pushed SavedModel, loaded the way TF Serving's loader reads it."""
    return tf.saved_model.load(str(pushed_dir))


@pytest.fixture(scope="module")
def serialized(clicks_runs: Runs) -> list[bytes]:
    """Raw ``tf.Example`` rows of an ingested eval split (CsvExampleGen's output)."""
    root = clicks_runs.config.outputs.pipeline_root
    files = sorted(glob.glob(str(root / "CsvExampleGen" / "examples" / "*" / "Split-eval" / "*")))
    assert files
    dataset = tf.data.TFRecordDataset(files[:1], compression_type="GZIP").take(ROWS)
    return [record.numpy() for record in dataset]


def _raw_values(loaded: Any, serialized: list[bytes]) -> dict[str, np.ndarray]:
    """The raw features of the rows, one value each, typed as ``serving_raw`` takes them."""
    inputs = loaded.signatures[RAW_SIGNATURE].structured_input_signature[1]
    spec = {name: tf.io.FixedLenFeature([], tensor.dtype) for name, tensor in inputs.items()}
    parsed = tf.io.parse_example(tf.constant(serialized), spec)
    return {name: value.numpy() for name, value in parsed.items()}


def _json_value(value: Any) -> Any:
    """A numpy scalar as the JSON a REST client sends (bytes as text)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return value.item() if hasattr(value, "item") else value


def _predict(loaded: Any, body_text: str) -> np.ndarray:
    """Decodes a JSON request body as TF Serving does and runs its signature."""
    name, tensors = tf_serving_rest.to_tensors(json.loads(body_text), loaded.signatures)
    return loaded.signatures[name](**tensors)[OUTPUT_KEY].numpy()


def test_both_signatures_give_identical_predictions(loaded: Any, serialized: list[bytes]) -> None:
    from_examples = loaded.signatures[SERVING_SIGNATURE](examples=tf.constant(serialized))
    raw = _raw_values(loaded, serialized)
    from_raw = loaded.signatures[RAW_SIGNATURE](**{k: tf.constant(v) for k, v in raw.items()})
    a, b = from_examples[OUTPUT_KEY].numpy(), from_raw[OUTPUT_KEY].numpy()
    assert a.shape == b.shape == (len(serialized), 1)
    assert ((a > 0) & (a < 1)).all()
    # Same Transform layer, same model, same rows: the same numbers.
    np.testing.assert_array_equal(a, b)
    assert len(np.unique(a)) > 1  # not a constant output that would match trivially


def test_rest_row_format_requests_as_tf_serving_receives_them(
    loaded: Any, serialized: list[bytes]
) -> None:
    expected = loaded.signatures[SERVING_SIGNATURE](examples=tf.constant(serialized))[
        OUTPUT_KEY
    ].numpy()
    b64 = [base64.b64encode(example).decode("ascii") for example in serialized]
    # serving_default has one named input: instances may be the values themselves…
    values_body = json.dumps({"instances": [{"b64": text} for text in b64]})
    # …or objects naming it.
    named_body = json.dumps(
        {"signature_name": SERVING_SIGNATURE, "instances": [{"examples": {"b64": t}} for t in b64]}
    )
    raw = _raw_values(loaded, serialized)
    raw_body = json.dumps(
        {
            "signature_name": RAW_SIGNATURE,
            "instances": [
                {name: _json_value(column[i]) for name, column in raw.items()}
                for i in range(len(serialized))
            ],
        }
    )
    np.testing.assert_array_equal(_predict(loaded, values_body), expected)
    np.testing.assert_array_equal(_predict(loaded, named_body), expected)
    # JSON carries float32 values as decimal text; parsing them back gives the same floats.
    np.testing.assert_allclose(_predict(loaded, raw_body), expected, rtol=0, atol=1e-6)


def test_rest_decoding_rejects_what_tf_serving_rejects(loaded: Any) -> None:
    signatures = loaded.signatures
    good = {
        "price": 9.34,
        "rating": 4.5,
        "position": 11,
        "user_ctr": 0.3,
        "item_ctr": 0.1,
        "purchase_quantity": 1,
        "device": "tablet",
        "region": "eu",
        "item_category": "grocery",
        "hour": 13,
    }
    with pytest.raises(tf_serving_rest.RestRequestError, match="expected an integer"):
        tf_serving_rest.to_tensors(
            {"signature_name": RAW_SIGNATURE, "instances": [{**good, "hour": 13.5}]}, signatures
        )
    with pytest.raises(tf_serving_rest.RestRequestError, match="missing inputs \\['price'\\]"):
        incomplete = {k: v for k, v in good.items() if k != "price"}
        tf_serving_rest.to_tensors(
            {"signature_name": RAW_SIGNATURE, "instances": [incomplete]}, signatures
        )
    with pytest.raises(
        tf_serving_rest.RestRequestError, match="b64 object decodes only to DT_STRING"
    ):
        tf_serving_rest.to_tensors(
            {"signature_name": RAW_SIGNATURE, "instances": [{**good, "hour": {"b64": "MTM="}}]},
            signatures,
        )


def _readme_bodies(repo: Path) -> dict[str, dict[str, Any]]:
    """The JSON bodies of docs/serving.md's curl examples, keyed by signature."""
    text = (repo / "docs" / "serving.md").read_text(encoding="utf-8")
    bodies = {}
    for body in re.findall(r"curl -s -X POST [^\n]*:predict \\\n\s+-d '(\{.*?\})'", text, re.S):
        parsed = json.loads(body)
        bodies[parsed.get("signature_name", SERVING_SIGNATURE)] = parsed
    assert set(bodies) == {SERVING_SIGNATURE, RAW_SIGNATURE}, "curl examples not in docs/serving.md"
    return bodies


def _cli_inputs(show: str, signature: str) -> dict[str, str]:
    """``saved_model_cli show --all``'s inputs of one signature: name -> dtype."""
    block = show.split(f"signature_def['{signature}']:", 1)[1].split("signature_def[", 1)[0]
    inputs = block.split("following output(s):", 1)[0]
    return dict(re.findall(r"inputs\['([^']+)'\] tensor_info:\s+dtype: (DT_\w+)", inputs))


def test_saved_model_cli_shows_the_inputs_the_readme_example_sends(
    repo: Path, pushed_dir: Path, loaded: Any
) -> None:
    cli = Path(sys.executable).with_name("saved_model_cli")
    show = subprocess.run(
        [str(cli), "show", "--dir", str(pushed_dir), "--all"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    raw_inputs = _cli_inputs(show, RAW_SIGNATURE)
    assert _cli_inputs(show, SERVING_SIGNATURE) == {"examples": "DT_STRING"}

    bodies = _readme_bodies(repo)
    (instance,) = bodies[RAW_SIGNATURE]["instances"]
    json_types = {str: "DT_STRING", int: "DT_INT64", float: "DT_FLOAT"}
    assert {name: json_types[type(value)] for name, value in instance.items()} == raw_inputs

    # docs/serving.md's serving_default example is the same instance as a serialized tf.Example.
    (encoded,) = bodies[SERVING_SIGNATURE]["instances"]
    example = tf.train.Example.FromString(base64.b64decode(encoded["b64"]))
    for name, value in instance.items():
        feature = example.features.feature[name]
        kind = feature.WhichOneof("kind")
        stored = getattr(feature, kind).value
        if kind == "float_list":
            assert list(stored) == pytest.approx([value]), name
        else:
            assert list(stored) == [value.encode() if isinstance(value, str) else value], name

    # And both requests of docs/serving.md give the same probability for it.
    by_raw = _predict(loaded, json.dumps(bodies[RAW_SIGNATURE]))
    by_example = _predict(loaded, json.dumps(bodies[SERVING_SIGNATURE]))
    assert by_raw.shape == (1, 1)
    np.testing.assert_allclose(by_raw, by_example, rtol=0, atol=1e-6)
