"""Loading a config file: the YAML's shape, its errors, and environment overrides.

A private model per YAML section that is written in a shorthand (``outputs.root``,
``validation.skew.serving_data``; ``evaluation``'s is in :mod:`pipeline.config.evaluation`)
validates the file as written and builds the frozen section (:mod:`pipeline.config.sections`);
the other sections validate themselves. pydantic's errors become one
:class:`ConfigError` that names the file and each key.
"""

from __future__ import annotations

import dataclasses
import os
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.dataclasses import dataclass as pydantic_dataclass
from pydantic_core import ErrorDetails
from tensorflow_metadata.proto.v0 import anomalies_pb2

from components.model.features import FeatureSpec
from components.model.hparams import Hyperparameters
from pipeline.config.evaluation import EvaluationSection
from pipeline.config.fields import (
    FORBID_UNKNOWN,
    ConfigPath,
    Count,
    Limit,
    Section,
    Text,
    Texts,
    built_by,
    expect,
)
from pipeline.config.sections import (
    DEFAULT_LABEL_DRIFT,
    DEFAULT_LOCK_TIMEOUT_SECONDS,
    AirflowConfig,
    AlertsConfig,
    DataConfig,
    DistanceThresholds,
    ExportConfig,
    OutputsConfig,
    PipelineConfig,
    ServingConfig,
    TrainingConfig,
    ValidationConfig,
    measures,
)

BUNDLED_CONFIGS = Path(__file__).resolve().parents[1] / "configs"
DEFAULT_CONFIG = BUNDLED_CONFIGS / "clicks.yaml"

# Environment variables a runner (CLI, DAG) may use to relocate inputs and outputs.
ENV_DATA_ROOT = "PIPELINE_DATA_ROOT"
ENV_OUTPUT_ROOT = "PIPELINE_OUTPUT_ROOT"
ENV_SERVING_DIR = "PIPELINE_SERVING_DIR"
ENV_METADATA_PATH = "PIPELINE_METADATA_PATH"


class ConfigError(ValueError):
    """A config file is missing, malformed or inconsistent (message names file and key)."""


@pydantic_dataclass(frozen=True, config=FORBID_UNKNOWN)
class _Skew(DistanceThresholds):
    """``validation.skew`` as written: the limits and where the serving logs are."""

    serving_data: ConfigPath | None = None


class _Validation(BaseModel):
    """The ``validation`` section as written."""

    model_config = FORBID_UNKNOWN

    warn_only: Texts = ()
    drift: Section[DistanceThresholds] = DistanceThresholds()
    skew: Section[_Skew] = _Skew()
    open_domains: Annotated[Texts, expect("a list of string column names")] = ()
    max_domain_values: Count = 100
    label_drift: Limit | None = DEFAULT_LABEL_DRIFT

    @field_validator("warn_only")
    @classmethod
    def _known_anomaly_types(cls, kinds: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(kinds) - set(anomalies_pb2.AnomalyInfo.Type.keys()))
        if unknown:
            raise ValueError(
                f"validation.warn_only has unknown anomaly types {unknown}; use names of "
                "tensorflow_metadata's AnomalyInfo.Type, e.g. FEATURE_TYPE_LOW_FRACTION_PRESENT"
            )
        return kinds

    def check_features(self, features: FeatureSpec) -> None:
        """Raises ValueError if a per-feature limit names a feature that is not compared."""
        compared = set(measures(features))
        for name, limits in (("drift", self.drift), ("skew", self.skew)):
            unknown = sorted(set(limits.features) - compared)
            if unknown:
                raise ValueError(
                    f"validation.{name}.features names {unknown}, which are not numeric, "
                    "bucketized or categorical features of this config"
                )
        unknown = sorted(set(self.open_domains) - {*features.categorical, *features.ignored})
        if unknown:
            raise ValueError(
                f"validation.open_domains names {unknown}, which are not categorical or "
                "ignored columns of this config (only string columns have domains)"
            )

    def typed(self) -> ValidationConfig:
        """Returns the frozen data gate policy."""
        skew = self.skew
        return ValidationConfig(
            warn_only=self.warn_only,
            drift=self.drift,
            skew=DistanceThresholds(skew.jensen_shannon, skew.l_infinity, skew.features),
            serving_data=skew.serving_data,
            open_domains=self.open_domains,
            max_domain_values=self.max_domain_values,
            label_drift=self.label_drift,
        )


