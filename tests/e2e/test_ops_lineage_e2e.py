"""Lineage, promote and rollback over ML Metadata (pipeline/ops/lineage.py, labels.py).

These tests read the session's real runs (``clicks_runs``); label tests work on a
copy of its metadata store and serving directory, never on the fixture itself.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pipeline.ops import labels as labels_lib
from pipeline.views.labels import format_label_change
from pipeline.views.lineage import format_lineage, to_json

if TYPE_CHECKING:
    import ml_metadata as mlmd

    from pipeline.config import PipelineConfig
    from tests.support.data import Runs


def _version(destination: str | None) -> str:
    assert destination is not None
    return Path(destination).name


def _served(runs: Runs) -> str:
    # The third day's model is served only if the Evaluator blessed it.
    pushing = runs.new_span if runs.new_span.pushed else runs.first
    return _version(pushing.pushed_destination)


def _copy(runs: Runs, tmp_path: Path) -> PipelineConfig:
    """Copies the fixture's store and serving dir; returns a config pointing at them."""
    config = runs.config
    metadata_path = tmp_path / "metadata.sqlite"
    shutil.copy2(config.outputs.metadata_path, metadata_path)
    serving_dir = tmp_path / "serving"
    shutil.copytree(config.outputs.serving_dir, serving_dir)
    outputs = dataclasses.replace(
        config.outputs, metadata_path=metadata_path, serving_dir=serving_dir
    )
    return dataclasses.replace(config, outputs=outputs)


def _store(config: PipelineConfig) -> mlmd.MetadataStore:
    from pipeline.mlmd import connection as metadata

    return metadata.open_store(config)


def _snapshot(store: mlmd.MetadataStore, config: PipelineConfig) -> tuple[object, ...]:
    return (
        sorted(p.name for p in config.push_dir.iterdir()),
        (config.outputs.serving_dir / "models.config").read_bytes(),
        len(store.get_executions()),
        len(store.get_artifacts()),
        len(store.get_contexts()),
    )


def test_lineage_of_served_version_matches_the_run_that_pushed_it(clicks_runs: Runs) -> None:
    from ml_metadata.proto import metadata_store_pb2

    from components.version import code_version
    from pipeline.mlmd.queries import custom
    from pipeline.nodes import TRANSFORM
    from pipeline.ops.lineage import lineage
    from pipeline.views.lineage import format_lineage, to_json

    config = clicks_runs.config
    store = _store(config)
    pushing = clicks_runs.new_span if clicks_runs.new_span.pushed else clicks_runs.first
    result = lineage(store, config)

    assert result.version == _served(clicks_runs)
    assert result.served
    assert result.push.rollback_of is None and result.original_push is None
    assert result.push.run_id == pushing.run_id
    assert result.run_id == pushing.run_id
    assert result.training.model_uri == pushing.model_uri

    # The spans are exactly the raw Examples the pushing run's Transform read.
    transform = pushing.node(TRANSFORM).execution_id
    ids = [
        e.artifact_id
        for e in store.get_events_by_execution_ids([transform])
        if e.type == metadata_store_pb2.Event.INPUT
        and any(s.key == "examples" for s in e.path.steps)
    ]
    spans = sorted(int(custom(a, "span")) for a in store.get_artifacts_by_id(ids))
    assert [s.span for s in result.spans] == spans
    assert all(s.files and all(Path(f).is_file() for f in s.files) for s in result.spans)
    assert all(s.input_fingerprint for s in result.spans)
    assert result.newest_span is not None and result.newest_span.span == max(spans)
    assert result.newest_span.gate_passed is True
    assert result.newest_span.anomalies_blessed is True

    assert result.training.code_version == code_version()
    assert result.training.hyperparameters == json.loads(json.dumps(config.model.to_dict()))
    assert result.training.train_steps == config.model.train_steps
    assert result.training.schema_uri and result.training.transform_graph_uri

    evaluation = result.evaluation
    assert evaluation is not None and evaluation.blessed is True
    assert evaluation.metrics == pytest.approx(pushing.metrics)
    assert evaluation.gate is not None
    assert evaluation.gate.lower_bound == pytest.approx(config.evaluation.lower_bound)
    assert evaluation.baseline_model_uri == pushing.baseline_model_uri

    text = format_lineage(result)
    assert f"version {result.version} (served)" in text
    assert f"code version: {code_version()}" in text
    assert "rollback: no" in text
    assert json.loads(to_json(result))["training"]["code_version"] == code_version()


