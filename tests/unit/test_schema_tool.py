"""Schema diffing, newest-span resolution, inference over the clicks spans, the ``schema`` CLI."""

from __future__ import annotations

import dataclasses
import datetime
import glob
from pathlib import Path

import pytest
import yaml
from tensorflow_metadata.proto.v0 import schema_pb2

from pipeline.config import DEFAULT_CONFIG, PipelineConfig, load_config
from pipeline.devtools import clickgen
from pipeline.onboarding.diff import diff_schemas
from pipeline.spans import newest_span as newest_span_pattern
from tests.support.data import E2E_START

FIRST_DAY = E2E_START  # write_click_spans' default start (the two_days fixture)


def _schema(
    features: dict[str, int] | None = None, domains: dict[str, list[str]] | None = None
) -> schema_pb2.Schema:
    schema = schema_pb2.Schema()
    for name, feature_type in (features or {}).items():
        feature = schema.feature.add(name=name, type=feature_type)
        if domains and name in domains:
            feature.domain = name
    for name, values in (domains or {}).items():
        schema.string_domain.add(name=name, value=values)
    return schema


BASE_FEATURES = {"device": schema_pb2.BYTES, "price": schema_pb2.FLOAT, "clicked": schema_pb2.INT}
BASE_DOMAINS = {"device": ["desktop", "mobile", "tablet"]}


def _base() -> schema_pb2.Schema:
    return _schema(BASE_FEATURES, BASE_DOMAINS)


# --- diff_schemas ----------------------------------------------------------------------


def test_identical_schemas_have_no_diff() -> None:
    assert diff_schemas(_base(), _base()) == []
    assert diff_schemas(schema_pb2.Schema(), schema_pb2.Schema()) == []


def test_added_feature() -> None:
    new = _schema({**BASE_FEATURES, "rating": schema_pb2.FLOAT}, BASE_DOMAINS)
    assert diff_schemas(_base(), new) == ["+ feature rating: FLOAT"]


def test_added_feature_without_type() -> None:
    new = _base()
    new.feature.add(name="untyped")
    assert diff_schemas(_base(), new) == ["+ feature untyped"]


def test_removed_feature() -> None:
    features = dict(BASE_FEATURES)
    del features["price"]
    assert diff_schemas(_base(), _schema(features, BASE_DOMAINS)) == ["- feature price"]


def test_type_change() -> None:
    new = _schema({**BASE_FEATURES, "clicked": schema_pb2.FLOAT}, BASE_DOMAINS)
    lines = diff_schemas(_base(), new)
    assert lines == ["~ feature clicked: type INT -> FLOAT"]
    assert lines[0].startswith("~ feature clicked: type")


def test_other_feature_property_change() -> None:
    new = _base()
    new.feature[1].presence.min_fraction = 1.0
    (line,) = diff_schemas(_base(), new)
    assert line.startswith("~ feature price: presence (unset) -> ")


def test_string_domain_values_added_and_removed() -> None:
    new = _schema(BASE_FEATURES, {"device": ["desktop", "mobile", "tv", "watch"]})
    assert diff_schemas(_base(), new) == [
        "~ string domain device: values +['tv', 'watch'] -['tablet']"
    ]


def test_string_domain_value_added_only() -> None:
    new = _schema(BASE_FEATURES, {"device": ["desktop", "mobile", "tablet", "tv"]})
    assert diff_schemas(_base(), new) == ["~ string domain device: values +['tv']"]


def test_string_domain_value_removed_only() -> None:
    new = _schema(BASE_FEATURES, {"device": ["desktop", "mobile"]})
    assert diff_schemas(_base(), new) == ["~ string domain device: values -['tablet']"]


def test_string_domain_added_and_removed() -> None:
    old = _schema({}, {"region": ["eu"]})
    new = _schema({}, {"device": ["mobile"]})
    assert diff_schemas(old, new) == ["+ string domain device", "- string domain region"]


