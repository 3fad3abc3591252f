"""The pipeline's topology and component settings (pipeline.pipeline), without a run."""

from __future__ import annotations

import dataclasses
import json

import pytest
import tensorflow_model_analysis as tfma
from google.protobuf import text_format
from tfx.dsl.compiler import compiler
from tfx.proto import example_gen_pb2, pusher_pb2, range_config_pb2, trainer_pb2
from tfx.utils import proto_utils

from components import resolvers
from components.model import trainer as model_trainer
from components.model.features import FeatureSpec
from components.model.hparams import Hyperparameters
from components.resolvers import (
    AnalyzerCacheStrategy,
    LatestBlessedOtherModelStrategy,
    PassedSpanWindowStrategy,
    WarmStartModelStrategy,
)
from pipeline import nodes
from pipeline import pipeline as topology
from pipeline.config import DEFAULT_CONFIG, PipelineConfig, load_config

IDS = {
    "CsvExampleGen",
    "StatisticsGen",
    "ImportSchemaGen",
    "ExampleValidator",
    "previous_passed_statistics",
    "DataGate",
    "span_window",
    "transform_analyzer_cache",
    "Transform",
    "warm_start_model",
    "Trainer",
    "latest_blessed_model",
    "Evaluator",
    "TFLiteConverter",
    "Pusher",
}


@pytest.fixture(scope="module")
def config() -> PipelineConfig:
    return load_config(DEFAULT_CONFIG)


@pytest.fixture(scope="module")
def pipeline(config: PipelineConfig):
    return topology.create_pipeline(config)


@pytest.fixture(scope="module")
def components(pipeline) -> dict:
    return {component.id: component for component in pipeline.components}


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def test_component_ids(pipeline) -> None:
    ids = [component.id for component in pipeline.components]
    assert len(ids) == len(IDS)
    assert set(ids) == IDS
    assert set(nodes.UPSTREAM) == IDS


def test_components_are_in_dependency_order(pipeline) -> None:
    ids = [component.id for component in pipeline.components]
    for before, after in [
        ("CsvExampleGen", "StatisticsGen"),
        ("StatisticsGen", "ExampleValidator"),
        ("ImportSchemaGen", "ExampleValidator"),
        ("CsvExampleGen", "span_window"),
        ("span_window", "Transform"),
        ("transform_analyzer_cache", "Transform"),
        ("ImportSchemaGen", "Transform"),
        ("Transform", "Trainer"),
        ("warm_start_model", "Trainer"),
        ("Trainer", "latest_blessed_model"),
        ("latest_blessed_model", "Evaluator"),
        ("Evaluator", "Pusher"),
        ("Trainer", "TFLiteConverter"),
        ("TFLiteConverter", "Pusher"),
    ]:
        assert ids.index(before) < ids.index(after), (before, after)


def test_upstream_edges(components) -> None:
    def upstream(node_id: str) -> set[str]:
        return {node.id for node in components[node_id].upstream_nodes}

    assert upstream("CsvExampleGen") == set()
    assert upstream("ImportSchemaGen") == set()
    assert upstream("StatisticsGen") == {"CsvExampleGen"}
    assert upstream("ExampleValidator") == {"StatisticsGen", "ImportSchemaGen"}
    assert upstream("previous_passed_statistics") == {"CsvExampleGen"}
    # The window is resolved after the gate, from spans that passed it.
    assert upstream("span_window") == {"CsvExampleGen", "DataGate"}
    assert upstream("DataGate") == {
        "CsvExampleGen",
        "StatisticsGen",
        "ImportSchemaGen",
        "ExampleValidator",
        "previous_passed_statistics",
    }
    # Transform waits for the data gate: blocking anomalies stop training and pushing.
    assert upstream("Transform") == {
        "span_window",
        "transform_analyzer_cache",
        "ImportSchemaGen",
        "DataGate",
    }
    assert upstream("transform_analyzer_cache") == {"CsvExampleGen"}
    assert upstream("warm_start_model") == {"CsvExampleGen"}
    # The Trainer reads the raw window and applies Transform's graph itself.
    assert upstream("Trainer") == {
        "span_window",
        "Transform",
        "ImportSchemaGen",
        "warm_start_model",
    }
    assert upstream("latest_blessed_model") == {"Trainer"}
    assert upstream("Evaluator") == {"CsvExampleGen", "Trainer", "latest_blessed_model"}
    # The converter reads the newest span's raw eval split; the Pusher takes its verdict.
    assert upstream("TFLiteConverter") == {"CsvExampleGen", "Trainer"}
    # The Pusher also reads the newest span's eval rows (its warm-up requests).
    assert upstream("Pusher") == {"CsvExampleGen", "Trainer", "Evaluator", "TFLiteConverter"}


