"""The serving-directory publisher (components/serving_dir.py), on a real filesystem.

The Pusher (tests/unit/test_pusher.py) publishes through it; these pin the
publisher itself: stage, fsync, rename, the kept version on a clash and the clean-up
of leftovers whose owner process is dead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from components import serving_dir


def _model_dir(root: Path) -> Path:
    (root / "variables").mkdir(parents=True)
    (root / "saved_model.pb").write_bytes(b"graph" * 1000)
    (root / "variables" / "variables.index").write_bytes(b"index")
    (root / "variables" / "variables.data-00000-of-00001").write_bytes(b"weights" * 1000)
    return root


def _push(source: Path, base: Path, version: str) -> Path:
    # As the Pusher does: TFX's copy into the staging directory, then the publish.
    with serving_dir.staging(base) as stage:
        staged = stage / version
        shutil.copytree(source, staged, copy_function=shutil.copy2)
        assert serving_dir.publish(staged, base / version)
    return base / version


def _dead_pid() -> int:
    # A real process of this host that has ended (and been reaped): its pid is free.
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_push_is_complete_and_leaves_no_staging_dir(tmp_path: Path) -> None:
    source = _model_dir(tmp_path / "source")
    push_dir = tmp_path / "serving" / "clicks"

    target = _push(source, push_dir, "1700000001")

    assert target == push_dir / "1700000001"
    assert sorted(p.name for p in push_dir.iterdir()) == ["1700000001"]
    for path in source.rglob("*"):
        if path.is_file():
            assert (target / path.relative_to(source)).read_bytes() == path.read_bytes()


def test_a_push_failing_midway_publishes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _model_dir(tmp_path / "source")
    push_dir = tmp_path / "serving" / "clicks"
    push_dir.mkdir(parents=True)
    real_copy = shutil.copy2
    copied: list[str] = []

    def flaky_copy(src: str, dst: str) -> str:
        # While the copy is under way, only the hidden staging dir may exist.
        assert not (push_dir / "1700000002").exists()
        assert Path(dst).relative_to(push_dir).parts[0].startswith(serving_dir.STAGING_PREFIX)
        if copied:
            raise OSError("disk full")
        copied.append(real_copy(src, dst))
        return dst

    monkeypatch.setattr(shutil, "copy2", flaky_copy)
    with pytest.raises(OSError, match="disk full"):
        _push(source, push_dir, "1700000002")

    assert copied  # it did fail midway, after a file had been copied
    assert list(push_dir.iterdir()) == []  # no numeric dir, staging dir cleaned up


def test_every_file_and_directory_is_fsynced_before_the_rename_and_the_base_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _model_dir(tmp_path / "source")
    base = tmp_path / "serving"
    steps: list[tuple[str, str]] = []
    real_fsync, real_rename = os.fsync, os.rename

    def fsync(descriptor: int) -> None:
        steps.append(("fsync", os.readlink(f"/proc/self/fd/{descriptor}")))
        real_fsync(descriptor)

    def rename(src: str, dst: str) -> None:
        steps.append(("rename", str(src)))
        real_rename(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    target = _push(source, base, "1700000003")

    [(_, staged)] = [step for step in steps if step[0] == "rename"]
    rename_at = steps.index(("rename", staged))
    synced_before = {path for _, path in steps[:rename_at]}
    expected = {str(Path(staged) / p.relative_to(target)) for p in target.rglob("*")}
    assert expected | {staged} <= synced_before  # files, variables/ and the version dir
    assert steps[rename_at + 1 :] == [("fsync", str(base))]  # the rename made durable


def test_a_version_another_push_created_first_is_kept(tmp_path: Path) -> None:
    base = tmp_path / "serving"
    final = base / "1700000004"
    (final / "variables").mkdir(parents=True)
    (final / "saved_model.pb").write_bytes(b"the other run's graph")
    with serving_dir.staging(base) as stage:
        staged = _model_dir(stage / "1700000004")

        assert serving_dir.publish(staged, final) is False

    assert (final / "saved_model.pb").read_bytes() == b"the other run's graph"
    assert sorted(p.name for p in base.iterdir()) == ["1700000004"]  # staging removed


def test_only_leftovers_of_dead_owners_are_removed(tmp_path: Path) -> None:
    host = socket.gethostname()
    mine = serving_dir.staging_name()
    assert mine.startswith(f".staging-{host}-{os.getpid()}-")
    assert serving_dir.staging_owner(mine) == (host, os.getpid())
    names = [
        mine,  # a live owner: this process, mid-push
        f".staging-{host}-{_dead_pid()}-0123abcd",  # a push killed before its rename
        f".staging-other-host-{_dead_pid()}-0123abcd",  # another host's: cannot tell
        ".staging-0123abcd",  # the old, ownerless naming: left alone
        ".tmp-1700000005",  # an earlier release's rollback: nothing writes there now
        ".tmp-notes",
        "1795346571",
    ]
    for name in names:
        (tmp_path / name).mkdir()

    removed = serving_dir.remove_dead_staging(tmp_path)

    assert sorted(removed) == sorted([names[1], names[4]])
    assert sorted(os.listdir(tmp_path)) == sorted(set(names) - set(removed))


def test_a_publish_removes_a_dead_push_s_staging_dir_first(tmp_path: Path) -> None:
    source = _model_dir(tmp_path / "source")
    base = tmp_path / "serving"
    leftover = base / f".staging-{socket.gethostname()}-{_dead_pid()}-0123abcd" / "1700000006"
    _model_dir(leftover)

    _push(source, base, "1700000007")

    assert sorted(p.name for p in base.iterdir()) == ["1700000007"]
