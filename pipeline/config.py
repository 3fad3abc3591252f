"""The typed, frozen pipeline config, loaded once at the edge from a YAML file.

Relative paths in a config file are resolved against that file's directory, so a
config means the same thing whatever directory a command runs from. Environment
variables override paths only in the runners (see :func:`with_env_overrides`).
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml
from tensorflow_metadata.proto.v0 import anomalies_pb2

from components.distributed import cluster
from components.model.features import FeatureSpec
from components.model.hparams import STRATEGIES, Hyperparameters

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "clicks.yaml"

# Environment variables a runner (CLI, DAG) may use to relocate inputs and outputs.
ENV_DATA_ROOT = "PIPELINE_DATA_ROOT"
ENV_OUTPUT_ROOT = "PIPELINE_OUTPUT_ROOT"
ENV_SERVING_DIR = "PIPELINE_SERVING_DIR"
ENV_METADATA_PATH = "PIPELINE_METADATA_PATH"


class ConfigError(ValueError):
    """A config file is missing, malformed or inconsistent (message names file and key)."""


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the daily spans are and how they are split and windowed.

    Attributes:
        input_base: Directory holding one sub-directory (or file set) per span.
        span_pattern: CsvExampleGen pattern relative to ``input_base``, with a
            ``{SPAN}`` or ``{YYYY}-{MM}-{DD}`` spec; each run ingests the newest span.
        window_spans: Transform and Trainer read the newest this-many spans.
        train_buckets: Hash buckets of each span that go to the ``train`` split.
        eval_buckets: Hash buckets that go to the ``eval`` split.
    """

    input_base: Path
    span_pattern: str = "{YYYY}-{MM}-{DD}/*.csv"
    window_spans: int = 3
    train_buckets: int = 4
    eval_buckets: int = 1


@dataclasses.dataclass(frozen=True)
class SliceThreshold:
    """A blessing threshold on ``gate_metric`` for some slices of the eval split.

    In the YAML, ``slice`` maps each column to ``null`` (every value of the column
    is its own slice, TFMA ``SlicingSpec.feature_keys``) or to one value (TFMA
    ``SlicingSpec.feature_values``); ``{device: null, region: eu}`` means every
    device within region ``eu``. Each matching slice is checked on its own.

    Attributes:
        columns: Columns sliced by every value (``SlicingSpec.feature_keys``).
        values: ``(column, value)`` pairs fixing one value each
            (``SlicingSpec.feature_values``; TFMA matches ``"3"`` to the integer 3).
        lower_bound: Absolute floor for ``gate_metric`` on each matching slice;
            None: no floor.
        max_regression: How much lower than the baseline's value on the same slice
            ``gate_metric`` may be; None: no comparison with the baseline.
    """

    columns: tuple[str, ...] = ()
    values: tuple[tuple[str, str], ...] = ()
    lower_bound: float | None = None
    max_regression: float | None = None

    @property
    def name(self) -> str:
        """The slice as ``column=value`` pairs, ``*`` for every value (``device=*``)."""
        parts = [f"{column}=*" for column in self.columns]
        parts += [f"{column}={value}" for column, value in self.values]
        return ", ".join(parts)


@dataclasses.dataclass(frozen=True)
class EvaluationConfig:
    """TFMA metrics, slices and the blessing thresholds.

    Attributes:
        metrics: TFMA/Keras metric class names computed on the eval split.
        gate_metric: The metric the blessing thresholds apply to.
        lower_bound: Absolute floor: a model below it is never blessed.
        max_regression: How much lower than the baseline (latest blessed model)
            ``gate_metric`` may be and still bless; 0 means "not worse".
        slices: Feature-key tuples to slice metrics by (overall is always computed).
        slice_thresholds: Further thresholds on ``gate_metric`` per slice, checked
            in addition to the overall ones; every one must pass to bless.
    """

    metrics: tuple[str, ...]
    gate_metric: str
    lower_bound: float
    max_regression: float = 0.0
    slices: tuple[tuple[str, ...], ...] = ()
    slice_thresholds: tuple[SliceThreshold, ...] = ()