class _Outputs(BaseModel):
    """The ``outputs`` section as written: ``root`` or each location."""

    model_config = FORBID_UNKNOWN

    root: ConfigPath = Field(default=Path("outputs"), validate_default=True)
    pipeline_root: ConfigPath | None = None
    metadata_path: ConfigPath | None = None
    serving_dir: ConfigPath | None = None
    min_free_mb: Annotated[
        int,
        Strict(),
        Field(ge=0),
        expect(
            "a whole number of MiB >= 0 (the free space pipeline root, serving dir and "
            "metadata directory need before a run; 0: none)"
        ),
    ] = 1024
    lock_timeout_seconds: Annotated[
        float,
        Strict(),
        Field(ge=0),
        expect(
            "a number of seconds >= 0 (how long a run waits for another run of the same "
            "SQLite metadata; 0: refuse at once)"
        ),
    ] = DEFAULT_LOCK_TIMEOUT_SECONDS

    def typed(self, pipeline_name: str) -> OutputsConfig:
        """Returns the frozen locations, each under ``root`` unless set on its own."""
        return OutputsConfig(
            pipeline_root=self.pipeline_root or self.root / "pipelines" / pipeline_name,
            metadata_path=self.metadata_path or self.root / "metadata" / f"{pipeline_name}.sqlite",
            serving_dir=self.serving_dir or self.root / "serving",
            min_free_mb=self.min_free_mb,
            lock_timeout_seconds=self.lock_timeout_seconds,
        )


class _ConfigFile(BaseModel):
    """A whole config file as written (the top-level keys, in the bundled files' order)."""

    model_config = FORBID_UNKNOWN

    pipeline_name: Annotated[str, Strict(), Field(min_length=1), expect("a non-empty string")]
    model_name: Text | None = None
    schema_file: ConfigPath
    data: Section[DataConfig]
    features: Annotated[FeatureSpec, built_by(FeatureSpec.from_dict), expect("a mapping")]
    model: Annotated[Hyperparameters, built_by(Hyperparameters.from_dict), expect("a mapping")] = (
        Hyperparameters()
    )
    training: Section[TrainingConfig] = TrainingConfig()
    evaluation: Section[EvaluationSection]
    validation: Section[_Validation] = _Validation()
    outputs: Section[_Outputs]
    beam_args: Annotated[Texts, expect("a list of --flag=value strings")] = ()
    export: Section[ExportConfig] = ExportConfig()
    airflow: Section[AirflowConfig] = AirflowConfig()
    alerts: Section[AlertsConfig] = AlertsConfig()
    serving: Section[ServingConfig] = ServingConfig()

    @model_validator(mode="after")
    def _columns_are_configured(self) -> _ConfigFile:
        # Checks across sections: evaluation and validation name the features' columns.
        self.evaluation.check_columns(self.features)
        self.validation.check_features(self.features)
        return self

    def typed(self, source: Path) -> PipelineConfig:
        """Returns the frozen config loaded from ``source``."""
        return PipelineConfig(
            source=source,
            pipeline_name=self.pipeline_name,
            model_name=self.model_name or self.pipeline_name,
            schema_file=self.schema_file,
            data=self.data,
            features=self.features,
            model=self.model,
            evaluation=self.evaluation.typed(),
            outputs=self.outputs.typed(self.pipeline_name),
            validation=self.validation.typed(),
            beam_args=self.beam_args,
            export=self.export,
            training=self.training,
            airflow=self.airflow,
            alerts=self.alerts,
            serving=self.serving,
        )


# --- error messages ----------------------------------------------------------------------

_UNKNOWN_KEY = ("extra_forbidden", "unexpected_keyword_argument")


