"""The atomic Pusher: TFX's Pusher executor, through a staging dir and a rename."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.utils import proto_utils

from components import pusher, serving_dir, tflite


def _inputs(tmp_path: Path, blessed: bool):
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "model")
    export = tmp_path / "model" / "Format-Serving"
    (export / "variables").mkdir(parents=True)
    (export / "variables" / "variables.index").write_bytes(b"index")
    (export / "saved_model.pb").write_bytes(b"graph")
    model.id = 7
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    blessing.set_int_custom_property("blessed", 1 if blessed else 0)
    blessing.set_int_custom_property("current_model_id", 7)
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed")
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=str(tmp_path / "serving"))
    )
    return (
        {
            standard_component_specs.MODEL_KEY: [model],
            standard_component_specs.MODEL_BLESSING_KEY: [blessing],
        },
        {standard_component_specs.PUSHED_MODEL_KEY: [pushed]},
        {standard_component_specs.PUSH_DESTINATION_KEY: proto_utils.proto_to_json(destination)},
    )


def test_blessed_model_appears_complete_in_one_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs, outputs, properties = _inputs(tmp_path, blessed=True)
    renames = []
    real_rename = os.rename

    def watch(source: str, target: str) -> None:
        # At the moment of the rename the version is complete, and not yet visible.
        assert Path(source, "saved_model.pb").read_bytes() == b"graph"
        assert not Path(target).exists()
        assert Path(source).parent.name.startswith(serving_dir.STAGING_PREFIX)
        renames.append(target)
        real_rename(source, target)

    monkeypatch.setattr(pusher.os, "rename", watch)
    pusher.AtomicPusherExecutor().Do(inputs, outputs, properties)

    pushed = outputs[standard_component_specs.PUSHED_MODEL_KEY][0]
    assert pushed.get_int_custom_property("pushed") == 1
    version = pushed.get_string_custom_property("pushed_version")
    final = tmp_path / "serving" / version
    assert renames == [str(final)]
    assert pushed.get_string_custom_property("pushed_destination") == str(final)
    assert (final / "saved_model.pb").read_bytes() == b"graph"
    assert (final / "variables" / "variables.index").read_bytes() == b"index"
    # Only the numeric version is left: no staging directory for TF Serving to see.
    assert [p.name for p in (tmp_path / "serving").iterdir()] == [version]


def test_unblessed_model_is_not_pushed_and_leaves_nothing(tmp_path: Path) -> None:
    inputs, outputs, properties = _inputs(tmp_path, blessed=False)
    pusher.AtomicPusherExecutor().Do(inputs, outputs, properties)
    assert (
        outputs[standard_component_specs.PUSHED_MODEL_KEY][0].get_int_custom_property("pushed") == 0
    )
    assert not list((tmp_path / "serving").iterdir())


def test_a_failed_copy_publishes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inputs, outputs, properties = _inputs(tmp_path, blessed=True)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(serving_dir, "fsync_tree", broken)
    with pytest.raises(OSError, match="disk full"):
        pusher.AtomicPusherExecutor().Do(inputs, outputs, properties)
    assert not list((tmp_path / "serving").iterdir())


def _tflite(tmp_path: Path, within_bound: bool) -> tflite.TFLiteModel:
    artifact = tflite.TFLiteModel()
    artifact.uri = str(tmp_path / "tflite")
    (tmp_path / "tflite").mkdir()
    (tmp_path / "tflite" / tflite.TFLITE_FILE).write_bytes(b"flatbuffer")
    artifact.set_int_custom_property("within_bound", int(within_bound))
    artifact.set_string_custom_property(
        "reason",
        "|AUC float - TFLite| = 0.0000 <= export.tflite_max_metric_delta 0.0100"
        if within_bound
        else "|AUC float - TFLite| = 0.0300 > export.tflite_max_metric_delta 0.0100",
    )
    return artifact


def test_tflite_within_bound_is_in_the_version_before_it_appears(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs, outputs, properties = _inputs(tmp_path, blessed=True)
    inputs[pusher.TFLITE_MODEL_KEY] = [_tflite(tmp_path, within_bound=True)]
    real_rename = os.rename

    def watch(source: str, target: str) -> None:
        # model.tflite is already in the staged version when it becomes visible.
        assert Path(source, tflite.TFLITE_FILE).read_bytes() == b"flatbuffer"
        real_rename(source, target)

    monkeypatch.setattr(pusher.os, "rename", watch)
    pusher.AtomicPusherExecutor().Do(inputs, outputs, properties)
    pushed = outputs[standard_component_specs.PUSHED_MODEL_KEY][0]
    final = Path(pushed.get_string_custom_property("pushed_destination"))
    assert (final / tflite.TFLITE_FILE).read_bytes() == b"flatbuffer"
    assert (final / "saved_model.pb").read_bytes() == b"graph"
    assert (Path(pushed.uri) / tflite.TFLITE_FILE).read_bytes() == b"flatbuffer"  # archived too
    assert pushed.get_int_custom_property(pusher.TFLITE_PUSHED) == 1
    assert pushed.get_string_custom_property(pusher.TFLITE_REASON) == (
        "pushed (10 bytes): |AUC float - TFLite| = 0.0000 <= export.tflite_max_metric_delta 0.0100"
    )


def test_tflite_over_the_bound_is_refused_and_the_savedmodel_pushed(tmp_path: Path) -> None:
    inputs, outputs, properties = _inputs(tmp_path, blessed=True)
    inputs[pusher.TFLITE_MODEL_KEY] = [_tflite(tmp_path, within_bound=False)]
    pusher.AtomicPusherExecutor().Do(inputs, outputs, properties)
    pushed = outputs[standard_component_specs.PUSHED_MODEL_KEY][0]
    assert pushed.get_int_custom_property("pushed") == 1
    final = Path(pushed.get_string_custom_property("pushed_destination"))
    assert sorted(p.name for p in final.iterdir()) == ["saved_model.pb", "variables"]
    assert pushed.get_int_custom_property(pusher.TFLITE_PUSHED) == 0
    assert pushed.get_string_custom_property(pusher.TFLITE_REASON) == (
        "refused: |AUC float - TFLite| = 0.0300 > export.tflite_max_metric_delta 0.0100"
    )


def test_unblessed_model_pushes_no_tflite_either(tmp_path: Path) -> None:
    inputs, outputs, properties = _inputs(tmp_path, blessed=False)
    inputs[pusher.TFLITE_MODEL_KEY] = [_tflite(tmp_path, within_bound=True)]
    pusher.AtomicPusherExecutor().Do(inputs, outputs, properties)
    pushed = outputs[standard_component_specs.PUSHED_MODEL_KEY][0]
    assert not list((tmp_path / "serving").iterdir())
    assert pushed.get_int_custom_property(pusher.TFLITE_PUSHED) == 0
    assert pushed.get_string_custom_property(pusher.TFLITE_REASON) == (
        "not pushed: the model was not blessed"
    )


def test_without_the_tflite_input_nothing_about_tflite_is_recorded(tmp_path: Path) -> None:
    inputs, outputs, properties = _inputs(tmp_path, blessed=True)
    pusher.AtomicPusherExecutor().Do(inputs, outputs, properties)
    pushed = outputs[standard_component_specs.PUSHED_MODEL_KEY][0]
    assert pusher.TFLITE_PUSHED not in pushed.mlmd_artifact.custom_properties


def test_a_version_pushed_concurrently_is_kept_and_this_push_recorded_against_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two runs sharing a serving dir (MySQL metadata) pushing in the same second: both
    # find the version free, the other one renames first.
    inputs, outputs, properties = _inputs(tmp_path, blessed=True)
    real_rename = os.rename

    def other_push_wins(source: str, target: str) -> None:
        if not Path(source).parent.name.startswith(serving_dir.STAGING_PREFIX):
            return real_rename(source, target)
        winner = Path(target).with_name(".staging-other-push")
        (winner / "variables").mkdir(parents=True)
        (winner / "saved_model.pb").write_bytes(b"the other run's graph")
        real_rename(winner, target)
        real_rename(source, target)  # fails: the version directory is not empty

    monkeypatch.setattr(pusher.os, "rename", other_push_wins)
    pusher.AtomicPusherExecutor().Do(inputs, outputs, properties)

    pushed = outputs[standard_component_specs.PUSHED_MODEL_KEY][0]
    version = pushed.get_string_custom_property("pushed_version")
    final = tmp_path / "serving" / version
    assert pushed.get_int_custom_property("pushed") == 1
    assert pushed.get_string_custom_property("pushed_destination") == str(final)
    # The complete version already there is kept, not mixed with this one.
    assert (final / "saved_model.pb").read_bytes() == b"the other run's graph"
    assert [p.name for p in (tmp_path / "serving").iterdir()] == [version]