@dataclasses.dataclass(frozen=True)
class DistanceThresholds:
    """Limits on how far one feature distribution may move from another.

    TFDV measures numeric features with the Jensen-Shannon divergence (its
    L-infinity distance is 0 for numeric features, tensorflow/data-validation#147)
    and categorical features with the L-infinity distance of value frequencies.

    Attributes:
        jensen_shannon: Limit for numeric (and bucketized) features; None: not compared.
        l_infinity: Limit for categorical features; None: not compared.
        features: Per-feature limits overriding the two above (None: not compared).
    """

    jensen_shannon: float | None = None
    l_infinity: float | None = None
    features: Mapping[str, float | None] = dataclasses.field(default_factory=dict)

    def for_features(self, spec: FeatureSpec) -> dict[str, tuple[str, float]]:
        """Resolves each compared feature's measure and limit.

        Args:
            spec: Which columns are numeric, bucketized and categorical.

        Returns:
            Feature name -> (``"jensen_shannon"`` or ``"l_infinity"``, limit).
        """
        bucketized = [name for name, _ in spec.bucketized]
        kinds = {name: "jensen_shannon" for name in (*spec.numeric, *bucketized)}
        kinds.update({name: "l_infinity" for name in spec.categorical})
        defaults = {"jensen_shannon": self.jensen_shannon, "l_infinity": self.l_infinity}
        result = {}
        for name, kind in kinds.items():
            limit = self.features.get(name, defaults[kind])
            if limit is not None:
                result[name] = (kind, float(limit))
        return result


@dataclasses.dataclass(frozen=True)
class ValidationConfig:
    """The data gate's policy.

    Attributes:
        warn_only: Anomaly types (``AnomalyInfo.Type`` names, e.g.
            ``FEATURE_TYPE_LOW_FRACTION_PRESENT`` or
            ``COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH``) that are reported but do
            not stop the run; every other anomaly, and every distance over its
            limit, blocks training and pushing.
        drift: Limits between the newest span and the previous span that passed.
        skew: Limits between the newest span and serving-time data.
        serving_data: Directory of serving-time CSV logs in the same span layout as
            the training data (no label needed); None: no skew check.
    """

    warn_only: tuple[str, ...] = ()
    drift: DistanceThresholds = DistanceThresholds()
    skew: DistanceThresholds = DistanceThresholds()
    serving_data: Path | None = None


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """Extra artifacts pushed next to the SavedModel.

    Attributes:
        tflite: Convert the ``serving_raw`` signature (Transform graph included) to
            TFLite with dynamic-range quantization and push ``model.tflite`` in the
            version directory; adds the ``TFLiteConverter`` node.
        tflite_max_metric_delta: The largest allowed ``|float - TFLite|`` of the
            gate metric on the eval split of the newest span, in the metric's own
            units: 0.01 is one point of AUC or accuracy. Over it, ``model.tflite``
            is not pushed (the SavedModel still is).
    """

    tflite: bool = False
    tflite_max_metric_delta: float = 0.01


# Long enough for a late daily run to finish (a 1M-row day takes ~10 min, a
# multi-worker run with a slow worker longer), short enough that a stuck run is
# reported the same day instead of queueing a day's runs behind it.
DEFAULT_LOCK_TIMEOUT_SECONDS = 6 * 3600.0


