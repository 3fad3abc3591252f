"""Transform's analyzer cache on the shared runs: used, exact, and never stale.

The shared runs (``clicks_runs``) train on days 1-2, rerun, then add day 3: that
Transform reads the analyzer cache the first run's Transform wrote (days 1-2) and
analyses only day 3. Here TFX's own Transform executor is run again on the same
window without the cache, and with the cache but a changed feature spec, and the
transform graphs are compared on real rows of the window.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.components.transform.executor import Executor as TransformExecutor
from tfx.types import artifact_utils, standard_artifacts

from components.model.features import FeatureSpec, transformed_name
from components.model.preprocessing import FEATURES_KEY
from pipeline import nodes as topology
from pipeline.mlmd import connection as metadata
from pipeline.mlmd import queries
from tests.support.data import Runs

PREPROCESSING_FN = "components.model.preprocessing.preprocessing_fn"


def _artifacts(runs: Runs, execution_id: int, key: str, event: int) -> list[types.Artifact]:
    """The TFX artifacts an execution read (or wrote) under ``key``, in event order."""
    store = metadata.open_store(runs.config)
    found = queries.artifacts(store, execution_id, key, event)
    kinds = {t.id: t for t in store.get_artifact_types_by_id([a.type_id for a in found])}
    return [artifact_utils.deserialize_artifact(kinds[a.type_id], a) for a in found]


def _transform(
    runs: Runs, root: Path, spec: FeatureSpec, cache: list[types.Artifact]
) -> tft.TFTransformOutput:
    """Runs TFX's Transform executor on the new span's window, as the pipeline does."""
    execution = runs.new_span.node(topology.TRANSFORM).execution_id
    graph = standard_artifacts.TransformGraph()
    graph.uri = str(root / "transform_graph")
    updated = standard_artifacts.TransformCache()
    updated.uri = str(root / "updated_analyzer_cache")
    inputs = {
        "examples": _artifacts(runs, execution, "examples", metadata_store_pb2.Event.INPUT),
        "schema": _artifacts(runs, execution, "schema", metadata_store_pb2.Event.INPUT),
    }
    if cache:
        inputs["analyzer_cache"] = cache
    TransformExecutor().Do(
        inputs,
        {"transform_graph": [graph], "updated_analyzer_cache": [updated]},
        {
            "preprocessing_fn": PREPROCESSING_FN,
            "custom_config": json.dumps({FEATURES_KEY: spec.to_dict()}),
            "disable_statistics": 1,
            "force_tf_compat_v1": 0,
        },
    )
    return tft.TFTransformOutput(graph.uri)


def _window_rows(runs: Runs, output: tft.TFTransformOutput) -> dict[str, tf.Tensor]:
    """500 raw rows of each span of the window's train split, parsed."""
    execution = runs.new_span.node(topology.TRANSFORM).execution_id
    examples = _artifacts(runs, execution, "examples", metadata_store_pb2.Event.INPUT)
    files = [
        name
        for uri in artifact_utils.get_split_uris(examples, "train")
        for name in sorted(tf.io.gfile.glob(f"{uri}/*"))
    ]
    records = tf.data.TFRecordDataset(files, compression_type="GZIP").take(1500)
    serialized = tf.stack(list(records))
    return tf.io.parse_example(serialized, output.raw_feature_spec())


def _assert_same_graph(
    expected: tft.TFTransformOutput,
    actual: tft.TFTransformOutput,
    spec: FeatureSpec,
    rows: dict[str, tf.Tensor],
) -> None:
    for key in spec.categorical:
        with open(expected.vocabulary_file_by_name(key), "rb") as want:
            with open(actual.vocabulary_file_by_name(key), "rb") as got:
                assert got.read() == want.read(), key
    want_values = expected.transform_raw_features(dict(rows))
    got_values = actual.transform_raw_features(dict(rows))
    assert set(got_values) == set(want_values)
    for name, value in want_values.items():
        # Mean/variance partials merged in another order may differ in the last bits
        # (float32: an absolute 1e-5 for z-scores near 0).
        np.testing.assert_allclose(
            got_values[name].numpy(), value.numpy(), rtol=1e-5, atol=1e-5, err_msg=name
        )


@pytest.fixture(scope="module")
def new_span_graph(clicks_runs: Runs) -> tft.TFTransformOutput:
    execution = clicks_runs.new_span.node(topology.TRANSFORM).execution_id
    (graph,) = _artifacts(
        clicks_runs, execution, "transform_graph", metadata_store_pb2.Event.OUTPUT
    )
    return tft.TFTransformOutput(graph.uri)


def test_new_span_reads_the_cache_the_first_run_wrote(clicks_runs: Runs) -> None:
    first = clicks_runs.first.node(topology.TRANSFORM).execution_id
    new = clicks_runs.new_span.node(topology.TRANSFORM).execution_id
    (written,) = _artifacts(
        clicks_runs, first, "updated_analyzer_cache", metadata_store_pb2.Event.OUTPUT
    )
    (read,) = _artifacts(clicks_runs, new, "analyzer_cache", metadata_store_pb2.Event.INPUT)
    assert read.id == written.id
    # One cache directory per analysed span: days 1-2, then days 1-3.
    (updated,) = _artifacts(
        clicks_runs, new, "updated_analyzer_cache", metadata_store_pb2.Event.OUTPUT
    )
    assert len(tf.io.gfile.listdir(read.uri)) == 2
    assert len(tf.io.gfile.listdir(updated.uri)) == 3


def test_cached_analysis_equals_a_full_analysis(
    clicks_runs: Runs, new_span_graph: tft.TFTransformOutput, tmp_path: Path
) -> None:
    spec = clicks_runs.config.features
    uncached = _transform(clicks_runs, tmp_path, spec, cache=[])
    _assert_same_graph(uncached, new_span_graph, spec, _window_rows(clicks_runs, uncached))


def test_a_changed_feature_spec_is_not_served_from_a_stale_cache(
    clicks_runs: Runs, new_span_graph: tft.TFTransformOutput, tmp_path: Path
) -> None:
    # The newest cache holds all three days for the pipeline's spec; hour's
    # quantiles for 6 buckets must not be reused for 3 (its analyzer's cache key
    # hashes its graph and settings), nor vocabularies cut at the old top_k.
    new = clicks_runs.new_span.node(topology.TRANSFORM).execution_id
    cache = _artifacts(clicks_runs, new, "updated_analyzer_cache", metadata_store_pb2.Event.OUTPUT)
    changed = dataclasses.replace(
        clicks_runs.config.features, bucketized=(("hour", 3),), vocab_top_k=2
    )
    cached = _transform(clicks_runs, tmp_path / "cached", changed, cache)
    uncached = _transform(clicks_runs, tmp_path / "uncached", changed, cache=[])
    rows = _window_rows(clicks_runs, uncached)
    _assert_same_graph(uncached, cached, changed, rows)
    hour = cached.transform_raw_features(dict(rows))[transformed_name("hour")].numpy()
    assert set(np.unique(hour)) == {0, 1, 2}
    old_hour = new_span_graph.transform_raw_features(dict(rows))[transformed_name("hour")]
    assert len(np.unique(old_hour.numpy())) == 6
    for key in changed.categorical:
        assert cached.vocabulary_size_by_name(key) <= 2