def test_lineage_of_unknown_version_is_a_lookup_error(clicks_runs: Runs) -> None:
    from pipeline.ops.lineage import lineage

    with pytest.raises(LookupError, match="version '123' .* was never pushed"):
        lineage(_store(clicks_runs.config), clicks_runs.config, "123")


def test_pushes_label_stable_and_rollback_moves_stable_back(
    clicks_runs: Runs, tmp_path: Path
) -> None:
    from ml_metadata.proto import metadata_store_pb2

    from components import serving_config
    from pipeline.mlmd.queries import custom
    from pipeline.ops.lineage import lineage

    # Seeded data and training: the third day's model is blessed and pushed, so two
    # versions exist; pushed as stable (the default), the second replaced the first.
    assert clicks_runs.new_span.pushed, "the fixture must have pushed two versions"
    config = _copy(clicks_runs, tmp_path)
    store = _store(config)
    first = _version(clicks_runs.first.pushed_destination)
    second = _served(clicks_runs)
    serving = config.outputs.serving_dir
    assert serving_config.labels(serving, config.model_name) == {"stable": second}
    pushes = {custom(a, "pushed_version"): a for a in store.get_artifacts_by_type("PushedModel")}
    assert custom(pushes[first], "label") == custom(pushes[second], "label") == "stable"
    before = lineage(store, config, first)
    assert before.labels == () and not before.served
    versions = sorted(p.name for p in config.push_dir.iterdir())

    result = labels_lib.rollback(store, config)  # default: the previous stable version

    assert (result.from_version, result.to_version) == (second, first)
    assert dict(result.labels) == {"stable": first}
    assert serving_config.labels(serving, config.model_name) == {"stable": first}
    # Nothing copied: the same version directories, the label moved.
    assert sorted(p.name for p in config.push_dir.iterdir()) == versions

    # ML Metadata: one COMPLETE Rollback execution, in the pipeline and its own run,
    # from the version now stable back to its model.
    (execution,) = store.get_executions_by_type("Rollback")
    assert execution.id == result.execution_id
    assert execution.last_known_state == metadata_store_pb2.Execution.COMPLETE
    assert {k: v.string_value for k, v in execution.properties.items()} == {
        "label": "stable",
        "from_version": second,
        "to_version": first,
    }
    contexts = {(c.type, c.name) for c in store.get_contexts_by_execution(execution.id)}
    assert ("pipeline", config.pipeline_name) in contexts
    assert ("pipeline_run", result.run_id) in contexts and result.run_id.startswith("rollback-")
    edges = {
        (e.type, e.path.steps[0].key, e.artifact_id)
        for e in store.get_events_by_execution_ids([execution.id])
    }
    assert edges == {
        (metadata_store_pb2.Event.INPUT, "source_pushed_model", before.push.pushed_model_id),
        (metadata_store_pb2.Event.INPUT, "model", before.training.model_id),
        (metadata_store_pb2.Event.INPUT, "previous_pushed_model", pushes[second].id),
    }

    # The served version is the stable one now, with its own (unchanged) lineage.
    after = lineage(store, config)
    assert after.version == first and after.served and after.labels == ("stable",)
    assert after.training == before.training and after.spans == before.spans
    text = format_lineage(after)
    assert f"version {first} (served)" in text and "labels:   stable" in text
    assert json.loads(to_json(result))["to_version"] == first
    assert f"version {first} is stable now (was {second})" in format_label_change(result)

    # No earlier stable than the first; the version already stable is refused.
    snapshot = _snapshot(store, config)
    with pytest.raises(ValueError, match=f"Cannot roll back from version {first}"):
        labels_lib.rollback(store, config)
    with pytest.raises(ValueError, match=f"Version {first} is already stable"):
        labels_lib.rollback(store, config, first)
    assert _snapshot(store, config) == snapshot

    # Promoting the second again is recorded, and a rollback goes back once more.
    promoted = labels_lib.promote(store, config, second)
    assert (promoted.from_version, promoted.to_version) == (first, second)
    assert labels_lib.stable_history(store, config) == [first, second]
    assert labels_lib.rollback(store, config).to_version == first
    assert len(store.get_executions_by_type("Promote")) == 1