@dataclasses.dataclass(frozen=True)
class OutputsConfig:
    """Where a run writes.

    Attributes:
        pipeline_root: TFX pipeline root; every artifact lives below it.
        metadata_path: SQLite ML Metadata database (MySQL is a runner concern).
        serving_dir: Pusher writes ``<serving_dir>/<model_name>/<version>/``.
        min_free_mb: Free space (MiB) each of pipeline root, serving dir and the
            SQLite metadata directory must have before a run starts
            (:mod:`pipeline.run.guards.output_check`); 0 checks only that they can be written.
        lock_timeout_seconds: How long a run waits for another run holding the
            SQLite metadata's run lock before refusing (0: refuse at once).
    """

    pipeline_root: Path
    metadata_path: Path
    serving_dir: Path
    min_free_mb: int = 1024
    lock_timeout_seconds: float = DEFAULT_LOCK_TIMEOUT_SECONDS


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """Everything the pipeline's topology and components need.

    Attributes:
        source: The config file this was loaded from.
        pipeline_name: TFX pipeline name (the ML Metadata pipeline context).
        model_name: Served model name (directory under ``outputs.serving_dir``).
        schema_file: The curated schema imported by ImportSchemaGen.
        data: Input spans.
        features: How columns are used by Transform and the model.
        model: Model and training hyperparameters.
        distribution_strategy: tf.distribute strategy for the Trainer.
        evaluation: TFMA settings and blessing thresholds.
        validation: The data gate's policy.
        outputs: Pipeline root, metadata and serving locations.
        beam_args: Beam pipeline arguments for the Beam-powered components.
        warm_start: Whether the Trainer starts from the latest model blessed before
            the newest span (when its variables have the same shapes).
        export: Extra pushed artifacts (TFLite).
        training_workers: ``host:port`` of every worker of a multi-worker cluster,
            the pipeline's Trainer (the chief) first; empty: one worker, or the
            cluster from the environment's ``TF_CONFIG``.
        join_timeout_seconds: How long the Trainer waits for the other workers.
    """

    source: Path
    pipeline_name: str
    model_name: str
    schema_file: Path
    data: DataConfig
    features: FeatureSpec
    model: Hyperparameters
    distribution_strategy: str
    evaluation: EvaluationConfig
    outputs: OutputsConfig
    validation: ValidationConfig = ValidationConfig()
    beam_args: tuple[str, ...] = ()
    warm_start: bool = False
    export: ExportConfig = ExportConfig()
    training_workers: tuple[str, ...] = ()
    join_timeout_seconds: float = 600.0

    @property
    def push_dir(self) -> Path:
        """The directory TF Serving watches for this model's numbered versions."""
        return self.outputs.serving_dir / self.model_name


_TOP_LEVEL_KEYS = {
    "pipeline_name",
    "model_name",
    "schema_file",
    "data",
    "features",
    "model",
    "training",
    "evaluation",
    "validation",
    "outputs",
    "beam_args",
    "export",
}


def _section(raw: Mapping[str, Any], key: str, *, required: bool = True) -> Mapping[str, Any]:
    value = raw.get(key)
    if value is None:
        if required:
            raise ValueError(f"missing section {key!r}")
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"section {key!r} must be a mapping, got {type(value).__name__}")
    return value


def _check_keys(section: str, raw: Mapping[str, Any], known: set[str]) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"unknown {section} keys {unknown}; known keys are {sorted(known)}")


