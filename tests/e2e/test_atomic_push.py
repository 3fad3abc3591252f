"""Atomic pushes: TF Serving never sees a version directory without a complete model.

TF Serving polls the serving directory and loads any numeric version directory it
finds. These tests push the session's real blessed model (``clicks_runs``) several
times into a fresh serving directory with the real ``AtomicPusherExecutor`` while a
watcher checks every numeric directory it sees: ``saved_model.pb`` present
(``tf.saved_model.contains_saved_model``) and every file of the source SavedModel
there with the same bytes.

The watching is deterministic: every filesystem step a push takes (TFX's
``fileio.makedirs``/``copy``/``rmtree``, ``os.makedirs``/``os.rename``) is wrapped
to call through and then scan the serving directory, so each intermediate state is
inspected. An inotify thread (with a 5 ms poll fallback) scans as well, as TF
Serving's own poller would, without the step-by-step pacing.

The control pushes with TFX's plain ``tfx.components.pusher.executor.Executor``
under the same watcher, which must observe an incomplete version: the watcher can
see what the atomic pusher prevents.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import select
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import tensorflow as tf
from tfx.components.pusher import executor as tfx_pusher_executor
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.utils import proto_utils

from components.pusher import AtomicPusherExecutor
from components.serving_dir import STAGING_PREFIX
from pipeline.mlmd import connection as metadata
from pipeline.run.guards import output_check

if TYPE_CHECKING:
    from tests.support.data import Runs
    from tests.support.mounts import Mount

PUSHES = 3
# <sys/inotify.h>
IN_MODIFY, IN_CLOSE_WRITE, IN_MOVED_TO, IN_CREATE = 0x2, 0x8, 0x80, 0x100
IN_ISDIR = 0x40000000
EVENT = struct.Struct("iIII")


def _push(
    executor_class: type,
    model: Any,
    blessing: Any,
    pushed: Any,
    destination: pusher_pb2.PushDestination,
) -> None:
    """Runs a Pusher executor's ``Do`` as TFX's launcher would."""
    executor_class().Do(
        {
            standard_component_specs.MODEL_KEY: [model],
            standard_component_specs.MODEL_BLESSING_KEY: [blessing],
        },
        {standard_component_specs.PUSHED_MODEL_KEY: [pushed]},
        {standard_component_specs.PUSH_DESTINATION_KEY: proto_utils.proto_to_json(destination)},
    )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Watcher:
    """Checks every numeric version directory under ``base`` against the source model.

    Attributes:
        incomplete: ``(when, version, problem)`` for every incomplete version seen.
        seen: ``(when, version)`` for every complete version seen.
    """

    def __init__(self, base: Path, source: Path) -> None:
        self.base = base
        self.expected = {
            str(path.relative_to(source)): (path.stat().st_size, _digest(path))
            for path in source.rglob("*")
            if path.is_file()
        }
        assert "saved_model.pb" in self.expected
        assert "variables/variables.index" in self.expected
        assert any(name.startswith("variables/variables.data-") for name in self.expected)
        self.incomplete: list[tuple[str, str, str]] = []
        self.seen: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def problem(self, version: Path) -> str | None:
        """What is missing or short in one version directory (None: complete)."""
        if not tf.saved_model.contains_saved_model(str(version)):
            return "no saved_model.pb"
        for name, (size, digest) in self.expected.items():
            path = version / name
            try:
                if path.stat().st_size != size:
                    return f"{name} has {path.stat().st_size} of {size} bytes"
                if _digest(path) != digest:
                    return f"{name} differs from the source"
            except FileNotFoundError:
                return f"{name} is missing"
        return None

    def scan(self, when: str) -> None:
        """Checks every numeric directory in ``base`` now, as TF Serving would find it."""
        try:
            entries = [e for e in os.scandir(self.base) if e.name.isdigit() and e.is_dir()]
        except FileNotFoundError:
            return
        for entry in entries:
            problem = self.problem(Path(entry.path))
            with self._lock:
                if problem is None:
                    self.seen.append((when, entry.name))
                else:
                    self.incomplete.append((when, entry.name, problem))


class InotifyScanner(threading.Thread):
    """Scans on every inotify event under ``base`` (and every 5 ms without one)."""

    def __init__(self, watcher: Watcher) -> None:
        super().__init__(daemon=True)
        self.watcher = watcher
        self.stop = threading.Event()
        self.events = 0
        self._libc = ctypes.CDLL("libc.so.6", use_errno=True)
        self._fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self._fd >= 0, os.strerror(ctypes.get_errno())
        self._watch(watcher.base)

    def _watch(self, directory: Path) -> None:
        mask = IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_MODIFY
        self._libc.inotify_add_watch(self._fd, str(directory).encode(), mask)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                ready, _, _ = select.select([self._fd], [], [], 0.005)
                if ready:
                    self._drain()
                self.watcher.scan("inotify thread")
        finally:
            os.close(self._fd)

    def _drain(self) -> None:
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        offset = 0
        while offset < len(data):
            _, mask, _, length = EVENT.unpack_from(data, offset)
            name = data[offset + EVENT.size : offset + EVENT.size + length].rstrip(b"\0").decode()
            offset += EVENT.size + length
            self.events += 1
            # Follow new numeric version directories so each file written in them wakes us.
            if mask & IN_ISDIR and mask & IN_CREATE and name.isdigit():
                self._watch(self.watcher.base / name)


def _instrument(monkeypatch: pytest.MonkeyPatch, watcher: Watcher) -> list[str]:
    """Wraps every filesystem step of a push so the watcher scans after each one."""
    steps: list[str] = []

    def wrap(owner: object, name: str) -> None:
        real: Callable[..., object] = getattr(owner, name)

        def step(*args: object, **kwargs: object) -> object:
            result = real(*args, **kwargs)
            label = f"{name}({', '.join(str(a) for a in args)})"
            steps.append(label)
            watcher.scan(f"after {label}")
            return result

        monkeypatch.setattr(owner, name, step)

    for name in ("makedirs", "copy", "rmtree", "rename"):
        wrap(fileio, name)
    for name in ("makedirs", "rename"):
        wrap(os, name)
    return steps


def _blessed_model(runs: Runs) -> tuple[standard_artifacts.Model, standard_artifacts.ModelBlessing]:
    """The first run's Model and its (positive) ModelBlessing, as ML Metadata holds them."""
    store = metadata.open_store(runs.config)
    blessings = [
        b
        for b in store.get_artifacts_by_type("ModelBlessing")
        if b.custom_properties["blessed"].int_value == 1
    ]
    assert blessings, "the session's runs blessed no model"
    blessing = standard_artifacts.ModelBlessing()
    blessing.set_mlmd_artifact(blessings[0])
    (model_record,) = store.get_artifacts_by_id(
        [blessings[0].custom_properties["current_model_id"].int_value]
    )
    model = standard_artifacts.Model()
    model.set_mlmd_artifact(model_record)
    return model, blessing


