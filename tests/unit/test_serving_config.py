"""TF Serving's model config file (components/serving_config.py): labels, atomic writes."""

from __future__ import annotations

import multiprocessing
import os
import resource
import signal
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from components import serving_config
from components.serving_config import CANARY, STABLE


def test_labels_round_trip_through_the_real_proto(tmp_path: Path) -> None:
    written = serving_config.update(
        tmp_path, "clicks", lambda current: {STABLE: "1700000000", CANARY: "1700086400"}
    )
    assert written == {CANARY: "1700086400", STABLE: "1700000000"}
    assert serving_config.labels(tmp_path, "clicks") == written

    # What TF Serving parses: ModelServerConfig, text format, from the file alone.
    parsed = text_format.Parse(
        (tmp_path / "models.config").read_text(), model_server_config_pb2.ModelServerConfig()
    )
    (entry,) = parsed.model_config_list.config
    assert entry.name == "clicks"
    assert entry.base_path == str(tmp_path.resolve() / "clicks")
    assert entry.model_platform == "tensorflow"
    # Only the labelled versions are loaded, so TF Serving can assign both labels.
    assert list(entry.model_version_policy.specific.versions) == [1700000000, 1700086400]
    assert dict(entry.version_labels) == {STABLE: 1700000000, CANARY: 1700086400}


def test_update_keeps_other_models_and_replaces_the_entry(tmp_path: Path) -> None:
    serving_config.update(tmp_path, "wine", lambda _: {STABLE: "5"})
    serving_config.update(tmp_path, "clicks", lambda _: {STABLE: "1", CANARY: "2"})
    seen: list[dict[str, str] | None] = []

    def promote(current: dict[str, str] | None) -> dict[str, str]:
        seen.append(current)
        return {STABLE: "2"}

    serving_config.update(tmp_path, "clicks", promote)
    assert seen == [{CANARY: "2", STABLE: "1"}]
    assert serving_config.labels(tmp_path, "clicks") == {STABLE: "2"}
    assert serving_config.labels(tmp_path, "wine") == {STABLE: "5"}
    config = serving_config.read(tmp_path)
    assert config is not None
    assert [e.name for e in config.model_config_list.config] == ["wine", "clicks"]
    clicks = config.model_config_list.config[1]
    assert list(clicks.model_version_policy.specific.versions) == [2]
    assert serving_config.labels(tmp_path, "other") is None


def test_no_file_reads_as_no_labels(tmp_path: Path) -> None:
    assert serving_config.read(tmp_path) is None
    assert serving_config.labels(tmp_path, "clicks") is None


def test_bad_labels_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot label version 'v2' as 'stable'"):
        serving_config.update(tmp_path, "clicks", lambda _: {STABLE: "v2"})
    with pytest.raises(ValueError, match="as 'beta'"):
        serving_config.update(tmp_path, "clicks", lambda _: {"beta": "2"})
    assert not (tmp_path / "models.config").exists()


def test_an_unparseable_file_is_named_in_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "models.config"
    path.write_text("model_config_list { config { name: 'clicks' versions: 3 } }\n")
    with pytest.raises(serving_config.ServingConfigError) as raised:
        serving_config.labels(tmp_path, "clicks")
    message = str(raised.value)
    assert str(path) in message and "ModelServerConfig" in message
    # A writer refuses too, leaving the file for a person to look at.
    with pytest.raises(serving_config.ServingConfigError):
        serving_config.update(tmp_path, "clicks", lambda _: {STABLE: "1"})
    assert "versions: 3" in path.read_text()


def _write_over_the_limit(serving_dir: str, limit: int) -> None:
    # A real write failure: the kernel refuses to grow a file past RLIMIT_FSIZE
    # (EFBIG once SIGXFSZ is ignored), after the temp file was opened.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    labels = {STABLE: "1" + "0" * 17, CANARY: "2" + "0" * 17}
    try:
        serving_config.update(serving_dir, "a-model-with-a-long-name" * 4, lambda _: labels)
    except OSError as err:
        os._exit(10 if err.errno == 27 else 11)  # 27: EFBIG
    os._exit(0)


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    serving_config.update(tmp_path, "clicks", lambda _: {STABLE: "1"})
    old = (tmp_path / "models.config").read_bytes()
    # Room for the old file's size but not for the new, longer text.
    worker = multiprocessing.get_context("fork").Process(
        target=_write_over_the_limit, args=(str(tmp_path), len(old) + 10)
    )
    worker.start()
    worker.join(60)
    assert worker.exitcode == 10, "the write should fail with EFBIG"
    assert (tmp_path / "models.config").read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == [".models.config.lock", "models.config"]