def _parse(raw: Mapping[str, Any], base: Path, source: Path) -> PipelineConfig:
    def path(value: Any) -> Path:
        candidate = Path(os.path.expandvars(str(value)))
        return (candidate if candidate.is_absolute() else base / candidate).resolve()

    _check_keys("top-level", raw, _TOP_LEVEL_KEYS)
    name = str(raw.get("pipeline_name") or "")
    if not name:
        raise ValueError("pipeline_name is required")

    data_raw = _section(raw, "data")
    _check_keys("data", data_raw, {f.name for f in dataclasses.fields(DataConfig)})
    if "input_base" not in data_raw:
        raise ValueError("data.input_base is required")
    data = DataConfig(**{**data_raw, "input_base": path(data_raw["input_base"])})
    if "{SPAN}" not in data.span_pattern and "{YYYY}" not in data.span_pattern:
        raise ValueError(
            f"data.span_pattern {data.span_pattern!r} has neither {{SPAN}} nor "
            "{YYYY}-{MM}-{DD}: without a span spec every run would re-read all files"
        )
    if data.window_spans < 1 or data.train_buckets < 1 or data.eval_buckets < 1:
        raise ValueError("data.window_spans, train_buckets and eval_buckets must be >= 1")

    features = FeatureSpec.from_dict(_section(raw, "features"))
    model = Hyperparameters.from_dict(_section(raw, "model", required=False))
    training = _section(raw, "training", required=False)
    _check_keys(
        "training",
        training,
        {"distribution_strategy", "warm_start", "workers", "join_timeout_seconds"},
    )
    warm_start = training.get("warm_start", False)
    if not isinstance(warm_start, bool):
        raise ValueError(f"training.warm_start must be true or false, got {warm_start!r}")
    strategy = str(training.get("distribution_strategy", "default"))
    if strategy not in STRATEGIES:
        raise ValueError(
            f"training.distribution_strategy is {strategy!r}; expected one of {STRATEGIES}"
        )
    workers, join_timeout = _training_cluster(training, strategy)

    eval_raw = dict(_section(raw, "evaluation"))
    _check_keys("evaluation", eval_raw, {f.name for f in dataclasses.fields(EvaluationConfig)})
    for key in ("metrics", "gate_metric", "lower_bound"):
        if key not in eval_raw:
            raise ValueError(f"evaluation.{key} is required")
    evaluation = EvaluationConfig(
        metrics=tuple(str(m) for m in eval_raw["metrics"]),
        gate_metric=str(eval_raw["gate_metric"]),
        lower_bound=float(eval_raw["lower_bound"]),
        max_regression=float(eval_raw.get("max_regression", 0.0)),
        slices=tuple(tuple(s) if isinstance(s, list) else (str(s),) for s in eval_raw.get("slices") or ()),
    )
    if evaluation.gate_metric not in evaluation.metrics:
        raise ValueError(
            f"evaluation.gate_metric {evaluation.gate_metric!r} is not in evaluation.metrics"
        )
    if evaluation.max_regression < 0:
        raise ValueError("evaluation.max_regression must be >= 0 (a tolerance, not a gain)")
    known_columns = set(features.model_features) | {features.label} | set(features.ignored)
    for slice_keys in evaluation.slices:
        for key in slice_keys:
            if key not in known_columns:
                raise ValueError(f"evaluation.slices uses {key!r}, which is not a configured column")
    evaluation = dataclasses.replace(
        evaluation,
        slice_thresholds=_slice_thresholds(eval_raw.get("slice_thresholds"), known_columns),
    )

    validation = _validation(_section(raw, "validation", required=False), features, path)

    outputs_raw = _section(raw, "outputs")
    _check_keys(
        "outputs",
        outputs_raw,
        {
            "root",
            "pipeline_root",
            "metadata_path",
            "serving_dir",
            "min_free_mb",
            "lock_timeout_seconds",
        },
    )
    root = path(outputs_raw.get("root", "outputs"))
    outputs = OutputsConfig(
        pipeline_root=path(outputs_raw.get("pipeline_root", root / "pipelines" / name)),
        metadata_path=path(outputs_raw.get("metadata_path", root / "metadata" / f"{name}.sqlite")),
        serving_dir=path(outputs_raw.get("serving_dir", root / "serving")),
        min_free_mb=_min_free_mb(outputs_raw.get("min_free_mb", OutputsConfig.min_free_mb)),
        lock_timeout_seconds=_lock_timeout(outputs_raw),
    )
    beam_args = raw.get("beam_args") or []
    if not isinstance(beam_args, list):
        raise ValueError("beam_args must be a list of --flag=value strings")
    if "schema_file" not in raw:
        raise ValueError("schema_file is required (the curated schema under schemas/)")

    return PipelineConfig(
        source=source,
        pipeline_name=name,
        model_name=str(raw.get("model_name") or name),
        schema_file=path(raw["schema_file"]),
        data=data,
        features=features,
        model=model,
        distribution_strategy=strategy,
        evaluation=evaluation,
        outputs=outputs,
        validation=validation,
        beam_args=tuple(str(a) for a in beam_args),
        warm_start=warm_start,
        export=_export(_section(raw, "export", required=False)),
        training_workers=workers,
        join_timeout_seconds=join_timeout,
    )


