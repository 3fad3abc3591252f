"""The config's sections: frozen, typed, what the pipeline's nodes read.

``data``, ``training``, ``export`` and the drift and skew limits are written in the
YAML exactly as they are typed here, so they are pydantic dataclasses that validate
themselves. The evaluation, validation and outputs sections are built by the loader
from a YAML shorthand (``pipeline.config.loading``) and are plain frozen dataclasses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, Strict, ValidationInfo, field_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass

from components.distributed import cluster
from components.model.features import FeatureSpec
from components.model.hparams import STRATEGIES, Hyperparameters
from pipeline import nodes
from pipeline.config.fields import (
    FORBID_UNKNOWN,
    ConfigPath,
    Count,
    Delimiter,
    Flag,
    Limit,
    Seconds,
    Text,
    empty_if_null,
    expect,
)

# Long enough for a late daily run to finish (a 1M-row day takes ~10 min, a
# multi-worker run with a slow worker longer), short enough that a stuck run is
# reported the same day instead of queueing a day's runs behind it.
DEFAULT_LOCK_TIMEOUT_SECONDS = 6 * 3600.0
# The label's drift limit: a binary label whose positive share moves by 0.1 (0.2 ->
# 0.3) is a different day; ordinary days of the bundled clicks data move it by 0.04.
DEFAULT_LABEL_DRIFT = 0.1


# --- sections written in the YAML as they are typed ----------------------------------------


@pydantic_dataclass(frozen=True, config=FORBID_UNKNOWN)
class DataConfig:
    """Where the daily spans are and how they are split and windowed.

    Attributes:
        input_base: Directory holding one sub-directory (or file set) per span.
        span_pattern: CsvExampleGen pattern relative to ``input_base``, with a
            ``{SPAN}`` or ``{YYYY}-{MM}-{DD}`` spec; each run ingests the newest span.
        window_spans: Transform and Trainer read the newest this-many spans.
        train_buckets: Hash buckets of each span that go to the ``train`` split.
        eval_buckets: Hash buckets that go to the ``eval`` split.
        delimiter: The CSV field separator (``,``, ``;``, a tab ...). Files are
            UTF-8, a leading byte-order mark is ignored, and ``*.csv.gz`` spans are
            decompressed (``components/example_gen.py``).
    """

    input_base: ConfigPath
    span_pattern: Text = "{YYYY}-{MM}-{DD}/*.csv"
    window_spans: Count = 3
    train_buckets: Count = 4
    eval_buckets: Count = 1
    delimiter: Delimiter = ","

    @field_validator("span_pattern")
    @classmethod
    def _has_span_spec(cls, pattern: str) -> str:
        if "{SPAN}" not in pattern and "{YYYY}" not in pattern:
            raise ValueError(
                f"data.span_pattern {pattern!r} has neither {{SPAN}} nor "
                "{YYYY}-{MM}-{DD}: without a span spec every run would re-read all files"
            )
        return pattern


@pydantic_dataclass(frozen=True, config=FORBID_UNKNOWN)
class TrainingConfig:
    """How the Trainer trains (the config's ``training`` section).

    Attributes:
        distribution_strategy: tf.distribute strategy: ``default`` (one device),
            ``mirrored`` (all local devices) or ``multi_worker_mirrored``.
        warm_start: Whether the Trainer starts from the latest model blessed before
            the newest span (when its variables have the same shapes).
        workers: ``host:port`` of every worker of a multi-worker cluster, the
            pipeline's Trainer (the chief) first; empty: one worker, or the cluster
            from the environment's ``TF_CONFIG``.
        join_timeout_seconds: How long the Trainer waits for the other workers.
    """

    distribution_strategy: Annotated[
        str,
        Strict(),
        Field(pattern=f"^({'|'.join(STRATEGIES)})$"),
        expect(f"one of {', '.join(STRATEGIES)}"),
    ] = "default"
    warm_start: Flag = False
    workers: Annotated[
        tuple[Text, ...], empty_if_null(()), expect("a list of host:port strings")
    ] = ()
    join_timeout_seconds: Seconds = 600.0

    @field_validator("workers")
    @classmethod
    def _cluster(cls, workers: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        strategy = info.data.get("distribution_strategy")
        if workers and strategy is not None and strategy != "multi_worker_mirrored":
            raise ValueError(
                f"training.workers is set but training.distribution_strategy is {strategy!r}; "
                "workers are used only with multi_worker_mirrored"
            )
        return cluster.validate_workers(workers) if workers else ()


@pydantic_dataclass(frozen=True, config=FORBID_UNKNOWN)
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

    jensen_shannon: Limit | None = None
    l_infinity: Limit | None = None
    features: Annotated[
        Mapping[str, Limit | None], empty_if_null({}), expect("a mapping of feature to limit")
    ] = dataclasses.field(default_factory=dict)

    def for_features(self, spec: FeatureSpec) -> dict[str, tuple[str, float]]:
        """Resolves each compared feature's measure and limit.

        Args:
            spec: Which columns are numeric, bucketized and categorical.

        Returns:
            Feature name -> (``"jensen_shannon"`` or ``"l_infinity"``, limit).
        """
        defaults = {"jensen_shannon": self.jensen_shannon, "l_infinity": self.l_infinity}
        result = {}
        for name, kind in measures(spec).items():
            limit = self.features.get(name, defaults[kind])
            if limit is not None:
                result[name] = (kind, float(limit))
        return result


def measures(spec: FeatureSpec) -> dict[str, str]:
    """The distance the data gate compares each feature by (see DistanceThresholds).

    Args:
        spec: Which columns are numeric, bucketized and categorical.

    Returns:
        Feature name -> ``"jensen_shannon"`` (numeric, bucketized) or ``"l_infinity"``.
    """
    numeric = (*spec.numeric, *(name for name, _ in spec.bucketized))
    result = {name: "jensen_shannon" for name in numeric}
    result.update({name: "l_infinity" for name in spec.categorical})
    return result


def label_is_class(spec: FeatureSpec) -> bool:
    """Whether the label holds class ids (every task but ``regression``).

    Args:
        spec: The features, with the label and the task.

    Returns:
        True for binary and multiclass tasks.
    """
    return spec.task != "regression"


def label_measure(spec: FeatureSpec) -> str:
    """The distance the data gate compares the label by (``validation.label_drift``).

    Args:
        spec: The features, with the label and the task.

    Returns:
        ``"l_infinity"`` (of class shares) for a class label, ``"jensen_shannon"``
        for a float (regression) label.
    """
    return "l_infinity" if label_is_class(spec) else "jensen_shannon"


@pydantic_dataclass(frozen=True, config=FORBID_UNKNOWN)
class ExportConfig:
    """Extra artifacts pushed next to the SavedModel.

    Attributes:
        tflite: Convert the ``serving_raw`` signature (Transform graph included) to
            TFLite with dynamic-range quantization and push ``model.tflite`` in the
            version directory; adds the ``TFLiteConverter`` node.
        tflite_max_metric_delta: The largest allowed ``|float - TFLite|`` of the
            gate metric on the eval split of the newest span, in the metric's own
            units: 0.01 is one point of AUC or accuracy (a mean squared error is in
            squared label units, so its bound is set in those). The bound is on
            the absolute difference, so it holds whichever direction is better.
            Over it, ``model.tflite`` is not pushed (the SavedModel still is).
    """

    tflite: Flag = False
    tflite_max_metric_delta: Annotated[
        float,
        Strict(),
        # No upper limit: an error metric (regression) is not in [0, 1].
        Field(ge=0, allow_inf_nan=False),
        expect(
            "a finite number >= 0 in the gate metric's units (the largest allowed "
            "|float - TFLite| of evaluation.gate_metric; 0.01 is one point of AUC or accuracy)"
        ),
    ] = 0.01


@pydantic_dataclass(frozen=True, config=FORBID_UNKNOWN)
class ServingConfig:
    """How a pushed version reaches TF Serving's labels (``<serving_dir>/models.config``).

    Attributes:
        push_label: The label the Pusher gives a new blessed version: ``stable``
            (served at once; a canary is dropped) or ``canary`` (served under the
            ``canary`` label next to the unchanged stable until ``promote``; the
            first model of a serving directory becomes stable all the same).
    """

    push_label: Annotated[
        Literal["stable", "canary"],
        expect("stable or canary (the label a new blessed version gets in models.config)"),
    ] = "stable"


@pydantic_dataclass(frozen=True, config=FORBID_UNKNOWN)
class AirflowConfig:
    """How the daily Airflow DAG waits, times out and retries (the ``airflow`` section).

    The defaults fit a 1M-row day: its slowest node took ~270 s and its first day,
    which also validates two older spans in the ExampleGen task, ~15 min, so a task
    past 2 h is hung rather than slow, and a run past 12 h (6 h of it possibly spent
    waiting for late data) would collide with the next day's.

    Attributes:
        wait_for_data_seconds: How long the first task waits for the day's files
            before failing the run.
        poke_interval_seconds: How often it looks; between looks the sensor gives
            its worker slot back (``reschedule`` mode).
        task_timeout_seconds: Each task's ``execution_timeout``: past it the try is
            failed (and retried if tries are left).
        task_timeouts: Per-node overrides of ``task_timeout_seconds``, keyed by the
            node id (e.g. ``Trainer``) of a task.
        dagrun_timeout_seconds: The DAG run's ``dagrun_timeout``: past it the run
            is failed and the ``run timed out`` alert sent.
        retries: Retries of each task (the DataGate's verdict is deterministic and
            is never retried).
        retry_delay_seconds: The first retry's delay, doubling per try...
        max_retry_delay_seconds: ...up to this.
    """

    wait_for_data_seconds: Seconds = 6 * 3600.0
    poke_interval_seconds: Seconds = 300.0
    task_timeout_seconds: Seconds = 2 * 3600.0
    task_timeouts: Annotated[
        Mapping[str, Seconds],
        empty_if_null({}),
        expect("a mapping of node id to a positive number of seconds"),
    ] = dataclasses.field(default_factory=dict)
    dagrun_timeout_seconds: Seconds = 12 * 3600.0
    retries: Annotated[int, Strict(), Field(ge=0), expect("a whole number >= 0")] = 2
    retry_delay_seconds: Seconds = 300.0
    max_retry_delay_seconds: Seconds = 3600.0

    @field_validator("task_timeouts")
    @classmethod
    def _known_tasks(cls, timeouts: Mapping[str, float]) -> Mapping[str, float]:
        unknown = sorted(set(timeouts) - set(nodes.TASK_NODES))
        if unknown:
            raise ValueError(
                f"airflow.task_timeouts names {', '.join(unknown)}, which no task runs; "
                f"tasks: {', '.join(nodes.TASK_NODES)}"
            )
        return dict(timeouts)

    @field_validator("dagrun_timeout_seconds")
    @classmethod
    def _longer_than_the_wait(cls, timeout: float, info: ValidationInfo) -> float:
        wait = info.data.get("wait_for_data_seconds")
        if wait is not None and timeout <= wait:
            raise ValueError(
                f"airflow.dagrun_timeout_seconds ({timeout:g}) must be longer than "
                f"airflow.wait_for_data_seconds ({wait:g}): the run includes the wait"
            )
        return timeout

    def timeout_for(self, node_id: str) -> float:
        """Returns the ``execution_timeout`` seconds of the task running ``node_id``.

        Args:
            node_id: The node a task runs.

        Returns:
            Seconds.
        """
        return self.task_timeouts.get(node_id, self.task_timeout_seconds)


# An address as mail servers take it: no display name, one @, a dot in the domain.
EmailAddress = Annotated[
    str,
    Strict(),
    Field(pattern=r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$"),
    expect("an email address like ops@example.com"),
]
WebhookUrl = Annotated[
    str,
    Strict(),
    Field(pattern=r"^https?://[^\s/]+\S*$"),
    expect("an http:// or https:// URL"),
]


@pydantic_dataclass(frozen=True, config=FORBID_UNKNOWN)
class EmailAlerts:
    """Alerts by email through Airflow's SMTP notifier (``alerts.email``).

    Attributes:
        to: The recipients.
        sender: The From address; None: the SMTP connection's ``from_email`` extra.
        connection: The Airflow SMTP connection id: server, port, login (a secret,
            so never in this file).
    """

    to: Annotated[tuple[EmailAddress, ...], expect("a list of email addresses")]
    sender: EmailAddress | None = None
    connection: Text = "smtp_default"

    @field_validator("to")
    @classmethod
    def _someone(cls, to: tuple[str, ...]) -> tuple[str, ...]:
        if not to:
            raise ValueError("alerts.email.to is empty: list at least one recipient")
        return to


@pydantic_dataclass(frozen=True, config=FORBID_UNKNOWN)
class AlertsConfig:
    """Where alerts go when a day is stopped, a model is not blessed or a task fails.

    Every destination is optional; with none, nothing is sent (see
    :mod:`pipeline.alerts`). Secrets (a Slack webhook's URL, SMTP passwords) live in
    Airflow connections, which the config names by id.

    Attributes:
        slack_connection: An Airflow ``slackwebhook`` connection id; its password
            holds the incoming webhook's URL (or its ``T.../B.../...`` token).
        webhook_url: A URL to POST each alert to as JSON.
        webhook_connection: An Airflow ``http`` connection id to POST to instead
            (its host is the URL; its extras may add headers).
        email: Recipients and the SMTP connection.
        not_blessed: Whether a model that fails the model gate sends an alert.
        timeout_seconds: How long Slack or the JSON webhook may take to answer (an
            email's is its SMTP connection's ``timeout`` extra, 30 s by default).
    """

    slack_connection: Text | None = None
    webhook_url: WebhookUrl | None = None
    webhook_connection: Text | None = None
    email: Annotated[EmailAlerts | None, expect("a mapping with to: [addresses]")] = None
    not_blessed: Flag = True
    timeout_seconds: Seconds = 10.0

    @field_validator("webhook_connection")
    @classmethod
    def _one_webhook(cls, connection: str | None, info: ValidationInfo) -> str | None:
        if connection is not None and info.data.get("webhook_url") is not None:
            raise ValueError(
                "alerts.webhook_url and alerts.webhook_connection are both set; set one: "
                "the URL itself, or the Airflow connection that holds it"
            )
        return connection

    @property
    def configured(self) -> bool:
        """Whether any destination is set."""
        return bool(
            self.slack_connection or self.webhook_url or self.webhook_connection or self.email
        )


# --- sections the loader builds from a YAML shorthand ------------------------------------


@dataclasses.dataclass(frozen=True)
class MinImprovement:
    """How much better than the baseline a model must be to bless (TFMA change threshold).

    Both are in the gate metric's direction (an error must fall, AUC must rise);
    when both are set, both must hold.

    Attributes:
        absolute: The least improvement in the metric's units (0.01: one point of AUC).
        relative: The least improvement as a fraction of the baseline's value
            (0.01: 1 %).
    """

    absolute: float | None = None
    relative: float | None = None


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
        lower_bound: Absolute floor for a higher-is-better ``gate_metric`` on each
            matching slice; None: no floor.
        max_regression: How much worse (in the metric's direction) than the
            baseline's value on the same slice ``gate_metric`` may be; None: no
            tolerance.
        upper_bound: Absolute ceiling for a lower-is-better ``gate_metric`` on each
            matching slice; None: no ceiling.
        min_improvement: How much better than the baseline on the same slice the
            candidate must be (excludes ``max_regression``); None: no such demand.
    """

    columns: tuple[str, ...] = ()
    values: tuple[tuple[str, str], ...] = ()
    lower_bound: float | None = None
    max_regression: float | None = None
    upper_bound: float | None = None
    min_improvement: MinImprovement | None = None

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
        lower_bound: Absolute floor for a higher-is-better gate metric: a model
            below it is never blessed (None for a lower-is-better one).
        max_regression: How much worse than the baseline (latest blessed model),
            in the metric's direction, ``gate_metric`` may be and still bless; 0
            means "not worse"; None when ``min_improvement`` is set.
        slices: Feature-key tuples to slice metrics by (overall is always computed).
        slice_thresholds: Further thresholds on ``gate_metric`` per slice, checked
            in addition to the overall ones; every one must pass to bless.
        direction: ``higher`` or ``lower``: which way ``gate_metric`` is better
            (from the metric's name, or ``evaluation.direction``).
        upper_bound: Absolute ceiling for a lower-is-better gate metric: a model
            above it is never blessed (None for a higher-is-better one).
        min_improvement: How much better than the baseline the candidate must be
            to bless (None: ``max_regression`` applies instead).
        max_examples: Evaluate on a seeded sample of at most this many eval rows,
            the same for candidate and baseline (None: every row).
    """

    metrics: tuple[str, ...]
    gate_metric: str
    lower_bound: float | None = None
    max_regression: float | None = 0.0
    slices: tuple[tuple[str, ...], ...] = ()
    slice_thresholds: tuple[SliceThreshold, ...] = ()
    direction: str = "higher"
    upper_bound: float | None = None
    min_improvement: MinImprovement | None = None
    max_examples: int | None = None

    @property
    def higher_is_better(self) -> bool:
        """Whether a larger ``gate_metric`` is a better model."""
        return self.direction == "higher"


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
        open_domains: String columns whose values are open-ended (cities, company
            names): ``python -m pipeline schema`` gives them no closed domain, so an
            unseen value passes the gate and reaches the model's OOV buckets.
        max_domain_values: A string column with more distinct values than this in
            the training window gets no closed domain either (TFDV's
            ``max_string_domain_size``).
        label_drift: Limit on how far the label's distribution may move from the
            previous passing span's (see :func:`label_measure`); None: not compared.
    """

    warn_only: tuple[str, ...] = ()
    drift: DistanceThresholds = DistanceThresholds()
    skew: DistanceThresholds = DistanceThresholds()
    serving_data: Path | None = None
    open_domains: tuple[str, ...] = ()
    max_domain_values: int = 100
    label_drift: float | None = DEFAULT_LABEL_DRIFT

    def label_limit(self, spec: FeatureSpec) -> tuple[str, float] | None:
        """The label's drift measure and limit.

        Args:
            spec: The features, with the label and the task.

        Returns:
            ``(measure, limit)``, or None when label drift is off.
        """
        return None if self.label_drift is None else (label_measure(spec), self.label_drift)

    def drift_limits(self, spec: FeatureSpec) -> dict[str, tuple[str, float]]:
        """Every drift limit the data gate applies: the features' and the label's.

        Args:
            spec: The features, with the label and the task.

        Returns:
            Column -> (``"jensen_shannon"`` or ``"l_infinity"``, limit).
        """
        limits = self.drift.for_features(spec)
        label = self.label_limit(spec)
        if label is not None:
            limits[spec.label] = label
        return limits


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
        evaluation: TFMA settings and blessing thresholds.
        outputs: Pipeline root, metadata and serving locations.
        validation: The data gate's policy.
        beam_args: Beam pipeline arguments for the Beam-powered components.
        export: Extra pushed artifacts (TFLite).
        training: Distribution strategy, warm start and the multi-worker cluster.
        airflow: The daily DAG's data wait, timeouts and retries.
        alerts: Where alerts are sent (none by default).
        serving: Which TF Serving label a new blessed version gets.
    """

    source: Path
    pipeline_name: str
    model_name: str
    schema_file: Path
    data: DataConfig
    features: FeatureSpec
    model: Hyperparameters
    evaluation: EvaluationConfig
    outputs: OutputsConfig
    validation: ValidationConfig = ValidationConfig()
    beam_args: tuple[str, ...] = ()
    export: ExportConfig = ExportConfig()
    training: TrainingConfig = TrainingConfig()
    airflow: AirflowConfig = AirflowConfig()
    alerts: AlertsConfig = AlertsConfig()
    serving: ServingConfig = ServingConfig()

    @property
    def push_dir(self) -> Path:
        """The directory TF Serving watches for this model's numbered versions."""
        return self.outputs.serving_dir / self.model_name
