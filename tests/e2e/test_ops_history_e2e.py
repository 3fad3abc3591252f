"""Run history and run diffs over ML Metadata (pipeline.ops.history), end to end.

These tests read the session's shared runs (``clicks_runs``): a backfill validation
run, ``first`` (pushed), ``rerun`` (all cache hits) and ``new_span`` (a third day).
The failing-run test copies that store and validates a bad day against the copy, so
the shared fixture stays untouched.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import shutil
from pathlib import Path

import ml_metadata as mlmd
import pytest

from pipeline.ops.history import (
    RunRecord,
    diff_runs,
    list_runs,
    run_config,
)
from pipeline.views.lineage import to_json
from pipeline.views.runs import format_diff, format_runs
from tests.support.data import E2E_START, Runs


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
        clicks_runs.new_span.run_id,
        clicks_runs.rerun.run_id,
        clicks_runs.first.run_id,
    ]
    # Newest first overall, by start time.
    assert [r.started for r in listed] == sorted((r.started for r in listed), reverse=True)
    assert listed[-1].kind == "validation"  # it ran before the first run's own nodes
    for record in listed:
        assert record.duration_seconds >= 0
        assert record.started.endswith("+00:00")


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


def test_run_records_round_trip_through_json(records: dict[str, RunRecord]) -> None:
    listed = list(records.values())
    loaded = json.loads(to_json(listed))
    assert [
        RunRecord(**{**d, "spans": tuple(d["spans"]), "labels": tuple(d["labels"])}) for d in loaded
    ] == listed
    # Stable key order: the same records give the same text.
    assert to_json(listed) == to_json(list(records.values()))
    assert list(loaded[0]) == sorted(loaded[0])


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


def test_diff_of_an_unknown_run_names_it(clicks_runs: Runs, store: mlmd.MetadataStore) -> None:
    with pytest.raises(LookupError, match="no-such-run"):
        diff_runs(store, clicks_runs.config.pipeline_name, clicks_runs.first.run_id, "no-such-run")
    with pytest.raises(LookupError, match="no-such-run"):
        diff_runs(store, clicks_runs.config.pipeline_name, "no-such-run", clicks_runs.first.run_id)


def test_list_runs_of_an_unknown_pipeline_is_empty(store: mlmd.MetadataStore) -> None:
    assert list_runs(store, "no-such-pipeline") == []


def test_a_span_rejected_by_the_data_gate_is_stopped_by_the_data_gate(
    clicks_runs: Runs, tmp_path: Path
) -> None:
    from components.data_gate import DataGateError
    from pipeline.devtools import clickgen
    from pipeline.mlmd import connection as metadata
    from pipeline.run import launch

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
    # MLMD keeps no gate message (the gate raised); the runner recorded the blocking
    # features on the failed execution: negative quantities break the schema.
    assert newest.reason is not None and newest.reason.startswith("blocked by ")
    assert "purchase_quantity (" in newest.reason and "INT_TYPE_SMALL_INT" in newest.reason
    table = format_runs(listed).splitlines()
    assert table[2].split()[-2:] == ["data", "gate"]
    assert table[3] == f"    reason: {newest.reason}"
    # The earlier runs read the same from the copy.
    assert len(listed) == 5
