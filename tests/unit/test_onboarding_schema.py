"""``schema`` infers from what the pipeline sees, updates a curated schema, opens domains.

The statistics are real: the spans are decoded by the pipeline's own ExampleGen
executor and TFDV computes statistics over the Examples, as in a run. What
ExampleValidator runs on each split, ``tfdv.validate_statistics``, must find nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import glob
import os
import tempfile
from pathlib import Path

import pytest
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from pipeline.config import ConfigError, PipelineConfig, ValidationConfig, load_config
from pipeline.onboarding import diff, schema, statistics
from tests.support.onboarding import write_blank_spans, write_config

# One scratch folder per test module: the window statistics take a Beam run each.
_SCRATCH = tempfile.TemporaryDirectory(prefix="onboarding-schema-")
ROOT = Path(_SCRATCH.name)


@functools.cache
def _base() -> tuple[PipelineConfig, statistics.SpanStatistics]:
    """Two days of blank-riddled spans, their config and their window statistics."""
    data = ROOT / "base" / "data"
    write_blank_spans(data, days=2)
    config = load_config(write_config(ROOT / "base" / "c.yaml", data, ROOT / "base" / "s.pbtxt"))
    return config, statistics.window_statistics(config)


@functools.cache
def _grown() -> tuple[PipelineConfig, statistics.SpanStatistics]:
    """The base days plus a third with new values everywhere and a new column."""
    data = ROOT / "grown" / "data"
    write_blank_spans(data, days=2)
    write_blank_spans(data, days=1, first_day=2, new_values=True, extra_column=True)
    config = load_config(write_config(ROOT / "grown" / "c.yaml", data, ROOT / "grown" / "s.pbtxt"))
    return config, statistics.window_statistics(config)


@functools.cache
def _new_values_statistics() -> statistics_pb2.DatasetFeatureStatisticsList:
    """StatisticsGen's statistics of a later span whose device, plan and city are unseen."""
    data = ROOT / "later" / "data"
    write_blank_spans(data, days=1, first_day=5, new_values=True)
    config = load_config(write_config(ROOT / "later" / "c.yaml", data, ROOT / "later" / "s"))
    with statistics.decoded_window(config) as window:
        return window.statistics(statistics.pipeline_stats_options(config))


def _anomalies(
    stats: statistics_pb2.DatasetFeatureStatisticsList, inferred: schema_pb2.Schema
) -> dict[str, list[str]]:
    found = tfdv.validate_statistics(stats, inferred)
    return {
        name: [anomalies_pb2.AnomalyInfo.Type.Name(r.type) for r in info.reason]
        for name, info in found.anomaly_info.items()
    }


def _feature(inferred: schema_pb2.Schema, name: str) -> schema_pb2.Feature:
    return next(feature for feature in inferred.feature if feature.name == name)


# --- 1. inferred from what the pipeline sees ---------------------------------------------


def test_window_statistics_cover_every_span_of_the_window() -> None:
    config, window = _base()
    assert len(window.spans) == 2
    assert window.statistics.datasets[0].num_examples == 600  # both days, train + eval


def test_inferred_schema_passes_validation_on_every_split_it_came_from() -> None:
    config, window = _base()
    inferred, _ = schema.infer_schema(window.statistics, config.validation)
    assert _anomalies(window.statistics, inferred) == {}
    # ExampleValidator validates each split of each span on its own, as StatisticsGen
    # computed it (the label counted as classes).
    options = statistics.pipeline_stats_options(config)
    assert options is not None
    with tempfile.TemporaryDirectory() as scratch:
        for span in window.spans:
            statistics.decode_span(config, span, os.path.join(scratch, str(span)))
        splits = sorted(glob.glob(os.path.join(scratch, "*", "Split-*")))
        assert len(splits) == 4
        for split in splits:
            stats = tfdv.generate_statistics_from_tfrecord(
                os.path.join(split, "*"), stats_options=options
            )
            assert _anomalies(stats, inferred) == {}, split


def test_blank_cells_leave_a_column_without_shape_or_value_count() -> None:
    config, window = _base()
    inferred, _ = schema.infer_schema(window.statistics, config.validation)
    for name in ("amount", "visits", "device"):  # blanks: examples with zero values
        feature = _feature(inferred, name)
        assert not feature.HasField("shape"), name
        assert not feature.HasField("value_count"), name
    assert _feature(inferred, "label").shape.dim[0].size == 1  # never blank: dense
    assert _feature(inferred, "note").presence.min_count == 0  # blank everywhere


# --- 3. open and closed categorical columns ------------------------------------------------


def test_unseen_value_of_an_open_column_passes_and_of_a_closed_one_blocks() -> None:
    config, window = _base()
    validation = dataclasses.replace(config.validation, open_domains=("city",))
    inferred, opened = schema.infer_schema(window.statistics, validation)
    reasons = {column.name: column.reason for column in opened}
    assert reasons["city"] == "listed in validation.open_domains"
    assert "city" not in {domain.name for domain in inferred.string_domain}
    found = _anomalies(_new_values_statistics(), inferred)
    assert set(found) == {"device", "plan"}
    assert found["device"] == ["ENUM_TYPE_UNEXPECTED_STRING_VALUES"]


def test_a_column_with_more_values_than_max_domain_values_is_open() -> None:
    config, window = _base()
    assert config.validation.max_domain_values == 100  # city has ~150 values
    inferred, opened = schema.infer_schema(window.statistics, config.validation)
    reasons = {column.name: column.reason for column in opened}
    assert set(reasons) == {"city", "row_id"}  # row_id: 600 distinct values
    assert "distinct values > validation.max_domain_values 100" in reasons["city"]
    assert "city" not in _anomalies(_new_values_statistics(), inferred)


