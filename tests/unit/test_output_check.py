"""Unwritable or full output directories: a run refuses at once, records and pushes nothing.

The read-only and full directories are real: small tmpfs filesystems mounted for
the test (we run as root with CAP_SYS_ADMIN; permission bits would not stop root,
so ``chmod`` could not make a directory unwritable), filled with a file until the
kernel says ENOSPC, or mounted read-only. Every mount is unmounted in a finalizer.
"""

from __future__ import annotations

import dataclasses
import datetime
import errno
import os
import sqlite3
import types
from pathlib import Path

import pytest

from pipeline.config import (
    DEFAULT_CONFIG,
    ENV_DATA_ROOT,
    ENV_METADATA_PATH,
    ENV_OUTPUT_ROOT,
    ENV_SERVING_DIR,
    ConfigError,
    load_config,
    with_env_overrides,
)
from pipeline.run.guards import output_check
from pipeline.run.guards.output_check import OutputCheckError
from tests.support.cli import run_cli
from tests.support.config import write_clicks_config
from tests.support.mounts import Mount


def fill(directory: Path) -> None:
    """Writes zeros into ``directory`` until its filesystem has no space left."""
    with open(directory / "filler", "wb", buffering=0) as handle:
        for chunk in (b"\0" * 65536, b"\0" * 512, b"\0"):
            try:
                while True:
                    handle.write(chunk)
            except OSError as error:
                assert error.errno == errno.ENOSPC
    assert os.statvfs(directory).f_bavail == 0


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def served(tmp_path: Path) -> Path:
    """A serving dir already serving one version (its bytes must not change)."""
    version = tmp_path / "served" / "clicks" / "1795000000"
    (version / "variables").mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"served graph")
    (version / "variables" / "variables.index").write_bytes(b"served index")
    return tmp_path / "served"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    keys = (ENV_OUTPUT_ROOT, ENV_SERVING_DIR, ENV_METADATA_PATH, ENV_DATA_ROOT, "MLMD_MYSQL_HOST")
    for key in keys:
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


# --- unit: the probe, the setting and where a path came from ---------------------


def test_probe_creates_the_directory_and_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    output_check.probe(target)
    assert target.is_dir() and list(target.iterdir()) == []


def test_min_free_mb_is_read_validated_and_kept_by_env_overrides(tmp_path: Path) -> None:
    assert load_config(DEFAULT_CONFIG).outputs.min_free_mb == 1024
    config = load_config(write_clicks_config(tmp_path, root=tmp_path / "out", min_free_mb=5))
    assert config.outputs.min_free_mb == 5
    moved = with_env_overrides(config, {ENV_OUTPUT_ROOT: str(tmp_path / "elsewhere")})
    assert moved.outputs.min_free_mb == 5
    assert moved.outputs.serving_dir == tmp_path / "elsewhere" / "serving"
    for bad in (-1, "lots", True, 1.5):
        with pytest.raises(ConfigError, match=r"clicks\.yaml: outputs\.min_free_mb must be"):
            load_config(write_clicks_config(tmp_path, min_free_mb=bad))


def test_each_directory_names_the_setting_that_chose_it(tmp_path: Path) -> None:
    source = write_clicks_config(tmp_path, root=tmp_path / "out", serving_dir=tmp_path / "srv")
    config = load_config(source)
    dirs = {d.role: d.origin for d in output_check.output_dirs(config, {})}
    assert dirs == {
        "pipeline root": f"outputs.root in {source}",
        "serving dir": f"outputs.serving_dir in {source}",
        "ML Metadata (SQLite) directory": f"outputs.root in {source}",
    }
    env = {ENV_OUTPUT_ROOT: str(tmp_path / "o"), ENV_SERVING_DIR: str(tmp_path / "s")}
    moved = with_env_overrides(config, env)
    dirs = {d.role: d.origin for d in output_check.output_dirs(moved, env)}
    assert dirs["pipeline root"] == "environment variable PIPELINE_OUTPUT_ROOT (or --output-root)"
    assert dirs["serving dir"] == "environment variable PIPELINE_SERVING_DIR"
    # MySQL metadata: no SQLite directory to check.
    roles = [d.role for d in output_check.output_dirs(config, {"MLMD_MYSQL_HOST": "db"})]
    assert roles == ["pipeline root", "serving dir"]
    airflow_conn = {"AIRFLOW_CONN_MLMD_DEFAULT": "mysql://u:p@db:3306/mlmd"}
    roles = [d.role for d in output_check.output_dirs(config, airflow_conn)]
    assert roles == ["pipeline root", "serving dir"]


# --- real read-only and full filesystems -----------------------------------------


