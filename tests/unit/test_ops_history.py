"""Run history and run diffs over ML Metadata (pipeline.ops.history).

The e2e tests read the session's shared runs (``clicks_runs`` in conftest.py): a
backfill validation run, ``first`` (pushed), ``rerun`` (all cache hits) and
``new_span`` (a third day). The failing-run test copies that store and validates a
bad day against the copy, so the shared fixture stays untouched. The rest are pure
tests of the table renderers on hand-made records.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import shutil
from pathlib import Path

import ml_metadata as mlmd
import pytest
from ml_metadata.proto import metadata_store_pb2

from pipeline.ops.history import (
    Change,
    ExamplesRef,
    RunDiff,
    RunRecord,
    diff_runs,
    failure_message,
    format_diff,
    format_runs,
    list_runs,
    run_config,
    to_json,
)
from tests.conftest import E2E_START, Runs


def _span(day: datetime.date) -> int:
    # CsvExampleGen's {YYYY}-{MM}-{DD} span number: days since the epoch.
    return (day - datetime.date(1970, 1, 1)).days


DAYS = [_span(E2E_START + datetime.timedelta(days=n)) for n in range(4)]


# ------------------------------------------------------------------------------ e2e


@pytest.fixture(scope="module")
def store(clicks_runs: Runs) -> mlmd.MetadataStore:
    from pipeline.mlmd import connection as metadata

    return metadata.open_store(clicks_runs.config)


@pytest.fixture(scope="module")
def records(clicks_runs: Runs, store: mlmd.MetadataStore) -> dict[str, RunRecord]:
    return {r.run_id: r for r in list_runs(store, clicks_runs.config.pipeline_name)}


@pytest.mark.e2e
def test_list_runs_shows_the_backfill_and_the_three_runs_newest_first(
    clicks_runs: Runs, store: mlmd.MetadataStore
) -> None:
    listed = list_runs(store, clicks_runs.config.pipeline_name)
    validation = [r for r in listed if r.kind == "validation"]
    main = [r for r in listed if r.kind == "run"]
    # The first run's backfill validated the older day of the window, once.
    assert len(validation) == 1
    assert validation[0].run_id.endswith(f"-validate-{DAYS[0]}")
    assert validation[0].spans == (DAYS[0],)
    assert validation[0].status == "succeeded"
    assert validation[0].stopped_by is None and validation[0].blessed is None
    assert [r.run_id for r in main] == [
        clicks_runs.new_span.run_id, clicks_runs.rerun.run_id, clicks_runs.first.run_id
    ]
    # Newest first overall, by start time.
    assert [r.started for r in listed] == sorted((r.started for r in listed), reverse=True)
    assert listed[-1].kind == "validation"  # it ran before the first run's own nodes
    for record in listed:
        assert record.duration_seconds >= 0
        assert record.started.endswith("+00:00")


@pytest.mark.e2e
def test_list_runs_status_spans_blessing_and_push_match_the_run_summaries(
    clicks_runs: Runs, records: dict[str, RunRecord]
) -> None:
    first = records[clicks_runs.first.run_id]
    rerun = records[clicks_runs.rerun.run_id]
    new_span = records[clicks_runs.new_span.run_id]
    assert {first.status, rerun.status, new_span.status} == {"succeeded"}
    assert first.spans == tuple(DAYS[:2])
    assert rerun.spans == tuple(DAYS[:2])  # the cached Transform's inputs
    assert new_span.spans == tuple(DAYS[:3])
    for record, summary in (
        (first, clicks_runs.first),
        (rerun, clicks_runs.rerun),
        (new_span, clicks_runs.new_span),
    ):
        assert record.blessed == summary.blessed
        assert (record.pushed_version is not None) == summary.pushed
        if summary.pushed:
            # The Pusher's version directory is the one TF Serving loads.
            assert Path(summary.pushed_destination or "").name == record.pushed_version
        assert record.stopped_by == (None if summary.blessed is not False else "model gate")
        assert record.reason is None
    assert first.pushed_version in clicks_runs.versions_after_first
    assert rerun.pushed_version is None


@pytest.mark.e2e
def test_run_records_round_trip_through_json(records: dict[str, RunRecord]) -> None:
    listed = list(records.values())
    loaded = json.loads(to_json(listed))
    assert [RunRecord(**{**d, "spans": tuple(d["spans"])}) for d in loaded] == listed
    # Stable key order: the same records give the same text.
    assert to_json(listed) == to_json(list(records.values()))
    assert list(loaded[0]) == sorted(loaded[0])


@pytest.mark.e2e
def test_diff_first_to_new_span_shows_the_added_span_and_metric_changes(
    clicks_runs: Runs, store: mlmd.MetadataStore
) -> None:
    diff = diff_runs(
        store,
        clicks_runs.config.pipeline_name,
        clicks_runs.first.run_id,
        clicks_runs.new_span.run_id,
    )
    assert diff.spans_a == tuple(DAYS[:2]) and diff.spans_b == tuple(DAYS[:3])
    assert diff.spans_added == (DAYS[2],) and diff.spans_removed == ()
    assert not diff.same_data
    # The two shared days are the same Examples artifacts: ingested once each.
    shared = {e.artifact_id for e in diff.examples_a} & {e.artifact_id for e in diff.examples_b}
    assert len(shared) == 2
    # No {VERSION} in the clicks span pattern, so ExampleGen records no version.
    assert {e.version for e in diff.examples_b} == {None}
    assert diff.same_schema and diff.schema_uri_a == diff.schema_uri_b
    assert diff.same_code and diff.code_version_a
    assert diff.same_config
    assert diff.metrics_a == pytest.approx(clicks_runs.first.metrics)
    assert diff.metrics_b == pytest.approx(clicks_runs.new_span.metrics)
    assert diff.metric_changes
    assert {c.key for c in diff.metric_changes} <= set(diff.metrics_a) | set(diff.metrics_b)
    text = format_diff(diff)
    assert f"spans added: {DAYS[2]}" in text
    assert "schema: same" in text and "code version: same" in text
    assert "config: same" in text and "metrics (overall slice):" in text
    loaded = json.loads(to_json(diff))
    assert loaded["spans_added"] == [DAYS[2]]
    assert loaded["metrics_b"] == pytest.approx(clicks_runs.new_span.metrics)


@pytest.mark.e2e
def test_diff_first_to_rerun_has_no_data_code_or_config_difference(
    clicks_runs: Runs, store: mlmd.MetadataStore
) -> None:
    diff = diff_runs(
        store, clicks_runs.config.pipeline_name, clicks_runs.first.run_id, clicks_runs.rerun.run_id
    )
    assert diff.same_data and diff.spans_added == () and diff.spans_removed == ()
    assert diff.same_schema and diff.same_code and diff.same_config
    # "Same config" compares what the executions recorded, not an empty dict.
    config = run_config(store, clicks_runs.config.pipeline_name, clicks_runs.rerun.run_id)
    assert config["trainer.custom_config.hyperparameters.learning_rate"] == pytest.approx(
        clicks_runs.config.model.learning_rate
    )
    assert config["trainer.train_args.num_steps"] == clicks_runs.config.model.train_steps
    assert "evaluator.eval_config.metrics_specs" in config
    assert not any("code_version" in key for key in config)
    # The rerun's Evaluator was a cache hit: its events point at the first evaluation.
    assert diff.metric_changes == ()
    assert diff.metrics_a == diff.metrics_b != {}
    text = format_diff(diff)
    assert "data: same" in text and "config: same" in text and "metrics: same" in text


@pytest.mark.e2e
def test_diff_of_an_unknown_run_names_it(clicks_runs: Runs, store: mlmd.MetadataStore) -> None:
    with pytest.raises(LookupError, match="no-such-run"):
        diff_runs(store, clicks_runs.config.pipeline_name, clicks_runs.first.run_id, "no-such-run")
    with pytest.raises(LookupError, match="no-such-run"):
        diff_runs(store, clicks_runs.config.pipeline_name, "no-such-run", clicks_runs.first.run_id)


@pytest.mark.e2e
def test_list_runs_of_an_unknown_pipeline_is_empty(store: mlmd.MetadataStore) -> None:
    assert list_runs(store, "no-such-pipeline") == []


@pytest.mark.e2e
def test_a_span_rejected_by_the_data_gate_is_stopped_by_the_data_gate(
    clicks_runs: Runs, tmp_path: Path
) -> None:
    from pipeline.devtools import clickgen
    from pipeline.run import launch
    from pipeline.mlmd import connection as metadata
    from components.data_gate import DataGateError

    # A copy of the shared store and days, plus a bad fourth day; new outputs go to a
    # temporary pipeline root, so the shared runs stay as they are.
    config = clicks_runs.config
    data = tmp_path / "data"
    shutil.copytree(config.data.input_base, data)
    bad_day = E2E_START + datetime.timedelta(days=3)
    clickgen.write_day(data, bad_day, rows=500, seed=11, inject=["negative_quantity"])
    db = tmp_path / "metadata.sqlite"
    shutil.copyfile(config.outputs.metadata_path, db)
    copy = dataclasses.replace(
        config,
        data=dataclasses.replace(config.data, input_base=data),
        outputs=dataclasses.replace(
            config.outputs, metadata_path=db, pipeline_root=tmp_path / "root"
        ),
    )
    with pytest.raises(DataGateError):
        launch.validate_span(copy, metadata.connection_config(copy, {}), DAYS[3])

    listed = list_runs(metadata.open_store(copy, {}), copy.pipeline_name)
    newest = listed[0]
    assert newest.kind == "validation" and newest.run_id.endswith(f"-validate-{DAYS[3]}")
    assert newest.status == "failed"
    assert newest.stopped_by == "data gate"
    assert newest.spans == (DAYS[3],)
    assert newest.blessed is None and newest.pushed_version is None
    # MLMD keeps no gate message (the gate raised); the hint comes from the
    # ExampleValidator's per-split flags, as negative quantities break the schema.
    assert newest.reason is not None and "schema anomalies in eval, train" in newest.reason
    table = format_runs(listed).splitlines()
    assert table[2].split()[-2:] == ["data", "gate"]
    assert table[3] == f"    reason: {newest.reason}"
    # The earlier runs read the same from the copy.
    assert len(listed) == 5


# ----------------------------------------------------------------------------- pure


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
            _record(),
        ]
    )
    lines = text.splitlines()
    assert lines[0].split() == [
        "run", "id", "started", "(UTC)", "seconds", "status", "spans", "blessed", "pushed",
        "stopped", "by",
    ]
    assert set(lines[1].replace(" ", "")) == {"-"}
    # Columns line up: every row puts "started" where the header does.
    column = lines[0].index("started")
    assert lines[2][column:].startswith("2026-11-22T04:53:51 ")
    assert lines[4][column:].startswith("2026-11-22T04:53:51 ")
    assert lines[2].split()[3:] == ["failed", "20760", "-", "-", "data", "gate"]
    assert lines[3] == "    reason: span 20760: BLOCK purchase_quantity: INT_TYPE_SMALL_INT"
    assert lines[4].split()[2:] == ["93.2", "succeeded", "20758,20759", "no", "-", "model", "gate"]
    assert lines[5].split()[2:] == ["93.2", "succeeded", "20758,20759", "yes", "1763786100", "-"]
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
        "--- /s/2\n+++ /s/9\n@@ -1 +1 @@\n-feature { name: \"a\" }\n+feature { name: \"b\" }\n"
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
        "artifact_id": 3, "span": 20758, "uri": "/out/CsvExampleGen/examples/3", "version": 0
    }
    assert list(loaded) == sorted(loaded)
    assert json.loads(to_json(_record())) == {
        **dataclasses.asdict(_record()), "spans": [20758, 20759]
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