def test_without_open_domains_a_listed_column_is_closed() -> None:
    config, window = _base()
    validation = dataclasses.replace(config.validation, max_domain_values=1000)
    inferred, opened = schema.infer_schema(window.statistics, validation)
    assert opened == []
    assert "city" in {domain.name for domain in inferred.string_domain}
    assert "city" in _anomalies(_new_values_statistics(), inferred)


def test_open_domains_also_opens_a_curated_domain_on_update() -> None:
    curated = schema_pb2.Schema()
    feature = curated.feature.add(name="city", type=schema_pb2.BYTES, domain="city")
    feature.distribution_constraints.min_domain_mass = 0.9
    curated.string_domain.add(name="city", value=["a", "b"])
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    column = stats.datasets.add(num_examples=2).features.add(
        type=statistics_pb2.FeatureNameStatistics.STRING
    )
    column.path.step.append("city")
    column.string_stats.unique = 2
    opened = schema.open_domains(curated, stats, ValidationConfig(open_domains=("city",)))
    assert [column.name for column in opened] == ["city"]
    assert not curated.string_domain
    assert curated.feature[0].WhichOneof("domain_info") is None
    assert not curated.feature[0].HasField("distribution_constraints")


# --- 2. update, don't overwrite ------------------------------------------------------------


def _curated() -> schema_pb2.Schema:
    config, window = _base()
    curated, _ = schema.infer_schema(window.statistics, config.validation)
    device = _feature(curated, "device")
    device.distribution_constraints.min_domain_mass = 0.5
    device.drift_comparator.infinity_norm.threshold = 0.07
    device.skew_comparator.infinity_norm.threshold = 0.09
    return curated


def test_update_keeps_curated_settings_and_adds_new_columns_and_values() -> None:
    config, window = _grown()
    curated = _curated()
    schema.write_schema(curated, config.schema_file)
    result = schema.schema_for(config, window=window)
    assert not result.fresh
    device = _feature(result.schema, "device")
    assert device.distribution_constraints.min_domain_mass == 0.5
    assert device.drift_comparator.infinity_norm.threshold == pytest.approx(0.07)
    assert device.skew_comparator.infinity_norm.threshold == pytest.approx(0.09)
    # "watch" is a third of the window: within the curated mass, so not added.
    domains = {domain.name: set(domain.value) for domain in result.schema.string_domain}
    assert domains["device"] == {"desktop", "mobile", "tablet"}
    assert domains["plan"] == {"basic", "pro", "enterprise"}
    assert _feature(result.schema, "discount").type == schema_pb2.FLOAT
    lines = diff.diff_schemas(curated, result.schema)
    assert "+ feature discount: FLOAT" in lines
    assert "~ string domain plan: values +['enterprise']" in lines
    assert not [line for line in lines if "device" in line]
    assert _anomalies(window.statistics, result.schema) == {}


def test_fresh_reinfers_and_drops_what_was_curated() -> None:
    config, window = _grown()
    schema.write_schema(_curated(), config.schema_file)
    result = schema.schema_for(config, fresh=True, window=window)
    assert result.fresh
    device = _feature(result.schema, "device")
    assert not device.HasField("drift_comparator")
    assert not device.HasField("distribution_constraints")


def test_diff_shows_proto_field_names() -> None:
    old = schema_pb2.Schema()
    old.feature.add(name="device", type=schema_pb2.BYTES)
    new = schema_pb2.Schema()
    new.CopyFrom(old)
    new.feature[0].distribution_constraints.min_domain_mass = 0.9
    assert diff.diff_schemas(old, new) == [
        '~ feature device: distribution_constraints (unset) -> {"min_domain_mass": 0.9}'
    ]


# --- the config keys ---------------------------------------------------------------------


def test_validation_domain_keys_default_and_load(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path / "c.yaml", tmp_path, tmp_path / "s"))
    assert config.validation.open_domains == ()
    assert config.validation.max_domain_values == 100
    config = load_config(
        write_config(
            tmp_path / "d.yaml",
            tmp_path,
            tmp_path / "s",
            open_domains=["city"],
            max_domain_values=7,
        )
    )
    assert config.validation.open_domains == ("city",)
    assert config.validation.max_domain_values == 7


def test_open_domains_must_name_a_categorical_or_ignored_column(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.yaml", tmp_path, tmp_path / "s", open_domains=["amount"])
    with pytest.raises(ConfigError, match=r"validation.open_domains names \['amount'\]"):
        load_config(path)


def test_max_domain_values_must_be_a_whole_number(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.yaml", tmp_path, tmp_path / "s", max_domain_values=0)
    with pytest.raises(ConfigError, match="validation.max_domain_values must be a whole number"):
        load_config(path)


def test_update_drops_the_shape_of_a_column_that_now_has_blanks() -> None:
    current = schema_pb2.Schema()
    feature = current.feature.add(name="x", type=schema_pb2.FLOAT)
    feature.presence.min_fraction = 1.0
    feature.shape.dim.add(size=1)
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    column = stats.datasets.add(num_examples=10).features.add(
        type=statistics_pb2.FeatureNameStatistics.FLOAT
    )
    column.path.step.append("x")
    common = column.num_stats.common_stats
    common.num_non_missing, common.max_num_values, common.tot_num_values = 10, 1, 7
    assert "x" in _anomalies(stats, current)  # INVALID_FEATURE_SHAPE
    updated, _ = schema.update_schema(current, stats, ValidationConfig())
    assert not updated.feature[0].HasField("shape")
    assert updated.feature[0].presence.min_fraction == 1.0
    assert _anomalies(stats, updated) == {}