def test_pipeline_settings(pipeline, config: PipelineConfig) -> None:
    assert pipeline.enable_cache is True
    assert pipeline.pipeline_info.pipeline_name == config.pipeline_name
    assert pipeline.pipeline_info.pipeline_root == str(config.outputs.pipeline_root)


def test_runner_arguments_are_passed_through(config: PipelineConfig) -> None:
    p = topology.create_pipeline(config, beam_pipeline_args=["--direct_num_workers=1"])
    assert p.beam_pipeline_args == ["--direct_num_workers=1"]


def test_example_gen_reads_the_newest_span(components, config: PipelineConfig) -> None:
    props = components["CsvExampleGen"].exec_properties
    assert props["input_base"] == str(config.data.input_base)
    input_config = proto_utils.json_to_proto(props["input_config"], example_gen_pb2.Input())
    assert [split.pattern for split in input_config.splits] == [config.data.span_pattern]
    output_config = proto_utils.json_to_proto(props["output_config"], example_gen_pb2.Output())
    splits = {s.name: s.hash_buckets for s in output_config.split_config.splits}
    assert splits == {"train": config.data.train_buckets, "eval": config.data.eval_buckets}


def test_example_gen_can_be_pinned_to_one_span(components, config: PipelineConfig) -> None:
    # Default: no range config, so ExampleGen resolves the newest span itself.
    assert components["CsvExampleGen"].exec_properties.get("range_config") in (None, "")
    pinned = {c.id: c for c in topology.create_pipeline(config, span=20758).components}
    range_config = proto_utils.json_to_proto(
        pinned["CsvExampleGen"].exec_properties["range_config"], range_config_pb2.RangeConfig()
    )
    assert range_config.static_range.start_span_number == 20758
    assert range_config.static_range.end_span_number == 20758


def test_schema_is_imported_from_the_config(components, config: PipelineConfig) -> None:
    assert components["ImportSchemaGen"].exec_properties["schema_file"] == str(config.schema_file)


def test_span_window_uses_the_configured_window(components, config: PipelineConfig) -> None:
    window = components["span_window"]
    assert window.exec_properties["resolver_class"] is PassedSpanWindowStrategy
    assert window.exec_properties["source_uri"] == {"num_spans": config.data.window_spans}


def test_data_gate_gets_the_policy_and_thresholds(components, config: PipelineConfig) -> None:
    gate = components["DataGate"].exec_properties
    assert gate["warn_only"] == ",".join(config.validation.warn_only)
    drift = json.loads(gate["drift_thresholds"])
    assert drift["device"] == ["l_infinity", 0.1]
    assert drift["price"] == ["jensen_shannon", 0.2]
    assert drift["hour"] == ["jensen_shannon", 0.1]
    # No serving data configured: no skew check, no serving nodes.
    assert json.loads(gate["skew_thresholds"]) == {}
    assert not set(nodes.SERVING_NODES) & set(components)


def test_serving_data_adds_the_skew_check(config: PipelineConfig, tmp_path) -> None:
    serving = dataclasses.replace(
        config,
        validation=dataclasses.replace(config.validation, serving_data=tmp_path / "serving"),
    )
    pipeline = topology.create_pipeline(serving)
    components = {component.id: component for component in pipeline.components}
    example_gen = components[nodes.SERVING_EXAMPLE_GEN]
    assert example_gen.exec_properties["input_base"] == str(tmp_path / "serving")
    skew = json.loads(components["DataGate"].exec_properties["skew_thresholds"])
    assert skew["device"] == ["l_infinity", 0.1]
    ir = compiler.Compiler().compile(pipeline)
    compiled = {
        node.pipeline_node.node_info.id: set(node.pipeline_node.upstream_nodes) for node in ir.nodes
    }
    assert compiled == {n: set(up) for n, up in nodes.upstream(serving=True, tflite=True).items()}


def test_transform_settings(components, config: PipelineConfig) -> None:
    props = components["Transform"].exec_properties
    assert props["preprocessing_fn"] == "components.model.preprocessing.preprocessing_fn"
    assert props["module_file"] is None
    custom = _json(props["custom_config"])
    assert custom["features"] == config.features.to_dict()
    assert FeatureSpec.from_dict(custom["features"]) == config.features
    assert custom["code_version"]
    # Only the graph (and the analyzer cache): the Trainer transforms the raw window.
    assert "transformed_examples" not in components["Transform"].outputs
    assert props["disable_statistics"] in (True, 1)