def _slice_thresholds(raw: Any, known_columns: set[str]) -> tuple[SliceThreshold, ...]:
    """Parses ``evaluation.slice_thresholds`` (see :class:`SliceThreshold`)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ValueError(
            "evaluation.slice_thresholds must be a list of entries like "
            "{slice: {device: null}, lower_bound: 0.6, max_regression: 0.02}"
        )
    result: list[SliceThreshold] = []
    for index, entry in enumerate(raw):
        where = f"evaluation.slice_thresholds[{index}]"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where} must be a mapping with slice and lower_bound/max_regression")
        _check_keys(where, entry, {"slice", "lower_bound", "max_regression"})
        spec = entry.get("slice")
        if not isinstance(spec, Mapping) or not spec:
            raise ValueError(
                f"{where}.slice must be a non-empty mapping of column to null (every value "
                "of the column) or to one value, e.g. {device: null} or {device: mobile}"
            )
        columns: list[str] = []
        values: list[tuple[str, str]] = []
        for column, value in spec.items():
            if column not in known_columns:
                raise ValueError(
                    f"{where}.slice uses {column!r}, which is not a configured column"
                )
            if value is None:
                columns.append(str(column))
            elif isinstance(value, bool) or not isinstance(value, (str, int)):
                # TFMA slices by exact value: a float or a YAML boolean is almost
                # always a mistake (quote the value if a column really holds "true").
                raise ValueError(
                    f"{where}.slice.{column} must be null or a string or integer value, "
                    f"got {value!r}"
                )
            else:
                values.append((str(column), str(value)))

        def number(key: str, minimum: float | None = None) -> float | None:
            value = entry.get(key)
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                math.isfinite(value)
            ):
                raise ValueError(f"{where}.{key} must be a finite number, got {value!r}")
            if minimum is not None and value < minimum:
                raise ValueError(
                    f"{where}.{key} must be >= {minimum} (a tolerance, not a gain), got {value!r}"
                )
            return float(value)

        threshold = SliceThreshold(
            columns=tuple(columns),
            values=tuple(values),
            lower_bound=number("lower_bound"),
            max_regression=number("max_regression", minimum=0.0),
        )
        if threshold.lower_bound is None and threshold.max_regression is None:
            raise ValueError(
                f"{where} (slice {threshold.name}) needs lower_bound, max_regression or both"
            )
        same = [t for t in result if (set(t.columns), set(t.values)) == (set(columns), set(values))]
        if same:
            raise ValueError(
                f"{where} repeats the slice {threshold.name}; put lower_bound and "
                "max_regression in one entry"
            )
        result.append(threshold)
    return tuple(result)


def _min_free_mb(value: Any) -> int:
    """Parses ``outputs.min_free_mb`` (a whole number of MiB, 0 or more)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            "outputs.min_free_mb must be a whole number of MiB >= 0 (the free space pipeline "
            f"root, serving dir and metadata directory need before a run; 0: none), got {value!r}"
        )
    return value


def _export(raw: Mapping[str, Any]) -> ExportConfig:
    _check_keys("export", raw, {f.name for f in dataclasses.fields(ExportConfig)})
    tflite = raw.get("tflite", False)
    if not isinstance(tflite, bool):
        raise ValueError(f"export.tflite must be true or false, got {tflite!r}")
    delta = raw.get("tflite_max_metric_delta", ExportConfig.tflite_max_metric_delta)
    if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not 0 <= delta <= 1:
        raise ValueError(
            "export.tflite_max_metric_delta must be a number in [0, 1] (the largest "
            "allowed |float - TFLite| of evaluation.gate_metric; 0.01 is one point of "
            f"AUC or accuracy), got {delta!r}"
        )
    return ExportConfig(tflite=tflite, tflite_max_metric_delta=float(delta))


