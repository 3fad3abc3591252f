"""Canary pushes, ``promote`` and ``rollback``, seen through ``lineage``, ``runs`` and MLMD.

Two real runs with ``serving: {push_label: canary}`` on two days: the first model
becomes stable (there is nothing to be canary to), the second the canary. Then
``promote`` makes the canary stable and ``rollback`` moves stable back, each written
to ``models.config`` (read back through TF Serving's own proto) and recorded in ML
Metadata, and each shown by the CLI, run in-process.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import yaml
from google.protobuf import text_format
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_serving.config import model_server_config_pb2

from tests.support.cli import REPO, CliResult, run_cli
from tests.support.data import write_click_spans

DAY1 = datetime.date(2026, 11, 1)


def _config(root: Path) -> Path:
    # The committed config, lighter (fewer rows and steps, no TFLite), with thresholds
    # any trained model passes: blessing is not what this test is about.
    raw = yaml.safe_load((REPO / "pipeline" / "configs" / "clicks.yaml").read_text())
    raw["schema_file"] = str(REPO / "schemas" / "clicks" / "schema.pbtxt")
    raw["data"]["input_base"] = str(root / "data")
    raw["outputs"]["root"] = str(root / "out")
    raw["model"]["train_steps"] = 60
    raw["export"]["tflite"] = False
    raw["evaluation"]["lower_bound"] = 0.5
    raw["evaluation"]["max_regression"] = 0.5
    raw["evaluation"]["slice_thresholds"] = []
    raw["serving"] = {"push_label": "canary"}
    path = root / "clicks.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _cli(*args: str) -> CliResult:
    result = run_cli(list(args))
    assert result.returncode == 0, result.stderr
    return result


def _labels(serving: Path) -> dict[str, int]:
    parsed = text_format.Parse(
        (serving / "models.config").read_text(), model_server_config_pb2.ModelServerConfig()
    )
    (entry,) = parsed.model_config_list.config
    assert entry.base_path == str(serving / "clicks")
    # Exactly the labelled versions are loaded.
    assert sorted(entry.model_version_policy.specific.versions) == sorted(
        set(entry.version_labels.values())
    )
    return dict(entry.version_labels)


def _runs(config: str) -> dict[str, dict]:
    return {r["run_id"]: r for r in json.loads(_cli("runs", "--config", config, "--json").stdout)}


def _lineage(config: str, *version: str) -> dict:
    return json.loads(_cli("lineage", "--config", config, *version, "--json").stdout)


def test_canary_push_then_promote_then_rollback(tmp_path: Path) -> None:
    from pipeline.config import load_config
    from pipeline.mlmd import connection as metadata
    from pipeline.mlmd.queries import custom

    config = str(_config(tmp_path))
    serving = tmp_path / "out" / "serving"
    write_click_spans(tmp_path / "data", days=1, rows=800, start=DAY1)
    _cli("run", "--config", config)
    write_click_spans(tmp_path / "data", days=1, rows=800, start=DAY1 + datetime.timedelta(1))
    _cli("run", "--config", config)

    # Two blessed pushes: the first is stable (no stable before it), the second canary.
    store = metadata.open_store(load_config(Path(config)), {})
    pushes = {
        custom(a, "pushed_version"): a
        for a in store.get_artifacts_by_type("PushedModel")
        if custom(a, "pushed") == 1
    }
    assert len(pushes) == 2, "both models must be blessed and pushed"
    v1, v2 = sorted(pushes, key=int)
    assert (custom(pushes[v1], "label"), custom(pushes[v2], "label")) == ("stable", "canary")
    assert _labels(serving) == {"stable": int(v1), "canary": int(v2)}

    runs = _runs(config)
    run1, run2 = (next(r for r in runs.values() if r["pushed_version"] == v) for v in (v1, v2))
    assert (run1["labels"], run2["labels"]) == (["stable"], ["canary"])
    table = _cli("runs", "--config", config).stdout
    assert any(v2 in line and "canary" in line for line in table.splitlines())
    served = _lineage(config)
    assert (served["version"], served["served"], served["labels"]) == (v1, True, ["stable"])
    canary = _lineage(config, v2)
    assert (canary["served"], canary["labels"]) == (False, ["canary"])
    assert "labels:   canary" in _cli("lineage", "--config", config, v2).stdout

    # promote: the canary becomes stable; the canary label goes.
    out = _cli("promote", "--config", config, v2).stdout
    assert f"version {v2} is stable now (was {v1})" in out
    assert _labels(serving) == {"stable": int(v2)}
    served = _lineage(config)
    assert (served["version"], served["labels"]) == (v2, ["stable"])
    runs = _runs(config)
    assert (runs[run1["run_id"]]["labels"], runs[run2["run_id"]]["labels"]) == ([], ["stable"])
    (promotion,) = [r for r in runs.values() if r["kind"] == "promote"]
    assert promotion["reason"] == f"moved stable from version {v1} to {v2}"

    # rollback: stable goes back to the version that held it before.
    rolled = json.loads(_cli("rollback", "--config", config, "--json").stdout)
    assert (rolled["from_version"], rolled["to_version"]) == (v2, v1)
    assert _labels(serving) == {"stable": int(v1)}
    served = _lineage(config)
    assert (served["version"], served["labels"]) == (v1, ["stable"])
    runs = _runs(config)
    assert runs[run1["run_id"]]["labels"] == ["stable"] and runs[run2["run_id"]]["labels"] == []
    assert runs[rolled["run_id"]]["kind"] == "rollback"
    assert runs[rolled["run_id"]]["reason"] == f"moved stable from version {v2} to {v1}"
    table = _cli("runs", "--config", config).stdout
    assert f"moved stable from version {v2} to {v1}" in table

    # ML Metadata: a Promote and a Rollback, each naming the model now stable.
    store = metadata.open_store(load_config(Path(config)), {})
    (promote,) = store.get_executions_by_type("Promote")
    (rollback,) = store.get_executions_by_type("Rollback")
    for execution, before, after in ((promote, v1, v2), (rollback, v2, v1)):
        properties = {k: v.string_value for k, v in execution.properties.items()}
        assert properties == {"label": "stable", "from_version": before, "to_version": after}
        inputs = {
            e.path.steps[0].key: e.artifact_id
            for e in store.get_events_by_execution_ids([execution.id])
        }
        assert inputs["source_pushed_model"] == pushes[after].id
        assert inputs["previous_pushed_model"] == pushes[before].id
        (model,) = store.get_artifacts_by_id([inputs["model"]])
        assert model.uri == _lineage(config, after)["training"]["model_uri"]

    # Nothing stable before v1: a second rollback is refused and changes nothing.
    refused = run_cli(["rollback", "--config", config])
    assert refused.returncode == 2 and f"from version {v1}" in refused.stderr
    assert _labels(serving) == {"stable": int(v1)}

    # The exporter's served-version gauge has one series per label.
    metrics = _cli("metrics", "--config", config).stdout
    (family,) = [
        f
        for f in text_string_to_metric_families(metrics)
        if f.name == "tfx_pipeline_served_version"
    ]
    assert [(s.labels["label"], s.value) for s in family.samples] == [("stable", float(v1))]
