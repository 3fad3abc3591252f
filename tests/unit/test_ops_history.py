"""Run history and run diffs: the renderers (pipeline.views.runs) on hand-made records.

The tests over real runs are in tests/e2e/test_ops_history_e2e.py.
"""

from __future__ import annotations

import dataclasses
import json

from ml_metadata.proto import metadata_store_pb2

from pipeline.ops.history import (
    Change,
    ExamplesRef,
    RunDiff,
    RunRecord,
    failure_message,
)
from pipeline.views.lineage import to_json
from pipeline.views.runs import format_diff, format_runs


def _record(**overrides: object) -> RunRecord:
    fields: dict[str, object] = dict(
        run_id="2026-11-22T05:53:51.689582",
        kind="run",
        started="2026-11-22T04:53:51+00:00",
        duration_seconds=93.25,
        status="succeeded",
        spans=(20758, 20759),
        blessed=True,
        pushed_version="1763786100",
        stopped_by=None,
    )
    fields.update(overrides)
    return RunRecord(**fields)  # type: ignore[arg-type]


def test_format_runs_is_a_fixed_width_table_with_reasons_under_their_run() -> None:
    text = format_runs(
        [
            _record(
                run_id="scheduled__2026-11-02T00:00:00+00:00",
                status="failed",
                spans=(20760,),
                blessed=None,
                pushed_version=None,
                stopped_by="data gate",
                reason="span 20760: BLOCK purchase_quantity: INT_TYPE_SMALL_INT",
                duration_seconds=7.0,
            ),
            _record(blessed=False, pushed_version=None, stopped_by="model gate"),
            _record(labels=("stable", "canary")),
        ]
    )
    lines = text.splitlines()
    assert lines[0].split() == [
        "run",
        "id",
        "started",
        "(UTC)",
        "seconds",
        "status",
        "spans",
        "blessed",
        "pushed",
        "labels",
        "stopped",
        "by",
    ]
    assert set(lines[1].replace(" ", "")) == {"-"}
    # Columns line up: every row puts "started" where the header does.
    column = lines[0].index("started")
    assert lines[2][column:].startswith("2026-11-22T04:53:51 ")
    assert lines[4][column:].startswith("2026-11-22T04:53:51 ")
    assert lines[2].split()[3:] == ["failed", "20760", "-", "-", "-", "data", "gate"]
    assert lines[3] == "    reason: span 20760: BLOCK purchase_quantity: INT_TYPE_SMALL_INT"
    assert lines[4].split()[2:] == [
        "93.2",
        "succeeded",
        "20758,20759",
        "no",
        "-",
        "-",
        "model",
        "gate",
    ]
    # The labels the pushed version holds now.
    assert lines[5].split()[2:] == [
        "93.2",
        "succeeded",
        "20758,20759",
        "yes",
        "1763786100",
        "stable,canary",
        "-",
    ]
    assert len(lines) == 6


def test_format_runs_without_runs_is_the_header() -> None:
    assert len(format_runs([]).splitlines()) == 2


def _diff(**overrides: object) -> RunDiff:
    refs = (ExamplesRef(3, 20758, 0, "/out/CsvExampleGen/examples/3"),)
    fields: dict[str, object] = dict(
        pipeline_name="clicks",
        run_a="a-run",
        run_b="b-run",
        spans_a=(20758,),
        spans_b=(20758,),
        spans_added=(),
        spans_removed=(),
        examples_a=refs,
        examples_b=refs,
        schema_uri_a="/out/ImportSchemaGen/schema/2",
        schema_uri_b="/out/ImportSchemaGen/schema/2",
        schema_diff="",
        code_version_a="0.1.0+abc",
        code_version_b="0.1.0+abc",
        config_changes=(),
        metrics_a={"auc": 0.8},
        metrics_b={"auc": 0.8},
        metric_changes=(),
    )
    fields.update(overrides)
    return RunDiff(**fields)  # type: ignore[arg-type]


def test_format_diff_of_identical_runs_says_same_everywhere() -> None:
    assert format_diff(_diff()).splitlines() == [
        "Pipeline 'clicks': run a-run (a) -> run b-run (b)",
        "",
        "data: same (span 20758 (artifact 3, version 0))",
        "schema: same (/out/ImportSchemaGen/schema/2)",
        "code version: same (0.1.0+abc)",
        "config: same",
        "metrics: same",
    ]


def test_format_diff_lists_every_difference() -> None:
    schema_diff = (
        '--- /s/2\n+++ /s/9\n@@ -1 +1 @@\n-feature { name: "a" }\n+feature { name: "b" }\n'
    )
    diff = _diff(
        spans_b=(20758, 20759),
        spans_added=(20759,),
        examples_b=(
            ExamplesRef(3, 20758, 0, "/e/3"),
            ExamplesRef(9, 20759, None, "/e/9"),
        ),
        schema_uri_b="/out/ImportSchemaGen/schema/9",
        schema_diff=schema_diff,
        code_version_b="0.1.0+def",
        config_changes=(
            Change("trainer.hyperparameters.learning_rate", 0.01, 0.02),
            Change("trainer.train_args.num_steps", 100, None),
        ),
        metrics_b={"auc": 0.85, "loss": 0.4},
        metric_changes=(Change("auc", 0.8, 0.85), Change("loss", None, 0.4)),
    )
    assert format_diff(diff).splitlines()[2:] == [
        "data:",
        "  a: span 20758 (artifact 3, version 0)",
        "  b: span 20758 (artifact 3, version 0), span 20759 (artifact 9)",
        "  spans added: 20759",
        "schema: changed (/out/ImportSchemaGen/schema/2 -> /out/ImportSchemaGen/schema/9)",
        "  --- /s/2",
        "  +++ /s/9",
        "  @@ -1 +1 @@",
        '  -feature { name: "a" }',
        '  +feature { name: "b" }',
        "code version: 0.1.0+abc -> 0.1.0+def",
        "config:",
        "  trainer.hyperparameters.learning_rate: 0.0100 -> 0.0200",
        "  trainer.train_args.num_steps: 100 -> (absent)",
        "metrics (overall slice):",
        "  auc   0.8000 -> 0.8500  (+0.0500)",
        "  loss  (absent) -> 0.4000",
    ]


def test_format_diff_of_runs_without_evaluation() -> None:
    text = format_diff(_diff(metrics_a={}, metrics_b={}))
    assert text.splitlines()[-1] == "metrics: neither run evaluated a model"


def test_to_json_sorts_keys_and_turns_tuples_into_lists() -> None:
    loaded = json.loads(to_json(_diff(config_changes=(Change("x", 1, 2),))))
    assert loaded["config_changes"] == [{"a": 1, "b": 2, "key": "x"}]
    assert loaded["examples_a"][0] == {
        "artifact_id": 3,
        "span": 20758,
        "uri": "/out/CsvExampleGen/examples/3",
        "version": 0,
    }
    assert list(loaded) == sorted(loaded)
    assert json.loads(to_json(_record())) == {
        **dataclasses.asdict(_record()),
        "spans": [20758, 20759],
        "labels": [],
    }


def test_failure_message_reads_the_execution_result_tfx_recorded() -> None:
    execution = metadata_store_pb2.Execution()
    assert failure_message(execution) is None
    execution.custom_properties["__execution_result__"].string_value = json.dumps(
        {"code": 1, "resultMessage": "Trainer failed:\n  loss is NaN\n"}
    )
    assert failure_message(execution) == "Trainer failed: loss is NaN"
    execution.custom_properties["__execution_result__"].string_value = "x" * 1000
    assert len(failure_message(execution) or "") == 300
