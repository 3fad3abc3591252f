"""End to end: the whole pipeline under LocalDagRunner on small generated click data.

One session-wide sequence of real runs (first run, rerun with nothing new, run after
a new span; ``clicks_runs`` in conftest.py) is shared by the assertions below, as
TFX's own penguin_pipeline_local_e2e_test does with its repeated runs.
"""

from __future__ import annotations

import csv
import datetime
from pathlib import Path

import pytest
import tensorflow as tf
from ml_metadata.proto import metadata_store_pb2
from tfx.components.example_gen import utils as example_gen_utils

from pipeline import nodes as topology
from pipeline.mlmd import connection as metadata
from tests.support.data import E2E_START as START
from tests.support.data import Runs

COMPONENTS = {
    topology.EXAMPLE_GEN,
    topology.STATISTICS_GEN,
    topology.SCHEMA_GEN,
    topology.EXAMPLE_VALIDATOR,
    topology.DATA_GATE,
    topology.TRANSFORM,
    topology.TRAINER,
    topology.EVALUATOR,
    topology.TFLITE_CONVERTER,  # clicks.yaml has export.tflite on
    topology.PUSHER,
}
RESOLVERS = set(topology.RESOLVERS)


def _span(day: datetime.date) -> int:
    return example_gen_utils.date_to_span_number(day.year, day.month, day.day)


@pytest.fixture(scope="module")
def runs(clicks_runs: Runs) -> Runs:
    return clicks_runs


def test_first_run_executes_every_component(runs: Runs) -> None:
    states = {node.node_id: node.state for node in runs.first.nodes}
    assert set(states) == COMPONENTS | RESOLVERS
    # The backfill's validation run imported the same schema already.
    assert states.pop(topology.SCHEMA_GEN) == "cached"
    assert {states[c] for c in COMPONENTS - {topology.SCHEMA_GEN}} == {"ran"}
    assert {states[r] for r in RESOLVERS} == {"resolved"}


def test_first_run_backfills_the_window_once(runs: Runs) -> None:
    # Each run ingests the newest span; the older day of the window is validated
    # first (ingest, statistics, schema check, data gate; no training) by a partial
    # run, and never again.
    assert runs.first.backfilled_spans == (_span(START),)
    assert runs.first.rejected_spans == {}
    assert runs.rerun.backfilled_spans == ()
    assert runs.new_span.backfilled_spans == ()
    store = metadata.open_store(runs.config)
    (validation_run,) = [
        c
        for c in store.get_contexts_by_type("pipeline_run")
        if c.name.endswith(f"-validate-{_span(START)}")
    ]
    executed = {
        c.name.split(".", 1)[1]: e.last_known_state
        for e in store.get_executions_by_context(validation_run.id)
        for c in store.get_contexts_by_execution(e.id)
        if c.type == "node"
    }
    assert set(executed) == set(topology.VALIDATION_NODES)
    assert executed[topology.DATA_GATE] == metadata_store_pb2.Execution.COMPLETE


def test_first_model_is_blessed_beats_chance_and_is_pushed(runs: Runs) -> None:
    assert runs.first.baseline_model_uri is None
    assert runs.first.metrics["auc"] > 0.7, runs.first.metrics
    assert runs.first.blessed is True
    assert runs.first.pushed is True


def test_pushed_model_is_in_tf_serving_layout(runs: Runs) -> None:
    destination = Path(runs.first.pushed_destination)
    # <serving_dir>/<model_name>/<numeric version>/saved_model.pb
    assert destination.parent == runs.config.outputs.serving_dir / runs.config.model_name
    assert destination.name.isdigit()
    assert runs.versions_after_first == [destination.name]
    assert (destination / "saved_model.pb").is_file()
    assert (destination / "variables" / "variables.index").is_file()
    assert any((destination / "assets").iterdir()), "Transform vocabularies must ship"


def _serialized_examples(csv_path: Path, count: int) -> list[bytes]:
    ints = {"hour", "position", "purchase_quantity", "clicked"}
    floats = {"price", "rating", "user_ctr", "item_ctr"}
    examples = []
    with csv_path.open(newline="") as handle:
        for row in list(csv.DictReader(handle))[:count]:
            feature = {}
            for key, value in row.items():
                if key in ints:
                    feature[key] = tf.train.Feature(
                        int64_list=tf.train.Int64List(value=[int(value)])
                    )
                elif key in floats:
                    feature[key] = tf.train.Feature(
                        float_list=tf.train.FloatList(value=[float(value)])
                    )
                else:
                    feature[key] = tf.train.Feature(
                        bytes_list=tf.train.BytesList(value=[value.encode()])
                    )
            examples.append(
                tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
            )
    return examples


def test_serving_signature_returns_a_probability_per_example(runs: Runs) -> None:
    loaded = tf.saved_model.load(runs.first.pushed_destination)
    serve = loaded.signatures["serving_default"]
    day = runs.config.data.input_base / START.isoformat() / "clicks.csv"
    examples = _serialized_examples(day, 7)
    output = serve(examples=tf.constant(examples))["probabilities"].numpy()
    assert output.shape == (7, 1)
    assert ((output > 0) & (output < 1)).all()


def _single(store, artifact_ids: list[int]) -> metadata_store_pb2.Artifact:
    assert len(artifact_ids) == 1, artifact_ids
    return store.get_artifacts_by_id(artifact_ids)[0]