def test_transform_reads_and_writes_the_analyzer_cache(components, config: PipelineConfig) -> None:
    transform = components["Transform"]
    cache = components["transform_analyzer_cache"]
    assert cache.exec_properties["resolver_class"] is AnalyzerCacheStrategy
    assert transform.inputs["analyzer_cache"] is cache.outputs["analyzer_cache"]
    assert "updated_analyzer_cache" in transform.outputs
    # The resolver looks up this pipeline's Transform caches only.
    ir = compiler.Compiler().compile(topology.create_pipeline(config))
    (node,) = [n for n in ir.nodes if n.pipeline_node.node_info.id == "transform_analyzer_cache"]
    (channel,) = [
        channel
        for spec in node.pipeline_node.inputs.inputs.values()
        for channel in spec.channels
        if channel.artifact_query.type.name == "TransformCache"
    ]
    names = {query.name.field_value.string_value for query in channel.context_queries}
    assert f"{config.pipeline_name}.Transform" in names
    # The Trainer's examples are the raw window, not transformed_examples.
    trainer = components["Trainer"]
    assert trainer.inputs["examples"] is components["span_window"].outputs["examples"]
    assert _json(trainer.exec_properties["custom_config"])["materialized_examples"] is False


def test_levers_can_be_undone_for_the_bench(
    config: PipelineConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resolvers, "ANALYZER_CACHE", False)
    monkeypatch.setattr(model_trainer, "MATERIALIZE_TRANSFORMED", True)
    undone = {c.id: c for c in topology.create_pipeline(config).components}
    transform, trainer = undone["Transform"], undone["Trainer"]
    assert "analyzer_cache" not in transform.inputs
    assert trainer.inputs["examples"] is transform.outputs["transformed_examples"]
    assert _json(trainer.exec_properties["custom_config"])["materialized_examples"] is True
    # Same nodes and edges either way (the Airflow DAG is built from nodes.upstream).
    ir = compiler.Compiler().compile(topology.create_pipeline(config))
    compiled = {n.pipeline_node.node_info.id: set(n.pipeline_node.upstream_nodes) for n in ir.nodes}
    assert compiled == {n: set(up) for n, up in nodes.upstream(tflite=True).items()}


def test_trainer_settings(components, config: PipelineConfig) -> None:
    props = components["Trainer"].exec_properties
    assert props["run_fn"] == "components.model.trainer.run_fn"
    train_args = proto_utils.json_to_proto(props["train_args"], trainer_pb2.TrainArgs())
    eval_args = proto_utils.json_to_proto(props["eval_args"], trainer_pb2.EvalArgs())
    assert train_args.num_steps == config.model.train_steps
    assert eval_args.num_steps == config.model.eval_steps
    custom = _json(props["custom_config"])
    assert FeatureSpec.from_dict(custom["features"]) == config.features
    assert Hyperparameters.from_dict(custom["hyperparameters"]) == config.model
    assert custom["distribution_strategy"] == config.training.distribution_strategy
    assert custom["warm_start"] is config.training.warm_start is True
    assert "base_model" in components["Trainer"].inputs
    # Same code fingerprint as Transform, so both re-run when the code changes.
    assert (
        custom["code_version"]
        == _json(components["Transform"].exec_properties["custom_config"])["code_version"]
    )


def test_warm_start_resolver_strategy(components) -> None:
    props = components["warm_start_model"].exec_properties
    assert props["resolver_class"] is WarmStartModelStrategy


def test_baseline_resolver_strategy(components) -> None:
    props = components["latest_blessed_model"].exec_properties
    assert props["resolver_class"] is LatestBlessedOtherModelStrategy


def test_pusher_is_tfx_pusher_with_the_atomic_executor(components) -> None:
    from tfx.components import Pusher

    from components.pusher import AtomicPusherExecutor

    assert isinstance(components["Pusher"], Pusher)
    assert components["Pusher"].executor_spec.executor_class is AtomicPusherExecutor


def test_tflite_converter_settings(components, config: PipelineConfig) -> None:
    props = components["TFLiteConverter"].exec_properties
    assert config.export.tflite is True
    assert props["label_key"] == config.features.label
    assert props["gate_metric"] == config.evaluation.gate_metric
    assert props["max_metric_delta"] == pytest.approx(config.export.tflite_max_metric_delta)
    assert props["code_version"]
    pusher_inputs = components["Pusher"].inputs
    assert pusher_inputs["tflite_model"].producer_component_id == "TFLiteConverter"


