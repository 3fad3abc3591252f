"""The SQLite run lock: one process at a time, waiters told who holds it, dead holders free it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from ml_metadata.proto import metadata_store_pb2

from pipeline.config import (
    DEFAULT_CONFIG,
    DEFAULT_LOCK_TIMEOUT_SECONDS,
    ConfigError,
    load_config,
    with_env_overrides,
)
from pipeline.run.guards import run_lock
from tests.support.cli import REPO

# A second process holding the lock until it is killed (or for `seconds`).
_HOLDER_SCRIPT = """
import sys, time
from ml_metadata.proto import metadata_store_pb2
from pipeline.run.guards import run_lock
connection = metadata_store_pb2.ConnectionConfig()
connection.sqlite.filename_uri = sys.argv[1]
with run_lock.hold(connection, timeout_seconds=0) as lock:
    lock.record("2026-11-22T10:00:00.000001")
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _sqlite(tmp_path: Path) -> metadata_store_pb2.ConnectionConfig:
    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = str(tmp_path / "metadata" / "m.sqlite")
    return connection


def _start_holder(
    connection: metadata_store_pb2.ConnectionConfig, seconds: float
) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER_SCRIPT, connection.sqlite.filename_uri, str(seconds)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline() == "held\n"
    return process


def test_a_second_process_cannot_hold_the_lock_and_is_told_who_does(tmp_path: Path) -> None:
    connection = _sqlite(tmp_path)
    holder = _start_holder(connection, seconds=120)
    try:
        record = run_lock.read_holder(run_lock.lock_path(connection))
        assert record is not None and record.pid == holder.pid
        assert record.run_id == "2026-11-22T10:00:00.000001"

        # --no-wait: refused at once, naming the holder, and this code never ran.
        ran = []
        started = time.monotonic()
        with pytest.raises(run_lock.RunLockTimeout) as refused:
            with run_lock.hold(connection, timeout_seconds=0, notify=ran.append):
                ran.append("body")
        assert time.monotonic() - started < 2
        assert ran == []
        message = str(refused.value)
        assert f"pid {holder.pid} on host" in message
        assert "run 2026-11-22T10:00:00.000001" in message
        assert "nothing was run or recorded" in message
        assert "\n" not in message

        # Waiting: one line naming the holder, then a refusal when the wait is over.
        said: list[str] = []
        started = time.monotonic()
        with pytest.raises(run_lock.RunLockTimeout, match="after waiting 1 s"):
            with run_lock.hold(connection, timeout_seconds=1, notify=said.append):
                pytest.fail("the lock was taken while another process held it")
        assert 1 <= time.monotonic() - started < 4
        assert len(said) == 1 and f"pid {holder.pid}" in said[0] and "Waiting" in said[0]

        # SIGKILL: no clean-up code runs, yet the kernel releases the lock at once.
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        with run_lock.hold(connection, timeout_seconds=0) as lock:
            assert run_lock.read_holder(lock.path).pid == os.getpid()
        assert run_lock.read_holder(run_lock.lock_path(connection)) is None  # released: no holder
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_a_waiting_process_runs_when_the_holder_finishes(tmp_path: Path) -> None:
    connection = _sqlite(tmp_path)
    holder = _start_holder(connection, seconds=1.5)
    said: list[str] = []
    try:
        with run_lock.hold(connection, timeout_seconds=60, notify=said.append, purpose="rollback"):
            # The holder's sleep ended and it exited before this body ran.
            assert holder.wait(timeout=5) == 0
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert len(said) == 1
    lock_file = run_lock.lock_path(connection)
    assert said[0].startswith(f"Waiting for the ML Metadata lock {lock_file}: held by run")
    assert f"pid {holder.pid}" in said[0] and "this rollback starts when that one ends" in said[0]


def test_mysql_takes_no_lock(tmp_path: Path) -> None:
    connection = metadata_store_pb2.ConnectionConfig()
    connection.mysql.host = "127.0.0.1"
    assert run_lock.lock_path(connection) is None
    with run_lock.hold(connection, timeout_seconds=0) as lock:
        lock.record("a run")
        assert lock.path is None


def _config_with(tmp_path: Path, outputs: dict[str, Any]) -> Path:
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    raw["schema_file"] = str(REPO / "schemas" / "clicks" / "schema.pbtxt")
    raw["data"]["input_base"] = str(REPO / "data" / "clicks")
    raw["outputs"].pop("lock_timeout_seconds", None)  # absent unless given: the default
    raw["outputs"].update(outputs)
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_lock_timeout_is_configurable_and_survives_output_overrides(tmp_path: Path) -> None:
    default = load_config(_config_with(tmp_path, {}))
    assert default.outputs.lock_timeout_seconds == DEFAULT_LOCK_TIMEOUT_SECONDS
    config = load_config(_config_with(tmp_path, {"lock_timeout_seconds": 90}))
    assert config.outputs.lock_timeout_seconds == 90.0
    moved = with_env_overrides(config, {"PIPELINE_OUTPUT_ROOT": str(tmp_path / "out")})
    assert moved.outputs.lock_timeout_seconds == 90.0


@pytest.mark.parametrize("value", [-1, "an hour", True])
def test_a_bad_lock_timeout_names_the_key(tmp_path: Path, value: Any) -> None:
    path = _config_with(tmp_path, {"lock_timeout_seconds": value})
    with pytest.raises(ConfigError, match=f"{path}: outputs.lock_timeout_seconds must be a number"):
        load_config(path)