def _inputs(store, execution_id: int, key: str) -> list[metadata_store_pb2.Artifact]:
    ids = [
        e.artifact_id
        for e in store.get_events_by_execution_ids([execution_id])
        if e.type == metadata_store_pb2.Event.INPUT and e.path.steps[0].key == key
    ]
    return store.get_artifacts_by_id(ids)


def _producer(store, artifact_id: int) -> int:
    # A cache hit re-links the cached outputs to the CACHED execution too; the
    # producer is the one COMPLETE execution.
    outputs = [
        e.execution_id
        for e in store.get_events_by_artifact_ids([artifact_id])
        if e.type == metadata_store_pb2.Event.OUTPUT
    ]
    complete = [
        e.id
        for e in store.get_executions_by_id(outputs)
        if e.last_known_state == metadata_store_pb2.Execution.COMPLETE
    ]
    assert len(complete) == 1, outputs
    return complete[0]


def test_metadata_links_pushed_model_back_to_its_training_examples(runs: Runs) -> None:
    store = metadata.open_store(runs.config)
    pusher = runs.first.node(topology.PUSHER).execution_id
    pushed = [
        a for a in store.get_artifacts_by_type("PushedModel") if _producer(store, a.id) == pusher
    ]
    assert len(pushed) == 1
    assert pushed[0].custom_properties["pushed_destination"].string_value == (
        runs.first.pushed_destination
    )
    # PushedModel <- Pusher <- Model <- Trainer <- (Transform's graph, and the raw
    # window Transform analysed) <- Examples <- CsvExampleGen, all through MLMD events.
    (model,) = _inputs(store, pusher, "model")
    trainer = _producer(store, model.id)
    assert trainer == runs.first.node(topology.TRAINER).execution_id
    (graph,) = _inputs(store, trainer, "transform_graph")
    transform = runs.first.node(topology.TRANSFORM).execution_id
    assert _producer(store, graph.id) == transform
    raw = _inputs(store, trainer, "examples")
    # Transform analysed exactly the window the Trainer trained on (no materialised copy).
    assert {a.id for a in _inputs(store, transform, "examples")} == {a.id for a in raw}
    assert {a.custom_properties["span"].int_value for a in raw} == {
        _span(START),
        _span(START + datetime.timedelta(days=1)),
    }
    assert {_producer(store, a.id) for a in raw} <= {
        e.id
        for e in store.get_executions()
        if store.get_execution_types_by_id([e.type_id])[0].name.endswith("CsvExampleGen")
    }


def test_rerun_without_new_data_executes_and_pushes_nothing_new(runs: Runs) -> None:
    states = {node.node_id: node.state for node in runs.rerun.nodes}
    assert {states[c] for c in COMPONENTS} == {"cached"}, states
    assert runs.rerun.pushed is False
    assert runs.versions_after_rerun == runs.versions_after_first
    assert runs.models_after_rerun == runs.models_after_first


def test_new_span_is_trained_and_evaluated_against_the_previous_model(runs: Runs) -> None:
    states = {node.node_id: node.state for node in runs.new_span.nodes}
    for component in (
        topology.EXAMPLE_GEN,
        topology.STATISTICS_GEN,
        topology.TRANSFORM,
        topology.TRAINER,
        topology.EVALUATOR,
    ):
        assert states[component] == "ran", states
    assert states[topology.SCHEMA_GEN] == "cached"
    assert runs.new_span.model_uri != runs.first.model_uri
    assert runs.new_span.baseline_model_uri == runs.first.model_uri
    store = metadata.open_store(runs.config)
    (ingested,) = store.get_artifacts_by_id(
        [
            e.artifact_id
            for e in store.get_events_by_execution_ids(
                [runs.new_span.node(topology.EXAMPLE_GEN).execution_id]
            )
            if e.type == metadata_store_pb2.Event.OUTPUT
        ]
    )
    assert ingested.custom_properties["span"].int_value == _span(START + datetime.timedelta(days=2))
    # The rolling window now feeds Transform all three days.
    raw = _inputs(store, runs.new_span.node(topology.TRANSFORM).execution_id, "examples")
    assert sorted(a.custom_properties["span"].int_value for a in raw) == [
        _span(START + datetime.timedelta(days=d)) for d in range(3)
    ]


def test_metadata_layout_is_pipeline_run_node(runs: Runs) -> None:
    # The layout the Airflow DAG's tasks write too (tests/e2e/test_airflow_scheduler_e2e.py).
    store = metadata.open_store(runs.config)
    names = {t.name for t in store.get_context_types()}
    assert {"pipeline", "pipeline_run", "node"} <= names
    assert not {"run", "component_run"} & names
    run = store.get_context_by_type_and_name("pipeline_run", runs.first.run_id)
    executed = {
        c.name.split(".", 1)[1]
        for e in store.get_executions_by_context(run.id)
        for c in store.get_contexts_by_execution(e.id)
        if c.type == "node"
    }
    assert executed == COMPONENTS | RESOLVERS


def test_every_run_writes_its_text_and_html_reports(runs: Runs) -> None:
    from pipeline.run.outputs import HTML_REPORT_FILE, REPORT_FILE, run_dir

    for summary in (runs.first, runs.rerun, runs.new_span):
        directory = run_dir(runs.config, summary.run_id)
        assert (
            (directory / REPORT_FILE)
            .read_text()
            .startswith(f"Pipeline 'clicks', run {summary.run_id}")
        )
        page = (directory / HTML_REPORT_FILE).read_text()
        assert summary.run_id in page and "<svg" in page
