"""The pipeline's topology, defined once for every runner."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import tensorflow_data_validation as tfdv
import tensorflow_model_analysis as tfma
from ml_metadata.proto import metadata_store_pb2
from tfx.dsl.components.base.base_node import BaseNode
from tfx.orchestration.pipeline import Pipeline

from components import resolvers, tflite
from components.data_gate import DataGate, DataGateReport
from components.distributed import cluster
from components.distributed.trainer_executor import CLUSTER_KEY
from components.distributed.trainer_executor import Trainer as DistributedTrainer
from components.eval_sample import SampledEvaluator
from components.example_gen import CsvExampleGen
from components.label_guard import class_label_stats_options
from components.model import trainer as model_trainer
from components.model.preprocessing import FEATURES_KEY
from components.model.trainer import MATERIALIZED_KEY, STRATEGY_KEY, WARM_START_KEY
from components.pusher import AtomicPusher
from components.resolvers import (
    CANDIDATE_KEY,
    AnalyzerCacheStrategy,
    LatestBlessedOtherModelStrategy,
    PassedSpanWindowStrategy,
    PreviousPassedStatisticsStrategy,
    WarmStartModelStrategy,
)
from components.tflite import TFLiteConverter
from components.tfx_api import tfx
from components.version import code_version, fingerprint
from pipeline import spans
from pipeline.config import EvaluationConfig, MinImprovement, PipelineConfig, SliceThreshold
from pipeline.config.sections import label_is_class
from pipeline.nodes import (
    ANALYZER_CACHE,
    BASELINE,
    DATA_GATE,
    EVALUATOR,
    EXAMPLE_GEN,
    EXAMPLE_VALIDATOR,
    PREVIOUS_STATISTICS,
    PUSHER,
    SCHEMA_GEN,
    SERVING_EXAMPLE_GEN,
    SERVING_STATISTICS_GEN,
    SPAN_WINDOW,
    STATISTICS_GEN,
    TFLITE_CONVERTER,
    TRAINER,
    TRANSFORM,
    WARM_START,
)
from pipeline.ops.standard_errors import CLOSED_FORM_METRICS, MEAN_LABEL

PREPROCESSING_FN = "components.model.preprocessing.preprocessing_fn"
RUN_FN = "components.model.trainer.run_fn"
SERVING_SPLIT = "serving"


# evaluation.max_examples: False evaluates every eval row whatever the config says
# (the bench's switch for undoing the sampling lever). The seed fixes which rows.
EVAL_SAMPLING = True
EVAL_SAMPLE_SEED = 18

# StatisticsGen finds top values and distinct counts by sketch (TFDV's Misra-Gries
# and K-minimum-values) instead of grouping every value exactly, which was ~40 % of
# its time on a 1M-row day. Both sketches are exact up to 1,024 distinct values (a
# closed domain has at most validation.max_domain_values); above that a share is off
# by at most 1/1,024, against drift limits of 0.1. False: exact (the bench's switch).
STATS_SKETCH = True

# Lets a change of exactly max_regression (or min_improvement) pass despite
# floating-point noise in TFMA's difference.
CHANGE_EPSILON = 1e-10


def _change_threshold(
    higher_is_better: bool, max_regression: float | None, min_improvement: MinImprovement | None
) -> tfma.GenericChangeThreshold | None:
    """The comparison with the baseline, in the metric's direction.

    TFMA passes a HIGHER_IS_BETTER change when ``candidate - baseline >= absolute``
    (and ``(candidate - baseline) / baseline >= relative``), a LOWER_IS_BETTER one
    when ``<=``. A tolerance is a bound on the worse side of zero, a demanded
    improvement one on the better side.
    """
    if max_regression is None and min_improvement is None:
        return None
    better = 1.0 if higher_is_better else -1.0
    change = tfma.GenericChangeThreshold(
        direction=(
            tfma.MetricDirection.HIGHER_IS_BETTER
            if higher_is_better
            else tfma.MetricDirection.LOWER_IS_BETTER
        )
    )
    if max_regression is not None:
        change.absolute.value = -better * (max_regression + CHANGE_EPSILON)
    if min_improvement is not None and min_improvement.absolute is not None:
        change.absolute.value = better * (min_improvement.absolute - CHANGE_EPSILON)
    if min_improvement is not None and min_improvement.relative is not None:
        change.relative.value = better * (min_improvement.relative - CHANGE_EPSILON)
    return change


def _gate_threshold(
    bounds: EvaluationConfig | SliceThreshold, higher_is_better: bool
) -> tfma.MetricThreshold:
    """The value bound and the baseline comparison of the overall gate or one slice's.

    Args:
        bounds: The overall evaluation section or one slice threshold (each has
            ``lower_bound``, ``upper_bound``, ``max_regression`` and ``min_improvement``).
        higher_is_better: The gate metric's direction.

    Returns:
        The TFMA threshold. TFX removes its change threshold when no baseline
        resolved (the first model), so the value bound alone gates that model.
    """
    threshold = tfma.MetricThreshold()
    if bounds.lower_bound is not None:
        threshold.value_threshold.lower_bound.value = bounds.lower_bound
    if bounds.upper_bound is not None:
        threshold.value_threshold.upper_bound.value = bounds.upper_bound
    change = _change_threshold(higher_is_better, bounds.max_regression, bounds.min_improvement)
    if change is not None:
        threshold.change_threshold.CopyFrom(change)
    return threshold


def slicing_spec(threshold: SliceThreshold) -> tfma.SlicingSpec:
    """The TFMA slicing spec of a per-slice threshold.

    Args:
        threshold: A configured slice threshold.

    Returns:
        ``feature_keys`` for the columns sliced by every value and ``feature_values``
        for the columns fixed to one value.
    """
    return tfma.SlicingSpec(
        feature_keys=list(threshold.columns), feature_values=dict(threshold.values)
    )


def slice_gates(evaluation: EvaluationConfig) -> list[tfma.PerSliceMetricThreshold]:
    """The configured per-slice thresholds on the gate metric, one per entry.

    Args:
        evaluation: The evaluation config.

    Returns:
        One ``PerSliceMetricThreshold`` per ``evaluation.slice_thresholds`` entry,
        with the same bound/tolerance/improvement conventions as the overall gate.
    """
    return [
        tfma.PerSliceMetricThreshold(
            slicing_specs=[slicing_spec(entry)],
            threshold=_gate_threshold(entry, evaluation.higher_is_better),
        )
        for entry in evaluation.slice_thresholds
    ]


def eval_config(config: PipelineConfig) -> tfma.EvalConfig:
    """Builds the TFMA config: metrics, slices and the blessing thresholds.

    The model's ``serving_default`` signature takes raw serialized examples, so TFMA
    evaluates on the raw eval split with the raw label column.

    Args:
        config: The pipeline config.

    Returns:
        The TFMA EvalConfig for the Evaluator.
    """
    evaluation: EvaluationConfig = config.evaluation
    # TFX removes the change threshold when no baseline resolved (first run).
    threshold = _gate_threshold(evaluation, evaluation.higher_is_better)
    # A plain `threshold` would apply to every slice, so one small slice (or a
    # float column sliced by value) could veto the model; the gate is on the
    # overall slice, plus the slices named in `slice_thresholds`, and the other
    # configured slices are for reporting.
    gate = tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=threshold)
    gates = [gate, *slice_gates(evaluation)]
    metrics = [
        tfma.MetricConfig(
            class_name=name,
            per_slice_thresholds=gates if name == evaluation.gate_metric else [],
        )
        for name in evaluation.metrics
    ]
    slicing_specs = [tfma.SlicingSpec()] + [
        tfma.SlicingSpec(feature_keys=list(keys)) for keys in evaluation.slices
    ]
    # TFMA computes only the slices in `slicing_specs`; a threshold whose slice it
    # did not compute counts as a missing slice and fails validation.
    for entry in evaluation.slice_thresholds:
        spec = slicing_spec(entry)
        if spec not in slicing_specs:
            slicing_specs.append(spec)
    options = tfma.Options()
    if eval_sample_size(config) is not None:
        # A sampled gate reports its uncertainty (pipeline.ops.standard_errors). AUC
        # and binary accuracy have closed forms in the mean label and the count;
        # any other gate metric needs TFMA's jackknife (delete-d over 20 partitions
        # of the sample: measured at several times the sampled evaluation's cost).
        # Either way TFMA gates on the point estimate, so the thresholds mean what
        # they meant without a sample.
        if evaluation.gate_metric in CLOSED_FORM_METRICS:
            if MEAN_LABEL[0] not in evaluation.metrics:
                metrics.append(tfma.MetricConfig(class_name=MEAN_LABEL[0]))
        else:
            options.compute_confidence_intervals.value = True
            options.confidence_intervals.method = tfma.ConfidenceIntervalOptions.JACKKNIFE
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(signature_name="serving_default", label_key=config.features.label)
        ],
        slicing_specs=slicing_specs,
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)],
        options=options,
    )


def eval_sample_size(config: PipelineConfig) -> int | None:
    """How many eval rows the Evaluator (and the TFLite check) sample.

    Args:
        config: The pipeline config.

    Returns:
        ``evaluation.max_examples``, or None for every row (also when the bench's
        :data:`EVAL_SAMPLING` switch is off).
    """
    return config.evaluation.max_examples if EVAL_SAMPLING else None


def tflite_converter(
    config: PipelineConfig, example_gen: BaseNode, trainer: BaseNode
) -> list[BaseNode]:
    """The TFLite node when ``export.tflite`` is on (else none).

    It converts the Trainer's ``serving_raw`` signature and measures the gate metric
    of the float and TFLite models on the rows the Evaluator judged (the newest
    span's eval split, or its seeded sample); the Pusher pushes ``model.tflite``
    only when within bound.

    Args:
        config: The pipeline config.
        example_gen: The ExampleGen node (the newest span's raw examples).
        trainer: The Trainer node.

    Returns:
        ``[TFLiteConverter]`` or ``[]``.
    """
    if not config.export.tflite:
        return []
    return [
        TFLiteConverter(
            model=trainer.outputs["model"],
            examples=example_gen.outputs["examples"],
            label_key=config.features.label,
            gate_metric=config.evaluation.gate_metric,
            max_metric_delta=config.export.tflite_max_metric_delta,
            max_examples=eval_sample_size(config) or 0,
            sample_seed=EVAL_SAMPLE_SEED,
            # The converter's own source: the model input already changes with the
            # model code.
            code_version=fingerprint(Path(tflite.__file__).resolve()),
        ).with_id(TFLITE_CONVERTER)
    ]


def trainer_cluster_config(config: PipelineConfig) -> dict[str, object]:
    """The Trainer's multi-worker settings (custom_config), when workers are configured.

    Custom config is part of the Trainer's cache key, so everything here is
    deterministic, and it is left out entirely without workers (other configs keep
    their cache key).

    Args:
        config: The pipeline config.

    Returns:
        ``{"multi_worker": {"workers", "jobs_dir", "join_timeout_seconds"}}`` or ``{}``.
    """
    if not config.training.workers:
        return {}
    return {
        CLUSTER_KEY: {
            "workers": list(config.training.workers),
            "jobs_dir": str(cluster.jobs_dir(config.outputs.pipeline_root)),
            "join_timeout_seconds": config.training.join_timeout_seconds,
        }
    }


def statistics_options(config: PipelineConfig) -> tfdv.StatsOptions:
    """The options of every StatisticsGen (the newest span's and the serving logs').

    Both get the same options so that skew compares statistics computed alike.

    Args:
        config: The pipeline config.

    Returns:
        A class label counted by class (:func:`class_label_stats_options`), top values
        and distinct counts by sketch (:data:`STATS_SKETCH`).
    """
    options = (
        class_label_stats_options(config.features.label)
        if label_is_class(config.features)
        else tfdv.StatsOptions()
    )
    options.use_sketch_based_topk_uniques = STATS_SKETCH
    return options


def ingest_nodes(config: PipelineConfig, span: int | None) -> list[BaseNode]:
    """ExampleGen, StatisticsGen, the curated schema and ExampleValidator.

    Args:
        config: The pipeline config.
        span: Ingest this span instead of the newest one.

    Returns:
        ``[example_gen, statistics_gen, schema_gen, example_validator]``.
    """
    data = config.data
    # TFX's file-based ExampleGen with an executor that reads the configured delimiter,
    # a byte-order mark and gzipped spans (components/example_gen.py).
    example_gen = CsvExampleGen(
        input_base=str(data.input_base),
        # One split pattern with a span spec: the driver resolves the newest span and
        # records its number and input fingerprint, so an unchanged span is a cache hit.
        input_config=spans.input_config(config),
        range_config=None if span is None else spans.static_range(span),
        output_config=tfx.proto.Output(
            split_config=tfx.proto.SplitConfig(
                splits=[
                    tfx.proto.SplitConfig.Split(name="train", hash_buckets=data.train_buckets),
                    tfx.proto.SplitConfig.Split(name="eval", hash_buckets=data.eval_buckets),
                ]
            )
        ),
        delimiter=data.delimiter,
    ).with_id(EXAMPLE_GEN)
    # A class label gets class counts, not a histogram: the DataGate compares class
    # shares by L-infinity distance, which TFDV measures on class counts only.
    statistics_gen = tfx.components.StatisticsGen(
        examples=example_gen.outputs["examples"], stats_options=statistics_options(config)
    ).with_id(STATISTICS_GEN)
    schema_gen = tfx.components.ImportSchemaGen(schema_file=str(config.schema_file)).with_id(
        SCHEMA_GEN
    )
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    ).with_id(EXAMPLE_VALIDATOR)
    return [example_gen, statistics_gen, schema_gen, example_validator]


def serving_nodes(config: PipelineConfig) -> list[BaseNode]:
    """The serving-log ExampleGen and StatisticsGen for the skew check, if configured.

    Args:
        config: The pipeline config.

    Returns:
        ``[serving_example_gen, serving_statistics_gen]``, or ``[]`` without
        ``validation.serving_data``.
    """
    if config.validation.serving_data is None:
        return []
    # Serving-time logs (same span layout and CSV dialect, no label needed).
    serving_example_gen = CsvExampleGen(
        input_base=str(config.validation.serving_data),
        input_config=spans.input_config(config),
        # One split holding every logged request (the default would be train/eval).
        output_config=tfx.proto.Output(
            split_config=tfx.proto.SplitConfig(
                splits=[tfx.proto.SplitConfig.Split(name=SERVING_SPLIT, hash_buckets=1)]
            )
        ),
        delimiter=config.data.delimiter,
    ).with_id(SERVING_EXAMPLE_GEN)
    serving_statistics_gen = tfx.components.StatisticsGen(
        examples=serving_example_gen.outputs["examples"], stats_options=statistics_options(config)
    ).with_id(SERVING_STATISTICS_GEN)
    return [serving_example_gen, serving_statistics_gen]


def gate_nodes(
    config: PipelineConfig, ingest: Sequence[BaseNode], serving: Sequence[BaseNode]
) -> list[BaseNode]:
    """The previous passed span's statistics and the DataGate.

    Args:
        config: The pipeline config.
        ingest: The nodes from :func:`ingest_nodes`.
        serving: The nodes from :func:`serving_nodes`.

    Returns:
        ``[previous_statistics, data_gate]``.
    """
    example_gen, statistics_gen, schema_gen, example_validator = ingest
    # Drift is measured against the newest older span that passed the gate (not
    # against a rejected day); none on the first span.
    previous_statistics = tfx.dsl.Resolver(
        strategy_class=PreviousPassedStatisticsStrategy,
        **{
            resolvers.CURRENT_KEY: example_gen.outputs["examples"],
            resolvers.STATISTICS_KEY: tfx.dsl.Channel(
                type=tfx.types.standard_artifacts.ExampleStatistics,
                producer_component_id=STATISTICS_GEN,
            ),
            resolvers.REPORTS_KEY: tfx.dsl.Channel(
                type=DataGateReport, producer_component_id=DATA_GATE
            ),
        },
    ).with_id(PREVIOUS_STATISTICS)
    serving_statistics = serving[-1].outputs["statistics"] if serving else None
    # ExampleValidator only records anomalies and measures no drift; the gate fails
    # the run on blocking anomalies, drift or skew, and Transform (so everything
    # downstream) waits for it.
    validation = config.validation
    data_gate = DataGate(
        anomalies=example_validator.outputs["anomalies"],
        examples=example_gen.outputs["examples"],
        statistics=statistics_gen.outputs["statistics"],
        schema=schema_gen.outputs["schema"],
        previous_statistics=previous_statistics.outputs[resolvers.STATISTICS_KEY],
        previous_report=previous_statistics.outputs[resolvers.REPORTS_KEY],
        serving_statistics=serving_statistics,
        warn_only=",".join(validation.warn_only),
        # The label's own limit is among them: its distribution is compared too.
        drift_thresholds=json.dumps(validation.drift_limits(config.features), sort_keys=True),
        skew_thresholds=json.dumps(
            validation.skew.for_features(config.features) if serving_statistics else {},
            sort_keys=True,
        ),
        # A classification label also needs two classes or more in the eval split.
        label=config.features.label,
        label_classes=label_is_class(config.features),
    ).with_id(DATA_GATE)
    return [previous_statistics, data_gate]


def training_nodes(
    config: PipelineConfig, example_gen: BaseNode, schema_gen: BaseNode, data_gate: BaseNode
) -> list[BaseNode]:
    """The passed-span window, Transform and its analyzer cache, warm start, the Trainer.

    Args:
        config: The pipeline config.
        example_gen: The ExampleGen node.
        schema_gen: The schema node.
        data_gate: The DataGate node.

    Returns:
        ``[span_window, analyzer_cache, transform, warm_start_model, trainer]``.
    """
    # The newest N spans that passed the gate (latest passing version of each), for
    # a rolling training window: a rejected day is never trained on, not even by
    # later days' runs. The newest span alone is validated and evaluated on.
    span_window = tfx.dsl.Resolver(
        strategy_class=PassedSpanWindowStrategy,
        config={"num_spans": config.data.window_spans},
        **{
            resolvers.EXAMPLES_KEY: tfx.dsl.Channel(
                type=tfx.types.standard_artifacts.Examples, producer_component_id=example_gen.id
            ),
            resolvers.REPORTS_KEY: tfx.dsl.Channel(
                type=DataGateReport, producer_component_id=DATA_GATE
            ),
        },
    ).with_id(SPAN_WINDOW)
    span_window.add_upstream_node(example_gen)
    span_window.add_upstream_node(data_gate)

    # Exec properties are TFX's cache key; code referenced by dotted path is not
    # fingerprinted by TFX, so the model code's version goes in explicitly.
    component_config = {
        FEATURES_KEY: config.features.to_dict(),
        "code_version": code_version(),
    }
    # Transform's analyzer cache: per-span partial analyzer results keyed by the
    # span's Examples URI and each analyzer's graph hash (AnalyzerCacheStrategy), so
    # a day reads only its new span; a changed feature spec or schema misses. Always
    # resolved (the topology does not depend on resolvers.ANALYZER_CACHE).
    analyzer_cache = tfx.dsl.Resolver(
        strategy_class=AnalyzerCacheStrategy,
        **{
            resolvers.CACHE_KEY: tfx.dsl.Channel(
                type=tfx.types.standard_artifacts.TransformCache,
                producer_component_id=TRANSFORM,
            ),
            resolvers.CURRENT_KEY: example_gen.outputs["examples"],
        },
    ).with_id(ANALYZER_CACHE)
    # Read when the pipeline is built, so the bench can undo either lever.
    materialize = bool(model_trainer.MATERIALIZE_TRANSFORMED)
    transform = tfx.components.Transform(
        examples=span_window.outputs[resolvers.EXAMPLES_KEY],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN,
        custom_config=component_config,
        analyzer_cache=(
            analyzer_cache.outputs[resolvers.CACHE_KEY] if resolvers.ANALYZER_CACHE else None
        ),
        # Without materialisation Transform writes only its graph (and the updated
        # cache): the Trainer applies the graph to the raw window in its input
        # pipeline, instead of Transform rewriting every span of the window daily.
        materialize=materialize,
        # StatisticsGen already computed the raw statistics and the DataGate judged
        # them; Transform's own pre- and post-transform statistics would be a second
        # and third TFDV pass that nothing reads (a third of Transform's time on a
        # small span, see docs/benchmarks.md).
        disable_statistics=True,
    ).with_id(TRANSFORM)
    # (Already after the gate through the window; explicit, as it is the point.)
    transform.add_upstream_node(data_gate)
    transform.add_upstream_node(analyzer_cache)

    # Always resolved (so the topology does not depend on the switch); the Trainer
    # uses it only when training.warm_start is on and the variables' shapes match.
    warm_start_model = tfx.dsl.Resolver(
        strategy_class=WarmStartModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
        **{resolvers.CURRENT_KEY: example_gen.outputs["examples"]},
    ).with_id(WARM_START)

    # TFX's Trainer with an executor that can also train on several workers.
    trainer = DistributedTrainer(
        run_fn=RUN_FN,
        base_model=warm_start_model.outputs["model"],
        examples=(
            transform.outputs["transformed_examples"]
            if materialize
            else span_window.outputs[resolvers.EXAMPLES_KEY]
        ),
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=tfx.proto.TrainArgs(num_steps=config.model.train_steps),
        eval_args=tfx.proto.EvalArgs(num_steps=config.model.eval_steps),
        custom_config={
            **component_config,
            "hyperparameters": config.model.to_dict(),
            STRATEGY_KEY: config.training.distribution_strategy,
            WARM_START_KEY: config.training.warm_start,
            MATERIALIZED_KEY: materialize,
            **trainer_cluster_config(config),
        },
    ).with_id(TRAINER)
    # The same topology either way (the raw window feeds the Trainer when not
    # materialised).
    trainer.add_upstream_node(span_window)
    return [span_window, analyzer_cache, transform, warm_start_model, trainer]


def release_nodes(
    config: PipelineConfig, example_gen: BaseNode, trainer: BaseNode
) -> list[BaseNode]:
    """The last blessed model, the Evaluator, the TFLite export and the Pusher.

    Args:
        config: The pipeline config.
        example_gen: The ExampleGen node (the newest span's eval split).
        trainer: The Trainer node.

    Returns:
        ``[baseline, evaluator, (tflite_converter,) pusher]``.
    """
    baseline = tfx.dsl.Resolver(
        strategy_class=LatestBlessedOtherModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
        **{CANDIDATE_KEY: trainer.outputs["model"]},
    ).with_id(BASELINE)
    # TFX's Evaluator, on a seeded sample of the eval split when max_examples is set
    # (one run evaluates candidate and baseline, so both see the same rows); its
    # executor also records TFMA's metrics in ML Metadata for the ops views.
    evaluator = SampledEvaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=baseline.outputs["model"],
        eval_config=eval_config(config),
        max_examples=eval_sample_size(config) or 0,
        seed=EVAL_SAMPLE_SEED,
    ).with_id(EVALUATOR)
    tflite_nodes = tflite_converter(config, example_gen, trainer)
    # Given the blessing, the Pusher runs every time and records "not pushed" for an
    # unblessed model instead of silently not running. TFX's Pusher, pushing through
    # a staging directory and a rename so TF Serving never sees a partial version.
    pusher = AtomicPusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=str(config.push_dir))
        ),
        tflite_model=tflite_nodes[0].outputs["tflite_model"] if tflite_nodes else None,
        push_label=config.serving.push_label,
        # The newest span's eval rows become the version's TF Serving warm-up requests.
        examples=example_gen.outputs["examples"],
    ).with_id(PUSHER)
    return [baseline, evaluator, *tflite_nodes, pusher]


def create_pipeline(
    config: PipelineConfig,
    metadata_connection_config: metadata_store_pb2.ConnectionConfig | None = None,
    beam_pipeline_args: Sequence[str] = (),
    span: int | None = None,
) -> Pipeline:
    """Creates the TFX pipeline: ingest, validate, transform, train, evaluate, push.

    Args:
        config: The pipeline config (topology, paths, hyperparameters, thresholds).
        metadata_connection_config: The ML Metadata connection (runner's choice).
        beam_pipeline_args: Beam arguments for Beam-powered components (runner's choice).
        span: Ingest this span instead of the newest one (backfills; a scheduler's
            logical date). The rest of the pipeline is unchanged.

    Returns:
        The pipeline, with caching on.
    """
    ingest = ingest_nodes(config, span)
    example_gen, _, schema_gen, _ = ingest
    serving = serving_nodes(config)
    previous_statistics, data_gate = gate_nodes(config, ingest, serving)
    training = training_nodes(config, example_gen, schema_gen, data_gate)
    release = release_nodes(config, example_gen, trainer=training[-1])
    return Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=str(config.outputs.pipeline_root),
        # In execution order (nodes.ALL_NODES): the IR keeps it, and the Airflow DAG
        # and the reports list nodes the same way.
        components=[*ingest, previous_statistics, *serving, data_gate, *training, *release],
        enable_cache=True,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_pipeline_args),
    )
