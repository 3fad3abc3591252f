"""Loading, validation and environment overrides of the pipeline config."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from components.model.features import FeatureSpec
from components.model.hparams import Hyperparameters
from pipeline.config import (
    BUNDLED_CONFIGS,
    DEFAULT_CONFIG,
    ENV_DATA_ROOT,
    ENV_METADATA_PATH,
    ENV_OUTPUT_ROOT,
    ENV_SERVING_DIR,
    ConfigError,
    DataConfig,
    ExportConfig,
    PipelineConfig,
    TrainingConfig,
    load_config,
    loading,
    with_env_overrides,
)
from tests.support.cli import REPO
from tests.support.config import expect_config_error, write_config

ENV_KEYS = (ENV_DATA_ROOT, ENV_OUTPUT_ROOT, ENV_SERVING_DIR, ENV_METADATA_PATH)


@pytest.fixture(autouse=True)
def _no_pipeline_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's shell may export these; the tests must not depend on it.
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)


@pytest.fixture()
def default_config(monkeypatch: pytest.MonkeyPatch) -> PipelineConfig:
    # The bundled config names the working directory: the repository root, as `make run`.
    monkeypatch.chdir(REPO)
    return load_config(DEFAULT_CONFIG)


# --- the default config ----------------------------------------------------------------


def test_default_config_loads(default_config: PipelineConfig) -> None:
    assert DEFAULT_CONFIG == REPO / "pipeline" / "configs" / "clicks.yaml"
    assert default_config.source == DEFAULT_CONFIG
    assert default_config.pipeline_name == "clicks"
    assert default_config.model_name == "clicks"
    assert default_config.data.span_pattern == "{YYYY}-{MM}-{DD}/*.csv"
    assert default_config.data.window_spans == 3
    assert default_config.features.label == "clicked"
    assert default_config.features.bucketized == (("hour", 6),)
    assert default_config.features.crosses == (("device", "item_category"), ("device", "hour"))
    assert isinstance(default_config.features, FeatureSpec)
    assert isinstance(default_config.model, Hyperparameters)
    assert default_config.model.hidden_units == (32, 16)
    assert default_config.training.distribution_strategy == "default"
    assert default_config.evaluation.gate_metric == "AUC"
    assert default_config.evaluation.lower_bound == pytest.approx(0.65)
    assert default_config.evaluation.max_regression == pytest.approx(0.01)
    assert default_config.evaluation.slices == (("device",), ("region",))
    # Beam's DirectRunner defaults (in-process, one worker), without TFX's
    # per-component sdist build that any Beam argument triggers.
    assert default_config.beam_args == ()


def test_default_config_paths_resolve_against_the_repository_root(
    default_config: PipelineConfig,
) -> None:
    assert default_config.data.input_base == REPO / "data" / "clicks"
    assert default_config.data.input_base.is_dir()
    assert default_config.schema_file == REPO / "schemas" / "clicks" / "schema.pbtxt"
    assert default_config.schema_file.is_file()
    outputs = default_config.outputs
    assert outputs.pipeline_root == REPO / "outputs" / "pipelines" / "clicks"
    assert outputs.metadata_path == REPO / "outputs" / "metadata" / "clicks.sqlite"
    assert outputs.serving_dir == REPO / "outputs" / "serving"
    assert default_config.push_dir == REPO / "outputs" / "serving" / "clicks"


def test_bundled_config_paths_resolve_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A wheel install: the package's configs, run where the user keeps data/ and schemas/.
    monkeypatch.chdir(tmp_path)
    base = tmp_path.resolve()
    for name in ("clicks", "penguin", "wine"):
        config = load_config(BUNDLED_CONFIGS / f"{name}.yaml")
        assert config.schema_file == base / "schemas" / name / "schema.pbtxt"
        assert config.data.input_base == base / "data" / name
        assert config.outputs.pipeline_root == base / "outputs" / "pipelines" / name
        assert config.outputs.metadata_path == base / "outputs" / "metadata" / f"{name}.sqlite"
        assert config.push_dir == base / "outputs" / "serving" / name


def test_the_rule_follows_the_installed_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Installed elsewhere (site-packages), the bundled folder is wherever the package is.
    installed = tmp_path / "site-packages" / "pipeline" / "configs"
    installed.mkdir(parents=True)
    (installed / "clicks.yaml").write_text(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    monkeypatch.setattr(loading, "BUNDLED_CONFIGS", installed.resolve())
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    config = load_config(installed / "clicks.yaml")
    assert config.schema_file == work.resolve() / "schemas" / "clicks" / "schema.pbtxt"
    assert config.outputs.serving_dir == work.resolve() / "outputs" / "serving"


def test_relative_config_path_means_the_same_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def relative(raw: dict[str, Any]) -> None:
        raw["data"]["input_base"] = "spans"

    (tmp_path / "configs").mkdir()
    write_config(tmp_path / "configs", relative)
    monkeypatch.chdir(tmp_path / "configs")
    here = load_config("pipeline.yaml")
    monkeypatch.chdir(tmp_path)
    assert load_config("configs/pipeline.yaml") == here
    assert here.data.input_base == tmp_path.resolve() / "configs" / "spans"


def test_relative_paths_in_another_config_resolve_against_that_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def relative(raw: dict[str, Any]) -> None:
        raw["data"]["input_base"] = "spans"
        raw["schema_file"] = "schema/schema.pbtxt"
        raw["outputs"] = {"root": "out", "serving_dir": "/srv/models"}

    path = write_config(tmp_path, relative)
    monkeypatch.chdir(REPO)
    config = load_config(path)
    base = tmp_path.resolve()
    assert config.data.input_base == base / "spans"
    assert config.schema_file == base / "schema" / "schema.pbtxt"
    assert config.outputs.pipeline_root == base / "out" / "pipelines" / "clicks"
    assert config.outputs.metadata_path == base / "out" / "metadata" / "clicks.sqlite"
    assert config.outputs.serving_dir == Path("/srv/models")


def test_absolute_paths_stay_whatever_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def absolute(raw: dict[str, Any]) -> None:
        raw["outputs"] = {"root": str(tmp_path / "out"), "metadata_path": "/var/lib/m.sqlite"}

    path = write_config(tmp_path, absolute)
    monkeypatch.chdir(REPO)
    config = load_config(path)
    assert config.schema_file == REPO / "schemas" / "clicks" / "schema.pbtxt"
    assert config.data.input_base == REPO / "data" / "clicks"
    assert config.outputs.serving_dir == tmp_path.resolve() / "out" / "serving"
    assert config.outputs.metadata_path == Path("/var/lib/m.sqlite")


def test_environment_variables_in_paths_are_expanded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLICKS_TEST_DATA", str(tmp_path / "somewhere"))

    def with_var(raw: dict[str, Any]) -> None:
        raw["data"]["input_base"] = "$CLICKS_TEST_DATA/spans"

    config = load_config(write_config(tmp_path, with_var))
    assert config.data.input_base == tmp_path.resolve() / "somewhere" / "spans"


def test_config_is_frozen(default_config: PipelineConfig) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        default_config.pipeline_name = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        default_config.data.input_base = Path("/elsewhere")  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        default_config.outputs.serving_dir = Path("/elsewhere")  # type: ignore[misc]


# --- errors name the file and the key --------------------------------------------------


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


def test_missing_file(tmp_path: Path) -> None:
    expect_config_error(tmp_path / "nope.yaml", "does not exist")


def test_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("pipeline_name: clicks\ndata: [unclosed\n", encoding="utf-8")
    expect_config_error(path, "not valid YAML")


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    expect_config_error(path, "mapping")


def test_unknown_top_level_key(tmp_path: Path) -> None:
    expect_config_error(
        write_config(tmp_path, lambda raw: raw.update(colour="blue")), "top-level", "colour"
    )


def test_unknown_data_key(tmp_path: Path) -> None:
    expect_config_error(
        write_config(tmp_path, lambda raw: raw["data"].update(windows=3)), "data keys", "windows"
    )


def test_missing_features_label(tmp_path: Path) -> None:
    expect_config_error(
        write_config(tmp_path, lambda raw: raw["features"].pop("label")), "features.label"
    )


def test_gate_metric_not_in_metrics(tmp_path: Path) -> None:
    def gate(raw: dict[str, Any]) -> None:
        raw["evaluation"]["gate_metric"] = "F1Score"

    expect_config_error(write_config(tmp_path, gate), "evaluation.gate_metric", "F1Score")


def test_span_pattern_without_span_spec(tmp_path: Path) -> None:
    def pattern(raw: dict[str, Any]) -> None:
        raw["data"]["span_pattern"] = "*/*.csv"

    expect_config_error(write_config(tmp_path, pattern), "data.span_pattern", "*/*.csv")


@pytest.mark.parametrize("pattern", ["span-{SPAN}/*.csv", "{YYYY}{MM}{DD}/*.csv"])
def test_span_pattern_with_span_spec_is_accepted(tmp_path: Path, pattern: str) -> None:
    def set_pattern(raw: dict[str, Any]) -> None:
        raw["data"]["span_pattern"] = pattern

    assert load_config(write_config(tmp_path, set_pattern)).data.span_pattern == pattern


def test_slice_on_unknown_column(tmp_path: Path) -> None:
    def slices(raw: dict[str, Any]) -> None:
        raw["evaluation"]["slices"] = [["device"], ["browser"]]

    expect_config_error(write_config(tmp_path, slices), "evaluation.slices", "browser")


def test_slice_given_as_a_bare_column_name(tmp_path: Path) -> None:
    def slices(raw: dict[str, Any]) -> None:
        raw["evaluation"]["slices"] = ["device", ["region", "device"]]

    config = load_config(write_config(tmp_path, slices))
    assert config.evaluation.slices == (("device",), ("region", "device"))


def test_bad_distribution_strategy(tmp_path: Path) -> None:
    def strategy(raw: dict[str, Any]) -> None:
        raw["training"]["distribution_strategy"] = "tpu"

    expect_config_error(write_config(tmp_path, strategy), "training.distribution_strategy", "tpu")


def test_airflow_timeout_for_a_node_no_task_runs(tmp_path: Path) -> None:
    def timeouts(raw: dict[str, Any]) -> None:
        # A resolver runs inside its consumer's task: it has no timeout of its own.
        raw["airflow"] = {"task_timeouts": {"Trainer": 60, "span_window": 30}}

    expect_config_error(
        write_config(tmp_path, timeouts), "airflow.task_timeouts", "span_window", "Trainer"
    )


def test_airflow_run_timeout_must_outlast_the_data_wait(tmp_path: Path) -> None:
    def timeouts(raw: dict[str, Any]) -> None:
        raw["airflow"] = {"wait_for_data_seconds": 7200, "dagrun_timeout_seconds": 3600}

    expect_config_error(
        write_config(tmp_path, timeouts), "airflow.dagrun_timeout_seconds", "wait_for_data_seconds"
    )


def test_negative_max_regression(tmp_path: Path) -> None:
    def regression(raw: dict[str, Any]) -> None:
        raw["evaluation"]["max_regression"] = -0.1

    expect_config_error(write_config(tmp_path, regression), "evaluation.max_regression")


def test_missing_required_section(tmp_path: Path) -> None:
    expect_config_error(write_config(tmp_path, lambda raw: raw.pop("evaluation")), "'evaluation'")


def test_missing_schema_file(tmp_path: Path) -> None:
    expect_config_error(write_config(tmp_path, lambda raw: raw.pop("schema_file")), "schema_file")


def test_unknown_model_key(tmp_path: Path) -> None:
    expect_config_error(
        write_config(tmp_path, lambda raw: raw["model"].update(layers=[3])), "model keys", "layers"
    )


def test_inconsistent_features(tmp_path: Path) -> None:
    def twice(raw: dict[str, Any]) -> None:
        raw["features"]["categorical"].append("price")

    expect_config_error(write_config(tmp_path, twice), "'price'", "numeric", "categorical")


def test_wrongly_typed_value(tmp_path: Path) -> None:
    def typed(raw: dict[str, Any]) -> None:
        raw["data"]["window_spans"] = "three"

    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, typed))
    assert str((tmp_path / "pipeline.yaml").resolve()) in str(info.value)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("window_spans", "3", "data.window_spans must be a whole number >= 1, got '3'"),
        ("window_spans", 0, "data.window_spans must be a whole number >= 1, got 0"),
        ("train_buckets", True, "data.train_buckets must be a whole number >= 1, got True"),
        ("span_pattern", 7, "data.span_pattern must be a string, got 7"),
    ],
)
def test_types_are_strict_and_errors_say_what_is_expected(
    tmp_path: Path, key: str, value: Any, message: str
) -> None:
    path = write_config(tmp_path, lambda raw: raw["data"].update({key: value}))
    with pytest.raises(ConfigError, match=f"^config file {path}: {message}$"):
        load_config(path)


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    def wrong(raw: dict[str, Any]) -> None:
        raw["data"].update(window_spans=0, colour="blue")
        raw["export"]["tflite"] = "yes"
        raw["outputs"].pop("root")
        raw["evaluation"].pop("gate_metric")

    expect_config_error(
        write_config(tmp_path, wrong),
        "unknown data keys ['colour']; known keys are ['delimiter', 'eval_buckets', 'input_base', ",
        "data.window_spans must be a whole number >= 1, got 0",
        "missing required key 'evaluation.gate_metric'",
        "export.tflite must be true or false, got 'yes'",
    )


# --- the training section --------------------------------------------------------------


def test_training_is_a_section_like_in_the_yaml(default_config: PipelineConfig) -> None:
    assert default_config.training == TrainingConfig(
        distribution_strategy="default", warm_start=True, workers=(), join_timeout_seconds=600.0
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        default_config.training.warm_start = False  # type: ignore[misc]


@pytest.mark.parametrize("training", [None, {}])
def test_an_empty_or_absent_training_section_means_the_defaults(
    tmp_path: Path, training: dict[str, Any] | None
) -> None:
    config = load_config(write_config(tmp_path, lambda raw: raw.update(training=training)))
    assert config.training == TrainingConfig()
    assert config.training.warm_start is False
    absent = load_config(write_config(tmp_path, lambda raw: raw.pop("training")))
    assert absent.training == TrainingConfig()


@pytest.mark.parametrize(
    ("training", "fragments"),
    [
        ({"gpus": 2}, ["unknown training keys ['gpus']", "'warm_start'"]),
        ({"warm_start": "yes"}, ["training.warm_start must be true or false, got 'yes'"]),
        ({"warm_start": 1}, ["training.warm_start must be true or false, got 1"]),
        ({"workers": [1, 2]}, ["training.workers[0] must be a string, got 1"]),
    ],
)
def test_bad_training_values_name_the_key(
    tmp_path: Path, training: dict[str, Any], fragments: list[str]
) -> None:
    path = write_config(tmp_path, lambda raw: raw["training"].update(training))
    expect_config_error(path, *fragments)


def test_sections_built_in_code_are_validated_too() -> None:
    # dataclasses.replace (the runners' overrides, tests) re-checks a section's fields.
    with pytest.raises(ValueError, match="window_spans\n  must be a whole number >= 1"):
        dataclasses.replace(DataConfig(input_base=REPO), window_spans=0)


# --- environment overrides -------------------------------------------------------------


def test_empty_environ_changes_nothing(default_config: PipelineConfig) -> None:
    assert with_env_overrides(default_config, {}) == default_config
    # Empty values count as unset.
    assert with_env_overrides(default_config, {key: "" for key in ENV_KEYS}) == default_config


def test_default_environ_is_os_environ(
    default_config: PipelineConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert with_env_overrides(default_config) == default_config
    monkeypatch.setenv(ENV_DATA_ROOT, str(tmp_path / "data"))
    assert with_env_overrides(default_config).data.input_base == tmp_path.resolve() / "data"


def test_data_root_replaces_input_base_only(default_config: PipelineConfig, tmp_path: Path) -> None:
    config = with_env_overrides(default_config, {ENV_DATA_ROOT: str(tmp_path / "spans")})
    assert config.data.input_base == tmp_path.resolve() / "spans"
    assert config.data.span_pattern == default_config.data.span_pattern
    assert config.outputs == default_config.outputs
    assert config.schema_file == default_config.schema_file
    assert default_config.data.input_base == REPO / "data" / "clicks"  # original untouched


def test_output_root_moves_all_outputs(default_config: PipelineConfig, tmp_path: Path) -> None:
    root = tmp_path / "run"
    config = with_env_overrides(default_config, {ENV_OUTPUT_ROOT: str(root)})
    root = root.resolve()
    assert config.outputs.pipeline_root == root / "pipelines" / "clicks"
    assert config.outputs.metadata_path == root / "metadata" / "clicks.sqlite"
    assert config.outputs.serving_dir == root / "serving"
    assert config.push_dir == root / "serving" / "clicks"
    assert config.data == default_config.data


def test_output_root_uses_the_pipeline_name(
    tmp_path: Path,
) -> None:
    def rename(raw: dict[str, Any]) -> None:
        raw["pipeline_name"] = "ctr"
        raw["model_name"] = "ctr_model"

    config = load_config(write_config(tmp_path, rename))
    moved = with_env_overrides(config, {ENV_OUTPUT_ROOT: str(tmp_path / "o")})
    assert moved.outputs.metadata_path == tmp_path.resolve() / "o" / "metadata" / "ctr.sqlite"
    assert moved.outputs.pipeline_root == tmp_path.resolve() / "o" / "pipelines" / "ctr"
    assert moved.push_dir == tmp_path.resolve() / "o" / "serving" / "ctr_model"


def test_serving_dir_and_metadata_path_move_just_those(
    default_config: PipelineConfig, tmp_path: Path
) -> None:
    config = with_env_overrides(
        default_config,
        {ENV_SERVING_DIR: str(tmp_path / "srv"), ENV_METADATA_PATH: str(tmp_path / "m.db")},
    )
    assert config.outputs.serving_dir == tmp_path.resolve() / "srv"
    assert config.outputs.metadata_path == tmp_path.resolve() / "m.db"
    assert config.outputs.pipeline_root == default_config.outputs.pipeline_root
    assert config.data == default_config.data


def test_specific_overrides_win_over_output_root(
    default_config: PipelineConfig, tmp_path: Path
) -> None:
    config = with_env_overrides(
        default_config,
        {ENV_OUTPUT_ROOT: str(tmp_path / "root"), ENV_SERVING_DIR: str(tmp_path / "srv")},
    )
    assert config.outputs.serving_dir == tmp_path.resolve() / "srv"
    assert config.outputs.pipeline_root == tmp_path.resolve() / "root" / "pipelines" / "clicks"


def test_overridden_config_is_still_frozen(default_config: PipelineConfig) -> None:
    config = with_env_overrides(default_config, {ENV_DATA_ROOT: "/data"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.model_name = "x"  # type: ignore[misc]


# --- import cost -----------------------------------------------------------------------


def test_importing_config_does_not_import_tensorflow() -> None:
    # The Airflow DAG loads the config at parse time, which must stay fast.
    env = {k: v for k, v in os.environ.items() if k not in ENV_KEYS}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, pipeline.config; print('tensorflow' in sys.modules, 'tfx' in sys.modules)",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "False False"


# --- the data gate's policy -------------------------------------------------------------


def test_default_drift_and_skew_thresholds(default_config: PipelineConfig) -> None:
    validation = default_config.validation
    assert validation.drift.jensen_shannon == 0.1 and validation.drift.l_infinity == 0.1
    assert validation.drift.features == {"price": 0.2}
    assert validation.serving_data is None


def test_serving_data_resolves_against_the_config_file(tmp_path: Path) -> None:
    def serving(raw: dict[str, Any]) -> None:
        raw["validation"]["skew"]["serving_data"] = "serving-logs"

    assert (
        load_config(write_config(tmp_path, serving)).validation.serving_data
        == tmp_path / "serving-logs"
    )


def test_drift_threshold_out_of_range(tmp_path: Path) -> None:
    def drift(raw: dict[str, Any]) -> None:
        raw["validation"]["drift"]["l_infinity"] = 1.5

    expect_config_error(write_config(tmp_path, drift), "validation.drift.l_infinity", "1.5")


def test_drift_threshold_for_an_unknown_feature(tmp_path: Path) -> None:
    def drift(raw: dict[str, Any]) -> None:
        raw["validation"]["drift"]["features"] = {"colour": 0.1}

    expect_config_error(write_config(tmp_path, drift), "validation.drift.features", "colour")


def test_unknown_skew_key(tmp_path: Path) -> None:
    def skew(raw: dict[str, Any]) -> None:
        raw["validation"]["skew"]["serving_path"] = "x"

    expect_config_error(write_config(tmp_path, skew), "validation.skew", "serving_path")


def test_unknown_warn_only_kind(tmp_path: Path) -> None:
    def warn(raw: dict[str, Any]) -> None:
        raw["validation"]["warn_only"] = ["NOT_A_KIND"]

    expect_config_error(write_config(tmp_path, warn), "validation.warn_only", "NOT_A_KIND")


def test_export_defaults_and_the_bundled_configs(tmp_path: Path) -> None:
    assert load_config(DEFAULT_CONFIG).export == ExportConfig(
        tflite=True, tflite_max_metric_delta=0.01
    )
    assert load_config(REPO / "pipeline" / "configs" / "wine.yaml").export.tflite is True
    # Without an export section: no TFLite node, and the default bound of one point.
    config = load_config(write_config(tmp_path, lambda raw: raw.pop("export")))
    assert config.export == ExportConfig(tflite=False, tflite_max_metric_delta=0.01)
    # An error metric (a regression's MSE) is not in [0, 1]: neither is its bound.
    wide = write_config(tmp_path, lambda raw: raw["export"].update(tflite_max_metric_delta=2.5))
    assert load_config(wide).export.tflite_max_metric_delta == 2.5


@pytest.mark.parametrize(
    ("export", "message"),
    [
        ({"tflite": "yes"}, "export.tflite must be true or false, got 'yes'"),
        (
            {"tflite_max_metric_delta": -0.01},
            r"export.tflite_max_metric_delta must be a finite number >= 0 in the gate metric's",
        ),
        (
            {"tflite_max_metric_delta": float("inf")},
            r"export.tflite_max_metric_delta must be a finite number >= 0",
        ),
        ({"tflite_max_metric_delta": "1 point"}, "export.tflite_max_metric_delta"),
        ({"tflite_quantization": "int8"}, r"unknown export keys \['tflite_quantization'\]"),
    ],
)
def test_bad_export_values(tmp_path: Path, export: dict[str, Any], message: str) -> None:
    path = write_config(tmp_path, lambda raw: raw["export"].update(export))
    with pytest.raises(ConfigError, match=f"{path}: {message}"):
        load_config(path)