def test_no_old_schema_lists_everything_as_added() -> None:
    lines = diff_schemas(None, _base())
    assert lines == [
        "+ feature clicked: INT",
        "+ feature device: BYTES",
        "+ feature price: FLOAT",
        "+ string domain device",
    ]


def test_features_are_listed_before_domains_and_sorted() -> None:
    old = _schema({"b": schema_pb2.INT, "z": schema_pb2.INT}, {"q": ["1"]})
    new = _schema({"a": schema_pb2.INT, "c": schema_pb2.INT}, {"p": ["1"]})
    assert diff_schemas(old, new) == [
        "+ feature a: INT",
        "- feature b",
        "+ feature c: INT",
        "- feature z",
        "+ string domain p",
        "- string domain q",
    ]


def test_reordered_string_domain_values_are_no_change() -> None:
    new = _schema(BASE_FEATURES, {"device": ["tablet", "mobile", "desktop"]})
    assert diff_schemas(_base(), new) == []


def test_values_added_to_an_empty_string_domain() -> None:
    old = _schema(BASE_FEATURES, {"device": []})
    assert diff_schemas(old, _base()) == [
        "~ string domain device: values +['desktop', 'mobile', 'tablet']"
    ]


# --- newest span and schema inference on generated data --------------------------------


def _config_for(data_root: Path, schema_file: Path) -> PipelineConfig:
    config = load_config(DEFAULT_CONFIG)
    return dataclasses.replace(
        config,
        data=dataclasses.replace(config.data, input_base=data_root),
        schema_file=schema_file,
    )


def test_newest_span_is_the_second_day(two_days: Path, tmp_path: Path) -> None:
    span, pattern = newest_span_pattern(_config_for(two_days, tmp_path / "schema.pbtxt"))
    second_day = FIRST_DAY + datetime.timedelta(days=1)
    assert span == (second_day - datetime.date(1970, 1, 1)).days
    assert pattern == str(two_days / second_day.isoformat() / "*.csv")
    assert glob.glob(pattern) == [str(two_days / second_day.isoformat() / "clicks.csv")]


def test_newest_span_on_an_empty_directory_raises(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    config = _config_for(empty, tmp_path / "schema.pbtxt")
    with pytest.raises(FileNotFoundError) as info:
        newest_span_pattern(config)
    assert config.data.span_pattern in str(info.value)
    assert str(empty) in str(info.value)


def test_infer_schema_has_every_column(two_days: Path, tmp_path: Path) -> None:
    from pipeline.onboarding.schema import read_schema, schema_for, write_schema

    result = schema_for(_config_for(two_days, tmp_path / "schema.pbtxt"))
    assert result.fresh and result.current is None
    assert len(result.spans) == 2  # the window, not the newest span alone
    schema = result.schema
    names = [feature.name for feature in schema.feature]
    assert len(names) == 14
    assert set(names) == set(clickgen.COLUMNS)
    types = {feature.name: feature.type for feature in schema.feature}
    assert types["clicked"] == schema_pb2.INT
    assert types["price"] == schema_pb2.FLOAT
    assert types["device"] == schema_pb2.BYTES
    domains = {domain.name: set(domain.value) for domain in schema.string_domain}
    assert domains["device"] == set(clickgen.DEVICES)
    # Round trip through the text file the CLI writes: no diff.
    assert read_schema(tmp_path / "schema.pbtxt") is None
    write_schema(schema, tmp_path / "sub" / "schema.pbtxt")
    assert diff_schemas(read_schema(tmp_path / "sub" / "schema.pbtxt"), schema) == []


# --- the CLI ---------------------------------------------------------------------------


def test_schema_cli_on_missing_data_exits_2(tmp_path: Path) -> None:
    from pipeline.cli import main

    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    (tmp_path / "none").mkdir()
    raw["data"]["input_base"] = str(tmp_path / "none")
    raw["schema_file"] = str(tmp_path / "schema.pbtxt")
    config_file = tmp_path / "pipeline.yaml"
    config_file.write_text(yaml.safe_dump(raw), encoding="utf-8")
    assert main(["schema", "--config", str(config_file), "--dry-run"]) == 2
