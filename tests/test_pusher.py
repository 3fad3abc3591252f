"""The atomic Pusher: TFX's Pusher executor, through a staging dir and a rename."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.utils import proto_utils

from components import pusher


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
        {standard_component_specs.MODEL_KEY: [model], standard_component_specs.MODEL_BLESSING_KEY: [blessing]},
        {standard_component_specs.PUSHED_MODEL_KEY: [pushed]},
        {standard_component_specs.PUSH_DESTINATION_KEY: proto_utils.proto_to_json(destination)},
    )


def test_blessed_model_appears_complete_in_one_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inputs, outputs, properties = _inputs(tmp_path, blessed=True)
    renames = []
    real_rename = os.rename

    def watch(source: str, target: str) -> None:
        # At the moment of the rename the version is complete, and not yet visible.
        assert Path(source, "saved_model.pb").read_bytes() == b"graph"
        assert not Path(target).exists()
        assert Path(source).parent.name.startswith(pusher.STAGING_PREFIX)
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
    assert outputs[standard_component_specs.PUSHED_MODEL_KEY][0].get_int_custom_property("pushed") == 0
    assert not list((tmp_path / "serving").iterdir())


def test_a_failed_copy_publishes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inputs, outputs, properties = _inputs(tmp_path, blessed=True)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pusher, "_fsync_tree", broken)
    with pytest.raises(OSError, match="disk full"):
        pusher.AtomicPusherExecutor().Do(inputs, outputs, properties)
    assert not list((tmp_path / "serving").iterdir())