@pytest.mark.parametrize(
    ("current", "version", "push_label", "expected"),
    [
        (None, "2", STABLE, {STABLE: "2"}),
        ({STABLE: "1", CANARY: "2"}, "3", STABLE, {STABLE: "3"}),  # the canary is dropped
        ({STABLE: "1"}, "2", CANARY, {STABLE: "1", CANARY: "2"}),
        ({STABLE: "1", CANARY: "2"}, "3", CANARY, {STABLE: "1", CANARY: "3"}),
        (None, "1", CANARY, {STABLE: "1"}),  # the first model has nothing to be canary to
        ({}, "1", CANARY, {STABLE: "1"}),
    ],
)
def test_labels_after_a_push(
    current: dict[str, str] | None, version: str, push_label: str, expected: dict[str, str]
) -> None:
    assert serving_config.labels_after_push(current, version, push_label) == expected


def test_a_push_into_a_directory_served_before_labels_keeps_its_newest_as_stable(
    tmp_path: Path,
) -> None:
    base = tmp_path / "clicks"
    for version in ("100", "300", "200"):
        (base / version).mkdir(parents=True)
    (base / ".staging-host-1-abc").mkdir()  # not a version
    assert serving_config.label_push(base, "400", CANARY) == CANARY
    assert serving_config.labels(tmp_path, "clicks") == {STABLE: "300", CANARY: "400"}
    assert serving_config.label_push(base, "500", STABLE) == STABLE
    assert serving_config.labels(tmp_path, "clicks") == {STABLE: "500"}


def _push(tmp_path: Path, name: str, push_label: str, blessed: bool = True) -> Any:
    """Runs the real AtomicPusherExecutor on a tiny SavedModel-shaped directory."""
    from tfx.proto import pusher_pb2
    from tfx.types import standard_artifacts, standard_component_specs
    from tfx.utils import proto_utils

    from components import pusher

    model = standard_artifacts.Model()
    model.uri = str(tmp_path / name)
    export = tmp_path / name / "Format-Serving"
    export.mkdir(parents=True)
    (export / "saved_model.pb").write_bytes(name.encode())
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / f"{name}-blessing")
    blessing.set_int_custom_property("blessed", int(blessed))
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / f"{name}-pushed")
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(
            base_directory=str(tmp_path / "serving" / "clicks")
        )
    )
    pusher.AtomicPusherExecutor().Do(
        {
            standard_component_specs.MODEL_KEY: [model],
            standard_component_specs.MODEL_BLESSING_KEY: [blessing],
        },
        {standard_component_specs.PUSHED_MODEL_KEY: [pushed]},
        {
            standard_component_specs.PUSH_DESTINATION_KEY: proto_utils.proto_to_json(destination),
            pusher.PUSH_LABEL_KEY: push_label,
        },
    )
    return pushed


def test_the_pusher_labels_what_it_publishes(tmp_path: Path) -> None:
    import time

    serving = tmp_path / "serving"
    first = _push(tmp_path, "m1", CANARY)
    v1 = first.get_string_custom_property("pushed_version")
    # The first model becomes stable even when pushed as canary.
    assert first.get_string_custom_property("label") == STABLE
    assert serving_config.labels(serving, "clicks") == {STABLE: v1}

    time.sleep(1.1)  # TFX versions are Unix seconds
    second = _push(tmp_path, "m2", CANARY)
    v2 = second.get_string_custom_property("pushed_version")
    assert v2 != v1
    assert second.get_string_custom_property("label") == CANARY
    assert serving_config.labels(serving, "clicks") == {STABLE: v1, CANARY: v2}

    # An unblessed model is not pushed and changes no label.
    time.sleep(1.1)
    refused = _push(tmp_path, "m3", STABLE, blessed=False)
    assert refused.get_int_custom_property("pushed") == 0
    assert serving_config.labels(serving, "clicks") == {STABLE: v1, CANARY: v2}

    third = _push(tmp_path, "m4", STABLE)
    v3 = third.get_string_custom_property("pushed_version")
    assert serving_config.labels(serving, "clicks") == {STABLE: v3}
