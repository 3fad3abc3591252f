"""A bad day is stopped by the data gate: nothing trained or pushed, the served model
untouched, the anomalies recorded in ML Metadata."""

from __future__ import annotations

import datetime
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ml_metadata.proto import metadata_store_pb2
from tfx.components.example_gen import utils as example_gen_utils

from pipeline import clickgen, metadata, nodes
from pipeline.config import load_config, with_env_overrides
from tests.conftest import REPO

pytestmark = pytest.mark.e2e
DAY1 = datetime.date(2026, 11, 1)


def _run(data: Path, out: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_", "MLMD_"))}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "run", "--data-root", str(data), "--output-root", str(out)],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=900,
    )


def _served(out: Path) -> dict[str, str]:
    root = out / "serving" / "clicks"
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_bad_span_is_blocked_and_the_served_model_is_untouched(tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    clickgen.write_day(data, DAY1, rows=1500, seed=3)
    first = _run(data, out)
    assert first.returncode == 0, first.stderr[-3000:]
    served = _served(out)
    assert served

    clickgen.write_day(
        data, DAY1 + datetime.timedelta(days=1), rows=1500, seed=3,
        inject=["negative_quantity", "unseen_categories"],
    )
    second = _run(data, out)
    assert second.returncode == 1
    errors = [line for line in second.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, second.stderr[-3000:]
    assert "component DataGate failed" in errors[0]
    span = example_gen_utils.date_to_span_number(2026, 11, 2)
    assert f"Data gate: span {span} has 3 blocking anomalies" in errors[0]
    for feature in ("purchase_quantity", "device", "item_category"):
        assert feature in errors[0]
    assert "Traceback" not in second.stderr
    assert _served(out) == served, "the served model must not change"

    config = with_env_overrides(
        load_config(REPO / "pipeline" / "configs" / "clicks.yaml"),
        {"PIPELINE_DATA_ROOT": str(data), "PIPELINE_OUTPUT_ROOT": str(out)},
    )
    store = metadata.open_store(config, {})
    runs = sorted(store.get_contexts_by_type("pipeline_run"), key=lambda c: c.id)
    executions = {
        c.name.split(".", 1)[1]: e
        for e in store.get_executions_by_context(runs[-1].id)
        for c in store.get_contexts_by_execution(e.id)
        if c.type == "node"
    }
    assert executions[nodes.DATA_GATE].last_known_state == metadata_store_pb2.Execution.FAILED
    validator = executions[nodes.EXAMPLE_VALIDATOR]
    assert validator.last_known_state == metadata_store_pb2.Execution.COMPLETE
    assert nodes.TRANSFORM not in executions and nodes.PUSHER not in executions
    # The bad span's anomalies stay recorded, marked not blessed by ExampleValidator.
    (anomalies,) = store.get_artifacts_by_id(
        [
            e.artifact_id
            for e in store.get_events_by_execution_ids([validator.id])
            if e.type == metadata_store_pb2.Event.OUTPUT
        ]
    )
    assert anomalies.state == metadata_store_pb2.Artifact.LIVE
    blessed = anomalies.custom_properties["blessed"].struct_value.fields
    assert {split: value.number_value for split, value in blessed.items()} == {
        "train": 0.0, "eval": 0.0
    }