@pytest.mark.requires_root("mounts tmpfs filesystems")
def test_a_read_only_serving_dir_is_refused_naming_dir_variable_and_os_error(
    tmpfs: Mount, tmp_path: Path
) -> None:
    mount = tmpfs("ro", read_only=True)
    env = {ENV_OUTPUT_ROOT: str(tmp_path / "out"), ENV_SERVING_DIR: str(mount / "serving")}
    config = with_env_overrides(load_config(DEFAULT_CONFIG), env)
    with pytest.raises(OutputCheckError) as caught:
        output_check.check_outputs(config, env)
    message = str(caught.value)
    print(f"\n{message}")
    assert message.startswith(
        f"The serving dir {mount / 'serving'} (set by environment variable PIPELINE_SERVING_DIR) "
        "cannot be written: Read-only file system (EROFS)"
    )
    assert "nothing was recorded in ML Metadata or pushed" in message
    assert "\n" not in message
    assert caught.value.directory == mount / "serving"
    assert not (mount / "serving").exists()


@pytest.mark.requires_root("mounts tmpfs filesystems")
def test_a_read_only_metadata_directory_is_checked_without_creating_it(
    tmpfs: Mount, tmp_path: Path
) -> None:
    mount = tmpfs("ro", read_only=True)
    env = {
        ENV_OUTPUT_ROOT: str(tmp_path / "out"),
        ENV_METADATA_PATH: str(mount / "md" / "m.sqlite"),
    }
    config = with_env_overrides(load_config(DEFAULT_CONFIG), env)
    with pytest.raises(OutputCheckError) as caught:
        output_check.check_outputs(config, env)
    assert str(caught.value).startswith(
        f"The ML Metadata (SQLite) directory {mount / 'md'} (set by environment variable "
        "PIPELINE_METADATA_PATH) cannot be written: Read-only file system (EROFS)."
    )
    # A writable one that does not exist yet is checked through its parent, not made.
    env[ENV_METADATA_PATH] = str(tmp_path / "md" / "m.sqlite")
    output_check.check_outputs(with_env_overrides(config, env), env)
    assert not (tmp_path / "md").exists()


@pytest.mark.requires_root("mounts tmpfs filesystems")
def test_a_full_pipeline_root_fails_the_probe_with_enospc(tmpfs: Mount, tmp_path: Path) -> None:
    mount = tmpfs("full")
    (mount / "pipe").mkdir()
    fill(mount)
    source = write_clicks_config(
        tmp_path, root=tmp_path / "out", pipeline_root=mount / "pipe", min_free_mb=0
    )
    with pytest.raises(OutputCheckError) as caught:
        output_check.check_outputs(load_config(source), {})
    message = str(caught.value)
    assert message.startswith(
        f"The pipeline root {mount / 'pipe'} (set by outputs.pipeline_root in {source}) cannot "
        "be written: No space left on device (ENOSPC)"
    )
    assert list((mount / "pipe").iterdir()) == []  # the probe file did not stay


@pytest.mark.requires_root("mounts tmpfs filesystems")
def test_too_little_free_space_names_min_free_mb(tmpfs: Mount, tmp_path: Path) -> None:
    mount = tmpfs("small", size="2m")
    env = {ENV_OUTPUT_ROOT: str(mount)}
    config = with_env_overrides(load_config(DEFAULT_CONFIG), env)
    with pytest.raises(OutputCheckError) as caught:
        output_check.check_outputs(config, env)
    assert str(caught.value).startswith(
        f"The pipeline root {mount}/pipelines/clicks (set by environment variable "
        f"PIPELINE_OUTPUT_ROOT (or --output-root)) has 2 MiB free, less than the 1024 MiB "
        f"a run needs (outputs.min_free_mb in {DEFAULT_CONFIG})"
    )
    # With the threshold lowered the same directories pass.
    outputs = dataclasses.replace(config.outputs, min_free_mb=1)
    lowered = dataclasses.replace(config, outputs=outputs)
    output_check.check_outputs(lowered, env)


@pytest.mark.requires_root("mounts tmpfs filesystems")
def test_real_disk_full_errors_are_recognised_and_reported_in_one_line(tmpfs: Mount) -> None:
    import tensorflow as tf

    from pipeline.run.backfill import short_reason

    mount = tmpfs("full")
    database = sqlite3.connect(mount / "store.sqlite")
    database.execute("CREATE TABLE t (x BLOB)")
    database.commit()
    fill(mount)
    errors: list[BaseException] = []
    try:
        with open(mount / "more", "wb") as handle:
            handle.write(b"x" * 8192)
    except OSError as error:
        errors.append(error)
    try:
        with tf.io.gfile.GFile(str(mount / "model.pb"), "wb") as handle:
            handle.write(b"x" * 8192)
    except Exception as error:  # noqa: BLE001 - whatever TensorFlow raises is the test
        errors.append(error)
    try:
        database.execute("INSERT INTO t VALUES (?)", (b"x" * 65536,))
        database.commit()
    except sqlite3.Error as error:
        errors.append(error)
    assert len(errors) == 3
    reasons = [short_reason(error) for error in errors]
    print("\n" + "\n".join(reasons))
    assert all(output_check.disk_full(error) for error in errors)
    # A write's ENOSPC names no file (the open did not fail): hence disk_full_note.
    assert reasons[0] == "OSError: [Errno 28] No space left on device"
    assert reasons[1].startswith("ResourceExhaustedError: ")
    assert "No space left on device" in reasons[1]
    assert reasons[2] == "OperationalError: database or disk is full"
    assert not output_check.disk_full(ValueError("bad value"))