def _training_cluster(training: Mapping[str, Any], strategy: str) -> tuple[tuple[str, ...], float]:
    """Reads ``training.workers`` and ``training.join_timeout_seconds``."""
    workers = training.get("workers") or []
    if not isinstance(workers, list):
        raise ValueError("training.workers must be a list of host:port strings")
    if workers and strategy != "multi_worker_mirrored":
        raise ValueError(
            f"training.workers is set but training.distribution_strategy is {strategy!r}; "
            "workers are used only with multi_worker_mirrored"
        )
    timeout = training.get("join_timeout_seconds", 600)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"training.join_timeout_seconds must be a positive number, got {timeout!r}")
    return (cluster.validate_workers(workers) if workers else ()), float(timeout)


def _distances(
    section: str, raw: Mapping[str, Any], features: FeatureSpec, extra: set[str] = frozenset()
) -> DistanceThresholds:
    _check_keys(section, raw, {"jensen_shannon", "l_infinity", "features"} | set(extra))

    def limit(key: str, value: Any) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise ValueError(f"{section}.{key} must be a number in (0, 1] or null, got {value!r}")
        return float(value)

    per_feature = raw.get("features") or {}
    if not isinstance(per_feature, Mapping):
        raise ValueError(f"{section}.features must be a mapping of feature name to limit")
    compared = {*features.numeric, *(n for n, _ in features.bucketized), *features.categorical}
    unknown = sorted(set(per_feature) - compared)
    if unknown:
        raise ValueError(
            f"{section}.features names {unknown}, which are not numeric, bucketized or "
            "categorical features of this config"
        )
    return DistanceThresholds(
        jensen_shannon=limit("jensen_shannon", raw.get("jensen_shannon")),
        l_infinity=limit("l_infinity", raw.get("l_infinity")),
        features={name: limit(f"features.{name}", value) for name, value in per_feature.items()},
    )


def _validation(
    raw: Mapping[str, Any], features: FeatureSpec, path: Callable[[Any], Path]
) -> ValidationConfig:
    _check_keys("validation", raw, {"warn_only", "drift", "skew"})
    warn_only = tuple(raw.get("warn_only") or ())
    unknown_kinds = sorted(set(warn_only) - set(anomalies_pb2.AnomalyInfo.Type.keys()))
    if unknown_kinds:
        raise ValueError(
            f"validation.warn_only has unknown anomaly types {unknown_kinds}; use names of "
            "tensorflow_metadata's AnomalyInfo.Type, e.g. FEATURE_TYPE_LOW_FRACTION_PRESENT"
        )
    drift_raw = _section(raw, "drift", required=False)
    skew_raw = _section(raw, "skew", required=False)
    serving = skew_raw.get("serving_data")
    return ValidationConfig(
        warn_only=warn_only,
        drift=_distances("validation.drift", drift_raw, features),
        skew=_distances("validation.skew", skew_raw, features, {"serving_data"}),
        serving_data=None if serving is None else path(serving),
    )


def _lock_timeout(outputs_raw: Mapping[str, Any]) -> float:
    value = outputs_raw.get("lock_timeout_seconds", DEFAULT_LOCK_TIMEOUT_SECONDS)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(
            "outputs.lock_timeout_seconds must be a number of seconds >= 0 (how long a run "
            f"waits for another run of the same SQLite metadata; 0: refuse at once), got {value!r}"
        )
    return float(value)


def load_config(path: str | os.PathLike[str] = DEFAULT_CONFIG) -> PipelineConfig:
    """Loads and validates a pipeline config file.

    Args:
        path: A YAML config file; relative paths inside it are relative to it.

    Returns:
        The frozen config.

    Raises:
        ConfigError: If the file is missing, is not valid YAML, or is inconsistent;
            the message names the file and the offending key.
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
    try:
        return _parse(raw, source.parent, source)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"config file {source}: {err}") from None


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
        outputs = dataclasses.replace(
            outputs, metadata_path=Path(env[ENV_METADATA_PATH]).resolve()
        )
    return dataclasses.replace(config, data=data, outputs=outputs)