def test_tflite_off_leaves_the_node_and_the_pusher_input_out(config: PipelineConfig) -> None:
    off = dataclasses.replace(config, export=dataclasses.replace(config.export, tflite=False))
    pipeline = topology.create_pipeline(off)
    components = {component.id: component for component in pipeline.components}
    assert "TFLiteConverter" not in components
    assert "tflite_model" not in components["Pusher"].inputs
    ir = compiler.Compiler().compile(pipeline)
    compiled = {
        node.pipeline_node.node_info.id: set(node.pipeline_node.upstream_nodes) for node in ir.nodes
    }
    assert compiled == {n: set(up) for n, up in nodes.upstream(tflite=False).items()}
    # Same Pusher exec properties with and without TFLite: the cache key is unchanged.
    with_tflite = {c.id: c for c in topology.create_pipeline(config).components}["Pusher"]
    assert components["Pusher"].exec_properties == with_tflite.exec_properties


def test_pusher_pushes_to_the_serving_dir(components, config: PipelineConfig) -> None:
    destination = proto_utils.json_to_proto(
        components["Pusher"].exec_properties["push_destination"], pusher_pb2.PushDestination()
    )
    assert destination.filesystem.base_directory == str(config.push_dir)
    assert destination.filesystem.base_directory == str(
        config.outputs.serving_dir / config.model_name
    )


def test_evaluator_gets_the_eval_config(components, config: PipelineConfig) -> None:
    stored = proto_utils.json_to_proto(
        components["Evaluator"].exec_properties["eval_config"], tfma.EvalConfig()
    )
    assert stored == topology.eval_config(config)


def test_eval_config_thresholds_only_on_the_gate_metric(config: PipelineConfig) -> None:
    eval_config = topology.eval_config(config)
    assert [spec.label_key for spec in eval_config.model_specs] == [config.features.label]
    assert eval_config.model_specs[0].signature_name == "serving_default"
    (metrics_spec,) = eval_config.metrics_specs
    names = [metric.class_name for metric in metrics_spec.metrics]
    assert names == list(config.evaluation.metrics)
    # The gate is a per-slice threshold on the overall slice (then one per
    # evaluation.slice_thresholds entry, see test_slice_thresholds.py), so a small
    # reporting slice cannot veto the model; no metric has a plain `threshold`
    # (which TFMA would apply to every slice).
    assert not any(m.HasField("threshold") for m in metrics_spec.metrics)
    gated = [m for m in metrics_spec.metrics if m.per_slice_thresholds]
    assert [m.class_name for m in gated] == [config.evaluation.gate_metric]
    per_slice, *by_slice = gated[0].per_slice_thresholds
    assert len(by_slice) == len(config.evaluation.slice_thresholds)
    assert list(per_slice.slicing_specs) == [tfma.SlicingSpec()]
    assert not gated[0].cross_slice_thresholds
    assert not metrics_spec.thresholds and not metrics_spec.per_slice_thresholds
    threshold = per_slice.threshold
    assert threshold.value_threshold.lower_bound.value == pytest.approx(
        config.evaluation.lower_bound
    )
    assert not threshold.value_threshold.HasField("upper_bound")
    change = threshold.change_threshold
    assert change.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    assert change.absolute.value == pytest.approx(-config.evaluation.max_regression, abs=1e-8)
    assert change.absolute.value < -config.evaluation.max_regression  # the epsilon
    assert not change.HasField("relative")


def test_eval_config_slices(config: PipelineConfig) -> None:
    specs = topology.eval_config(config).slicing_specs
    assert len(specs) == 1 + len(config.evaluation.slices)
    assert specs[0] == tfma.SlicingSpec()  # overall
    assert [tuple(spec.feature_keys) for spec in specs[1:]] == list(config.evaluation.slices)


def test_create_pipeline_is_pure(config: PipelineConfig) -> None:
    first = compiler.Compiler().compile(topology.create_pipeline(config))
    second = compiler.Compiler().compile(topology.create_pipeline(config))
    assert first == second
    assert text_format.MessageToString(first) == text_format.MessageToString(second)
    assert {node.pipeline_node.node_info.id for node in first.nodes} == IDS


def test_static_task_graph_matches_the_compiled_pipeline(config: PipelineConfig) -> None:
    # The Airflow DAG builds its task graph from pipeline.nodes.upstream() without
    # importing TFX; this keeps that declaration honest.
    ir = compiler.Compiler().compile(topology.create_pipeline(config))
    compiled = {
        node.pipeline_node.node_info.id: set(node.pipeline_node.upstream_nodes) for node in ir.nodes
    }
    assert compiled == {node: set(upstream) for node, upstream in nodes.UPSTREAM.items()}
