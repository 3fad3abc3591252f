"""The ML Metadata query layer (pipeline/mlmd/queries.py, subgraph.py) on a real SQLite store.

The store is written the way TFX's launcher writes it: every execution is put with
its input and output events (path: key, then index) and associated with the
``pipeline``, ``pipeline_run`` and ``node`` contexts, which also attributes its
artifacts to them; a cache hit is a CACHED execution whose events point at the
artifacts of the execution it reused; a rollback is attributed to the pipeline and
its own run only.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import ml_metadata as mlmd
import pytest
from google.protobuf import struct_pb2
from ml_metadata.proto import metadata_store_pb2 as pb

from pipeline.mlmd import queries, subgraph
from tests.support.mlmd_store import ensure_context, sqlite_store

PIPELINE = "clicks"
OTHER = "other"
Execution = pb.Execution
Event = pb.Event


@dataclasses.dataclass
class Store:
    """A store and the ids of what the tests look for in it."""

    store: mlmd.MetadataStore
    ids: dict[str, int] = dataclasses.field(default_factory=dict)

    def artifact(self, name: str, type_name: str, **custom: object) -> pb.Artifact:
        type_id = self.store.put_artifact_type(pb.ArtifactType(name=type_name))
        artifact = pb.Artifact(type_id=type_id, uri=f"/root/{name}", state=pb.Artifact.LIVE)
        for key, value in custom.items():
            _set(artifact.custom_properties[key], value)
        [artifact.id] = self.store.put_artifacts([artifact])
        self.ids[name] = artifact.id
        return self.store.get_artifacts_by_id([artifact.id])[0]

    def execution(
        self,
        name: str,
        node: str | None,
        run: str,
        state: int = Execution.COMPLETE,
        inputs: dict[str, list[pb.Artifact]] | None = None,
        outputs: dict[str, list[pb.Artifact]] | None = None,
        pipeline: str = PIPELINE,
        type_name: str | None = None,
        **custom: object,
    ) -> int:
        type_id = self.store.put_execution_type(
            pb.ExecutionType(name=type_name or f"tfx.components.{node}")
        )
        execution = pb.Execution(type_id=type_id, last_known_state=state)
        for key, value in custom.items():
            _set(execution.custom_properties[key], value)
        events = []
        for kind, side in ((Event.INPUT, inputs or {}), (Event.OUTPUT, outputs or {})):
            for key, artifacts in side.items():
                for index, artifact in enumerate(artifacts):
                    event = pb.Event(type=kind)
                    event.path.steps.add().key = key
                    event.path.steps.add().index = index
                    events.append((artifact, event))
        contexts = [
            ensure_context(self.store, queries.PIPELINE_CONTEXT, pipeline),
            ensure_context(self.store, queries.RUN_CONTEXT, run),
        ]
        if node is not None:
            contexts.append(ensure_context(self.store, queries.NODE_CONTEXT, f"{pipeline}.{node}"))
        execution_id, _, _ = self.store.put_execution(execution, events, contexts)
        # MLMD stamps creation in milliseconds: keep the runs' order unambiguous.
        time.sleep(0.003)
        self.ids[name] = execution_id
        return execution_id


def _set(value: pb.Value, item: object) -> None:
    if isinstance(item, bool) or isinstance(item, int):
        value.int_value = int(item)
    elif isinstance(item, float):
        value.double_value = item
    elif isinstance(item, str):
        value.string_value = item
    elif isinstance(item, dict):
        struct = struct_pb2.Struct()
        struct.update(item)
        value.struct_value.CopyFrom(struct)
    else:
        raise TypeError(item)


@pytest.fixture
def s(tmp_path: Path) -> Store:
    """Two runs of ``clicks`` (the second all cache hits), a rollback, and another
    pipeline sharing the first run id."""
    s = Store(sqlite_store(tmp_path / "mlmd.sqlite"))
    day1 = s.artifact("day1", "Examples", span=20000, version=3)
    day2 = s.artifact("day2", "Examples", span=20001)
    schema = s.artifact("schema", "Schema")
    s.execution(
        "gen",
        "CsvExampleGen",
        "run-1",
        outputs={"examples": [day2]},
        input_base="/data",
        input_config='{"splits": [{"pattern": "2024/*.csv"}]}',
    )
    s.execution("schema_gen", "ImportSchemaGen", "run-1", outputs={"schema": [schema]})
    graph = s.artifact("graph", "TransformGraph")
    # The window lists the newer span first: the order is the event path's index.
    s.execution(
        "transform",
        "Transform",
        "run-1",
        inputs={"examples": [day2, day1], "schema": [schema]},
        outputs={"transform_graph": [graph]},
        custom_config='{"code_version": "abc", "x": [1, 2]}',
    )
    s.execution(
        "trainer_failed",
        "Trainer",
        "run-1",
        Execution.FAILED,
        inputs={"transform_graph": [graph], "schema": [schema]},
    )
    model = s.artifact("model", "Model")
    s.execution(
        "trainer",
        "Trainer",
        "run-1",
        inputs={"transform_graph": [graph], "schema": [schema]},
        outputs={"model": [model]},
        train_args='{"num_steps": 10}',
        note="not json",
    )
    blessing = s.artifact(
        "anomalies", "ExampleAnomalies", blessed={"train": 1.0, "eval": 0.0}, ratio=0.5
    )
    s.execution("validator", "ExampleValidator", "run-1", outputs={"anomalies": [blessing]})
    s.execution("foreign", "Trainer", "run-1", pipeline=OTHER)
    s.execution(
        "gen_cached", "CsvExampleGen", "run-2", Execution.CACHED, outputs={"examples": [day2]}
    )
    s.execution(
        "trainer_cached",
        "Trainer",
        "run-2",
        Execution.CACHED,
        inputs={"transform_graph": [graph], "schema": [schema]},
        outputs={"model": [model]},
    )
    pushed = s.artifact("pushed", "PushedModel", pushed_version="2")
    s.execution(
        "rollback",
        None,
        "rollback-1",
        type_name=queries.ROLLBACK_TYPE,
        inputs={"model": [model]},
        outputs={"pushed_model": [pushed]},
    )
    s.execution("other_only", "Trainer", "run-3", pipeline=OTHER)
    return s


def _get(s: Store, name: str) -> pb.Execution:
    return s.store.get_executions_by_id([s.ids[name]])[0]


def _art(s: Store, name: str) -> pb.Artifact:
    return s.store.get_artifacts_by_id([s.ids[name]])[0]


def test_runs_are_the_pipelines_newest_first_with_the_last_attempt_per_node(s: Store) -> None:
    found = queries.runs(s.store, PIPELINE)

    assert [r.run_id for r in found] == ["rollback-1", "run-2", "run-1"]
    first = found[-1]
    assert first.by_node["Trainer"].id == s.ids["trainer"]  # the retry, not the failure
    assert s.ids["trainer_failed"] in [e.id for e in first.executions]
    assert s.ids["foreign"] not in [e.id for e in first.executions]  # same run id, other pipeline
    assert set(first.by_node) == {
        "CsvExampleGen",
        "ImportSchemaGen",
        "Transform",
        "Trainer",
        "ExampleValidator",
    }
    assert first.context.name == "run-1"
    assert first.start_ms <= first.end_ms
    assert found[0].by_node == {queries.ROLLBACK_TYPE: _get(s, "rollback")}
    assert [r.run_id for r in queries.runs(s.store, OTHER)] == ["run-3", "run-1"]
    assert queries.runs(s.store, "nope") == []


def test_run_by_id_and_an_unknown_run(s: Store) -> None:
    assert queries.run(s.store, PIPELINE, "run-2").by_node["Trainer"].id == s.ids["trainer_cached"]
    assert [r.run_id for r in queries.runs(s.store, PIPELINE, ["run-1", "missing"])] == ["run-1"]
    with pytest.raises(LookupError, match="no run 'run-3' of pipeline 'clicks'"):
        queries.run(s.store, PIPELINE, "run-3")


def test_node_ids_list_rollbacks_under_their_type(s: Store) -> None:
    node_of = queries.node_ids(s.store, PIPELINE)

    assert node_of[s.ids["rollback"]] == queries.ROLLBACK_TYPE
    assert node_of[s.ids["trainer_cached"]] == "Trainer"
    assert s.ids["foreign"] not in node_of
    assert queries.ROLLBACK_TYPE not in queries.node_ids(s.store, OTHER).values()


def test_node_executions_filter_by_node_context(s: Store) -> None:
    found = queries.node_executions(s.store, PIPELINE, "Trainer")

    assert [e.id for e in found] == sorted(
        [s.ids["trainer_failed"], s.ids["trainer"], s.ids["trainer_cached"]]
    )
    assert queries.node_executions(s.store, PIPELINE, "Nope") == []
    assert [e.id for e in queries.node_executions(s.store, OTHER, "Trainer")] == [
        s.ids["foreign"],
        s.ids["other_only"],
    ]


def test_filter_values_with_quotes_are_escaped(s: Store) -> None:
    s.execution("quoted", "Trai'ner", "run-1")

    assert [e.id for e in queries.node_executions(s.store, PIPELINE, "Trai'ner")] == [
        s.ids["quoted"]
    ]


def test_node_artifacts_are_what_its_executions_took_and_produced(s: Store) -> None:
    assert [a.id for a in queries.node_artifacts(s.store, PIPELINE, "CsvExampleGen")] == [
        s.ids["day2"]
    ]
    transform = queries.node_artifacts(s.store, PIPELINE, "Transform", "TransformGraph")
    assert [a.id for a in transform] == [s.ids["graph"]]
    assert len(queries.node_artifacts(s.store, PIPELINE, "Transform")) == 4


def test_pipeline_artifacts_filter_by_type(s: Store) -> None:
    assert [a.id for a in queries.pipeline_artifacts(s.store, PIPELINE, "PushedModel")] == [
        s.ids["pushed"]
    ]
    assert len(queries.pipeline_artifacts(s.store, PIPELINE)) == 7
    assert queries.pipeline_artifacts(s.store, OTHER) == []


def test_artifacts_follow_the_event_path_index(s: Store) -> None:
    inputs = queries.artifacts(s.store, s.ids["transform"], "examples", Event.INPUT)
    assert [a.id for a in inputs] == [s.ids["day2"], s.ids["day1"]]
    assert queries.artifacts(s.store, s.ids["transform"], "examples") == []  # no such output
    outputs = queries.artifacts(s.store, s.ids["trainer"], "model")
    assert [a.id for a in outputs] == [s.ids["model"]]
    assert queries.artifact(s.store, _get(s, "trainer"), "model") == outputs[0]
    assert queries.artifact(s.store, _get(s, "trainer"), "nothing") is None
    assert queries.artifact(s.store, None, "model") is None


def test_custom_reads_every_kind_of_value(s: Store) -> None:
    day1, anomalies = _art(s, "day1"), _art(s, "anomalies")

    assert queries.custom(day1, "span") == 20000
    assert queries.custom(_art(s, "pushed"), "pushed_version") == "2"
    assert queries.custom(anomalies, "ratio") == 0.5
    assert queries.custom(anomalies, "blessed") == {"train": 1.0, "eval": 0.0}
    assert queries.custom(day1, "missing") is None


def test_json_property_decodes_json_and_keeps_the_rest(s: Store) -> None:
    trainer = _get(s, "trainer")

    assert queries.json_property(trainer, "train_args") == {"num_steps": 10}
    assert queries.json_property(_get(s, "transform"), "custom_config") == {
        "code_version": "abc",
        "x": [1, 2],
    }
    assert queries.json_property(trainer, "note") == "not json"
    assert queries.json_property(trainer, "missing") is None
    assert queries.json_property(None, "train_args") is None
    typed = pb.Execution()
    typed.properties["eval_config"].string_value = '{"a": 1}'
    assert queries.json_property(typed, "eval_config") == {"a": 1}


def test_span_spans_and_span_date(s: Store) -> None:
    assert queries.span(_art(s, "day1")) == 20000
    assert queries.span(_art(s, "schema")) is None
    assert queries.span(None) is None
    typed = pb.Artifact()
    typed.properties["span"].int_value = 7
    assert queries.span(typed) == 7
    found = [_art(s, "day2"), _art(s, "schema"), _art(s, "day1"), _art(s, "day2")]
    assert queries.spans(found) == (20000, 20001)
    assert queries.span_date(20000) == "2024-10-04"
    assert queries.span_date(None) == "?"
    assert queries.span_date(10**9) == "?"


def test_producer_is_the_execution_that_ran_not_the_cache_hit(s: Store) -> None:
    assert queries.producer(s.store, s.ids["model"]).id == s.ids["trainer"]
    assert queries.producer(s.store, s.ids["day2"]).id == s.ids["gen"]
    assert queries.producer(s.store, s.ids["day1"]) is None  # nothing produced it
    consumers = queries.executions_with(s.store, s.ids["graph"], Event.INPUT, "transform_graph")
    # The one that ran first, then the failed attempt, then the cache hit.
    assert [e.id for e in consumers] == [
        s.ids["trainer"],
        s.ids["trainer_failed"],
        s.ids["trainer_cached"],
    ]
    assert queries.executions_with(s.store, s.ids["graph"], Event.INPUT, "nothing") == []


def test_run_id_and_type_of_an_execution(s: Store) -> None:
    assert queries.run_id_of(s.store, _get(s, "trainer_cached")) == "run-2"
    assert queries.execution_type(s.store, _get(s, "trainer")) == "tfx.components.Trainer"
    assert queries.state_name(_get(s, "gen_cached")) == "cached"
    assert queries.utc(0) == "1970-01-01T00:00:00+00:00"


def test_upstream_holds_the_producers_and_their_inputs(s: Store) -> None:
    graph = subgraph.upstream(s.store, s.ids["model"], hops=5)

    trainer = graph.producer(s.ids["model"])
    assert trainer is not None and trainer.id == s.ids["trainer"]
    assert graph.run_id(trainer) == "run-1"
    [transform_graph] = graph.artifacts(trainer.id, "transform_graph", Event.INPUT)
    transform = graph.producer(transform_graph.id)
    assert transform is not None and transform.id == s.ids["transform"]
    examples = graph.artifacts(transform.id, "examples", Event.INPUT)
    assert [a.id for a in examples] == [s.ids["day2"], s.ids["day1"]]
    gen = graph.producer(s.ids["day2"])
    assert gen is not None and gen.id == s.ids["gen"]
    assert queries.custom(gen, "input_base") == "/data"
    assert graph.producer(s.ids["day1"]) is None
    # Downstream of the model (the rollback) is not upstream.
    assert s.ids["rollback"] not in {e.id for e in graph.graph.executions}


def test_upstream_stops_after_the_hops(s: Store) -> None:
    graph = subgraph.upstream(s.store, s.ids["model"], hops=1)

    assert graph.producer(s.ids["model"]).id == s.ids["trainer"]
    assert s.ids["transform"] not in {e.id for e in graph.graph.executions}