# --- the runners: CLI, local runner, Airflow task ---------------------------------


@pytest.mark.requires_root("mounts tmpfs filesystems")
def test_cli_run_with_a_full_serving_dir_records_and_pushes_nothing(
    tmpfs: Mount, tmp_path: Path, one_day: Path, clean_env: pytest.MonkeyPatch
) -> None:
    mount = tmpfs("full")
    serving = mount / "serving"
    serving.mkdir()
    fill(mount)
    clean_env.setenv(ENV_DATA_ROOT, str(one_day))
    clean_env.setenv(ENV_OUTPUT_ROOT, str(tmp_path / "out"))
    clean_env.setenv(ENV_SERVING_DIR, str(serving))
    result = run_cli(["run"])
    assert result.returncode == 2
    error = result.stderr.strip()
    print(f"\n{error}")
    assert error.startswith(
        f"error: The serving dir {serving} (set by environment variable PIPELINE_SERVING_DIR) "
        "cannot be written: No space left on device (ENOSPC)"
    )
    assert "\n" not in error
    assert "Running pipeline" not in result.stdout  # refused before it started
    assert list(serving.iterdir()) == []
    # Nothing recorded: the metadata store was never even created; no run log either.
    assert not (tmp_path / "out" / "metadata").exists()
    assert not (tmp_path / "out" / "pipelines" / "clicks" / "logs").exists()


@pytest.mark.requires_root("mounts tmpfs filesystems")
def test_local_run_with_a_read_only_pipeline_root_leaves_the_served_model_alone(
    tmpfs: Mount, tmp_path: Path, one_day: Path, served: Path, clean_env: pytest.MonkeyPatch
) -> None:
    from pipeline.run.local import run

    mount = tmpfs("ro", read_only=True)
    source = write_clicks_config(
        tmp_path,
        pipeline_root=mount / "pipe",
        serving_dir=served,
        metadata_path=tmp_path / "md" / "clicks.sqlite",
    )
    before = _snapshot(served)
    config = with_env_overrides(load_config(source), {ENV_DATA_ROOT: str(one_day)})
    with pytest.raises(OutputCheckError, match=r"Read-only file system \(EROFS\)") as caught:
        run(config, {})
    assert str(caught.value).startswith(
        f"The pipeline root {mount / 'pipe'} (set by outputs.pipeline_root in {source}) "
        "cannot be written"
    )
    assert _snapshot(served) == before
    assert not (tmp_path / "md" / "clicks.sqlite").exists()
    # The CLI says the same in one paragraph, exit code 2.
    result = run_cli(["run", "--config", str(source), "--data-root", str(one_day)])
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {caught.value}"
    assert _snapshot(served) == before


@pytest.mark.requires_root("mounts tmpfs filesystems")
def test_airflow_first_task_fails_on_a_read_only_serving_dir(
    tmpfs: Mount, tmp_path: Path, one_day: Path, clean_env: pytest.MonkeyPatch
) -> None:
    from pipeline import nodes
    from pipeline.run import airflow_dag

    mount = tmpfs("ro", read_only=True)
    clean_env.setenv(ENV_DATA_ROOT, str(one_day))
    clean_env.setenv(ENV_OUTPUT_ROOT, str(tmp_path / "out"))
    clean_env.setenv(ENV_SERVING_DIR, str(mount / "serving"))
    # Unset runtime settings resolve to "" through Airflow's env secrets backend,
    # so the task does not need an Airflow metadata database to read Variables.
    for key in airflow_dag.RUNTIME_KEYS:
        if not os.environ.get(key):
            clean_env.setenv(f"AIRFLOW_VAR_{key}", "")
    context = {
        "logical_date": datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc),
        "dag_run": types.SimpleNamespace(run_id="scheduled__2026-11-01T00:00:00+00:00"),
    }
    with pytest.raises(OutputCheckError, match="Read-only file system") as caught:
        airflow_dag.run_task(nodes.EXAMPLE_GEN, str(DEFAULT_CONFIG), **context)
    assert "environment variable PIPELINE_SERVING_DIR" in str(caught.value)
    assert not (tmp_path / "out" / "metadata").exists()
    # The pipeline root (checked first) exists but holds nothing: no component ran.
    assert list((tmp_path / "out" / "pipelines" / "clicks").iterdir()) == []