def _key(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _fields_of(node: Any) -> dict[str, Any]:
    # BaseModel sections list their fields in model_fields, pydantic dataclasses in
    # __pydantic_fields__.
    return getattr(node, "model_fields", None) or node.__pydantic_fields__


def _section_at(loc: tuple[int | str, ...]) -> Any:
    # The section class at an error's key, for the keys it knows: a field's type,
    # a list's item type, each without Optional and Annotated.
    node: Any = _ConfigFile
    for part in loc:
        node = get_args(node)[0] if isinstance(part, int) else _fields_of(node)[part].annotation
        while get_origin(node) in (Union, types.UnionType, Annotated):
            node = next(arg for arg in get_args(node) if arg is not type(None))
    return node


def _describe(errors: list[ErrorDetails]) -> str:
    """Renders pydantic's errors as ``key must be ..., got value`` sentences."""
    sentences: list[str] = []
    unknown: dict[tuple[int | str, ...], list[str]] = {}
    for error in errors:
        loc, kind = tuple(error["loc"]), error["type"]
        if kind in _UNKNOWN_KEY:
            unknown.setdefault(loc[:-1], []).append(str(loc[-1]))
        elif kind == "value_error":
            # Validators name their keys themselves (some keys hold an index).
            sentences.append(str(error["ctx"]["error"]))
        elif kind == "missing":
            sentences.append(f"missing required key {_key(loc)!r}")
        elif kind == "expected":
            sentences.append(f"{_key(loc)} {error['msg']}, got {error['input']!r}")
        else:
            sentences.append(f"{_key(loc)}: {error['msg']}, got {error['input']!r}")
    for parent, keys in unknown.items():
        known = sorted(_fields_of(_section_at(parent)))
        where = _key(parent) or "top-level"
        sentences.insert(0, f"unknown {where} keys {sorted(keys)}; known keys are {known}")
    return "; ".join(sentences)


# --- loading -----------------------------------------------------------------------------


def load_config(path: str | os.PathLike[str] = DEFAULT_CONFIG) -> PipelineConfig:
    """Loads and validates a pipeline config file.

    Args:
        path: A YAML config file. Relative paths inside it resolve against its
            directory, or, for a config bundled in the package, against the current
            working directory (see the module docstring).

    Returns:
        The frozen config.

    Raises:
        ConfigError: If the file is missing, is not valid YAML, or is inconsistent;
            the message names the file and each offending key.
    """
    source = Path(path).resolve()
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {source} does not exist") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {source} is not valid YAML: {err}") from None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"config file {source} must hold a YAML mapping at the top level")
    # A bundled config ships inside the package, wherever it is installed: its
    # relative paths name the user's working directory, not site-packages.
    base = Path.cwd() if source.parent == BUNDLED_CONFIGS else source.parent
    try:
        parsed = _ConfigFile.model_validate(raw, context={"base": base})
    except ValidationError as err:
        raise ConfigError(f"config file {source}: {_describe(err.errors())}") from None
    return parsed.typed(source)


def with_env_overrides(
    config: PipelineConfig, environ: Mapping[str, str] | None = None
) -> PipelineConfig:
    """Relocates data and outputs from environment variables (runners only).

    ``PIPELINE_DATA_ROOT`` replaces ``data.input_base``; ``PIPELINE_OUTPUT_ROOT``
    moves pipeline root, metadata and serving dir under one directory;
    ``PIPELINE_SERVING_DIR`` and ``PIPELINE_METADATA_PATH`` move just those.

    Args:
        config: The loaded config.
        environ: The environment to read (default ``os.environ``).

    Returns:
        A new config with the overrides applied.
    """
    env = os.environ if environ is None else environ
    data, outputs = config.data, config.outputs
    if env.get(ENV_DATA_ROOT):
        data = dataclasses.replace(data, input_base=Path(env[ENV_DATA_ROOT]).resolve())
    if env.get(ENV_OUTPUT_ROOT):
        root = Path(env[ENV_OUTPUT_ROOT]).resolve()
        outputs = dataclasses.replace(
            outputs,
            pipeline_root=root / "pipelines" / config.pipeline_name,
            metadata_path=root / "metadata" / f"{config.pipeline_name}.sqlite",
            serving_dir=root / "serving",
        )
    if env.get(ENV_SERVING_DIR):
        outputs = dataclasses.replace(outputs, serving_dir=Path(env[ENV_SERVING_DIR]).resolve())
    if env.get(ENV_METADATA_PATH):
        outputs = dataclasses.replace(outputs, metadata_path=Path(env[ENV_METADATA_PATH]).resolve())
    return dataclasses.replace(config, data=data, outputs=outputs)