def _push_several(
    executor_class: type,
    runs: Runs,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pushes: int,
) -> tuple[Watcher, InotifyScanner, list[str], list[str]]:
    """Pushes the blessed model ``pushes`` times (one version each) under both watchers."""
    model, blessing = _blessed_model(runs)
    base = tmp_path / "serving" / runs.config.model_name
    base.mkdir(parents=True)
    watcher = Watcher(base, Path(model.uri) / "Format-Serving")
    scanner = InotifyScanner(watcher)
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=str(base))
    )
    versions: list[str] = []
    scanner.start()
    try:
        with monkeypatch.context() as patch:
            steps = _instrument(patch, watcher)
            for index in range(pushes):
                # Versions are Unix seconds (TFX's rule): one push per second.
                time.sleep(1 - time.time() % 1 + 0.01)
                pushed = standard_artifacts.PushedModel()
                pushed.uri = str(tmp_path / f"pushed-{index}")
                _push(executor_class, model, blessing, pushed, destination)
                assert pushed.get_int_custom_property("pushed") == 1
                versions.append(pushed.get_string_custom_property("pushed_version"))
    finally:
        scanner.stop.set()
        scanner.join()
    return watcher, scanner, steps, versions


def test_atomic_pusher_never_shows_an_incomplete_version(
    clicks_runs: Runs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    watcher, scanner, steps, versions = _push_several(
        AtomicPusherExecutor, clicks_runs, tmp_path, monkeypatch, PUSHES
    )
    print(
        f"\natomic: {len(steps)} filesystem steps, {len(watcher.seen)} complete sightings, "
        f"{scanner.events} inotify events, {len(watcher.incomplete)} incomplete"
    )
    assert watcher.incomplete == []
    assert len(set(versions)) == PUSHES
    # Not vacuous: the version directories were there to be seen, complete, right
    # after the rename that published each one and by the thread.
    renames = [when for when, _ in watcher.seen if "rename" in when]
    assert len(renames) >= PUSHES
    assert any(when == "inotify thread" for when, _ in watcher.seen)
    assert scanner.events > 0
    # Every step ran in the staging directory until the rename, which is one step.
    base = watcher.base
    assert sorted(p.name for p in base.iterdir()) == sorted(versions)  # no staging left
    for step in steps:
        if step.startswith(("copy(", "makedirs(")) and str(base) in step:
            assert f"{base}/{STAGING_PREFIX}" in step or step == f"makedirs({base})", step
    for version in versions:
        assert watcher.problem(base / version) is None
    assert tf.saved_model.load(str(base / versions[-1])).signatures


def test_control_tfx_plain_pusher_is_seen_incomplete(
    clicks_runs: Runs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    watcher, scanner, steps, versions = _push_several(
        tfx_pusher_executor.Executor, clicks_runs, tmp_path, monkeypatch, 2
    )
    by_thread = [i for i in watcher.incomplete if i[0] == "inotify thread"]
    print(
        f"\nTFX plain Pusher: {len(steps)} filesystem steps, {len(watcher.incomplete)} "
        f"incomplete sightings ({len(by_thread)} by the inotify thread), e.g. "
        f"{sorted({problem for _, _, problem in watcher.incomplete})}"
    )
    # The watcher does see half-copied versions when nothing protects them: first an
    # empty version directory, then variables without saved_model.pb.
    stepwise = [i for i in watcher.incomplete if i[0].startswith("after ")]
    assert {version for _, version, _ in stepwise} == set(versions)
    assert any(problem == "no saved_model.pb" for _, _, problem in stepwise)
    # It ends complete (saved_model.pb is copied last), which is why only a watcher
    # looking during the push can tell.
    for version in versions:
        assert watcher.problem(watcher.base / version) is None


@pytest.mark.requires_root("mounts tmpfs filesystems")
def test_a_push_that_runs_out_of_space_leaves_no_version(
    clicks_runs: Runs, tmp_path: Path, tmpfs: Mount
) -> None:
    model, blessing = _blessed_model(clicks_runs)
    source = Path(model.uri) / "Format-Serving"
    size = sum(p.stat().st_size for p in source.rglob("*") if p.is_file())
    # Room for most of the model but not all of it: the copy fails part-way with ENOSPC.
    mount = tmpfs("serving", size=f"{size * 3 // 4 // 1024}k")
    results = {}
    for name, executor_class in (
        ("atomic", AtomicPusherExecutor),
        ("tfx", tfx_pusher_executor.Executor),
    ):
        base = mount / name
        pushed = standard_artifacts.PushedModel()
        pushed.uri = str(tmp_path / f"pushed-{name}")
        destination = pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=str(base))
        )
        with pytest.raises(Exception) as caught:
            _push(executor_class, model, blessing, pushed, destination)
        assert output_check.disk_full(caught.value), caught.value
        results[name] = sorted(p.name for p in base.iterdir()) if base.exists() else []
    print(f"\nafter ENOSPC mid-push: atomic left {results['atomic']}, TFX left {results['tfx']}")
    assert results["atomic"] == []  # no version, no staging directory
    # The control: TFX's own Pusher leaves a numeric version TF Serving would try to load.
    (version,) = results["tfx"]
    assert version.isdigit()
    problem = Watcher(mount / "tfx", source).problem(mount / "tfx" / version)
    print(f"TFX's version {version}: {problem}")
    assert problem is not None