def _record_unblessed_push(store: mlmd.MetadataStore, config: PipelineConfig, version: str) -> None:
    """Records a push of ``version`` whose blessing says not blessed (Pusher-like)."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    pusher_type = next(t for t in store.get_execution_types() if t.name.endswith("Pusher"))
    model = store.get_artifacts_by_type("Model")[-1]
    blessing = pb.Artifact(type_id=store.get_artifact_type("ModelBlessing").id, uri="/nowhere")
    blessing.custom_properties["blessed"].int_value = 0
    pushed = pb.Artifact(type_id=store.get_artifact_type("PushedModel").id, uri="/nowhere")
    pushed.custom_properties["pushed"].int_value = 1
    pushed.custom_properties["pushed_version"].string_value = version
    pushed.custom_properties["pushed_destination"].string_value = str(config.push_dir / version)

    def event(kind: int, key: str) -> pb.Event:
        e = pb.Event(type=kind)
        e.path.steps.add().key = key
        return e

    context = store.get_context_by_type_and_name("pipeline", config.pipeline_name)
    store.put_execution(
        pb.Execution(type_id=pusher_type.id, last_known_state=pb.Execution.COMPLETE),
        [
            (model, event(pb.Event.INPUT, "model")),
            (blessing, event(pb.Event.INPUT, "model_blessing")),
            (pushed, event(pb.Event.OUTPUT, "pushed_model")),
        ],
        [context],
    )


def test_promote_and_rollback_refuse_unknown_unblessed_and_missing_versions(
    clicks_runs: Runs, tmp_path: Path
) -> None:
    config = _copy(clicks_runs, tmp_path)
    store = _store(config)
    served = _served(clicks_runs)
    first = _version(clicks_runs.first.pushed_destination)

    snapshot = _snapshot(store, config)
    with pytest.raises(ValueError, match="Version 42 does not exist"):
        labels_lib.rollback(store, config, "42")
    with pytest.raises(ValueError, match="Version 42 does not exist"):
        labels_lib.promote(store, config, "42")
    assert _snapshot(store, config) == snapshot

    # A version directory dropped in by hand: no push, so no blessing, in MLMD.
    stray = str(int(served) - 5)
    shutil.copytree(config.push_dir / served, config.push_dir / stray)
    snapshot = _snapshot(store, config)
    with pytest.raises(ValueError, match=f"Version {stray} was never blessed"):
        labels_lib.promote(store, config, stray)
    assert _snapshot(store, config) == snapshot

    # A push recorded with a negative blessing.
    unblessed = str(int(served) - 7)
    shutil.copytree(config.push_dir / served, config.push_dir / unblessed)
    _record_unblessed_push(store, config, unblessed)
    snapshot = _snapshot(store, config)
    with pytest.raises(ValueError, match=f"Version {unblessed} was never blessed"):
        labels_lib.rollback(store, config, unblessed)
    assert _snapshot(store, config) == snapshot

    # A blessed version whose directory is gone cannot be served.
    shutil.rmtree(config.push_dir / first)
    snapshot = _snapshot(store, config)
    with pytest.raises(ValueError, match=f"Version {first} cannot be served: its directory"):
        labels_lib.rollback(store, config)
    assert _snapshot(store, config) == snapshot
