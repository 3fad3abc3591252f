"""The bad-input catalogue: every kind of broken day stops the pipeline cleanly.

One pipeline is trained on three good days, then fed one broken day after another
through ``python -m pipeline run`` (in-process, so TFX is imported once), then one
good day. Each case asserts: a one-paragraph error naming what is wrong (not a Beam
traceback), a non-zero exit, nothing trained or pushed, the served model
byte-identical, ML Metadata consistent, and the broken day absent from the good
day's training window (so the next good span trains normally).
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Callable
from pathlib import Path

import ml_metadata as mlmd
import numpy as np
import pytest
from ml_metadata.proto import metadata_store_pb2
from tfx.components.example_gen import utils as example_gen_utils

from pipeline import nodes
from pipeline.config import PipelineConfig, load_config, with_env_overrides
from pipeline.devtools import clickgen
from pipeline.devtools.clickgen import csv_edit
from pipeline.mlmd import connection as metadata
from tests.support.cli import REPO, run_cli
from tests.support.data import served_files

START = datetime.date(2026, 11, 1)
ROWS = 1000
SEED = 3


def _span(day: datetime.date) -> int:
    return example_gen_utils.date_to_span_number(day.year, day.month, day.day)


def _write(
    inject: tuple[str, ...] = (), drift: float = 0.0
) -> Callable[[Path, datetime.date], None]:
    def write(data: Path, day: datetime.date) -> None:
        clickgen.write_day(data, day, rows=ROWS, seed=SEED, drift=drift, inject=inject)

    return write


def _empty_dir(data: Path, day: datetime.date) -> None:
    (data / day.isoformat()).mkdir(parents=True)


def _constant_label(data: Path, day: datetime.date) -> None:
    # An ordinary day whose every label is 0: features, schema and feature drift are
    # all normal; only the label's distribution (and one-class eval split) show it.
    _write()(data, day)
    (path,) = (data / day.isoformat()).glob("*.csv")
    index = csv_edit.column_index(csv_edit.header_line(path), clickgen.LABEL)
    # fraction 1 edits every row and draws nothing from the rng.
    rng = np.random.default_rng(SEED)
    csv_edit.rewrite_rows(path, rng, 1.0, csv_edit.set_field(index, lambda _v, _r: b"0"))


@dataclasses.dataclass(frozen=True)
class Case:
    """A broken day and what its one-paragraph error must say."""

    write: Callable[[Path, datetime.date], None]
    exit_code: int
    failed_node: str | None  # None: stopped before any component ran
    expected: tuple[str, ...]
    schema_anomaly: bool = True  # ExampleValidator itself finds it (not blessed)


CATALOGUE: dict[str, Case] = {
    "empty_file": Case(
        _write(("empty_file",)), 1, nodes.DATA_GATE, ("NO_DATA_IN_SPAN", "no examples"), False
    ),
    "header_only": Case(
        _write(("header_only",)), 1, nodes.DATA_GATE, ("NO_DATA_IN_SPAN", "no examples"), False
    ),
    "span_directory_without_files": Case(_empty_dir, 2, None, ("has no file matching '*.csv'",)),
    "missing_column": Case(
        _write(("missing_column",)), 1, nodes.DATA_GATE, ("user_ctr: SCHEMA_MISSING_COLUMN",)
    ),
    "extra_column": Case(
        _write(("extra_column",)), 1, nodes.DATA_GATE, ("promo_code: SCHEMA_NEW_COLUMN",)
    ),
    "text_in_numeric": Case(
        _write(("text_in_numeric",)), 1, nodes.DATA_GATE, ("price: FLOAT_TYPE_STRING_NOT_FLOAT",)
    ),
    "negative_quantity": Case(
        _write(("negative_quantity",)),
        1,
        nodes.DATA_GATE,
        ("purchase_quantity: INT_TYPE_SMALL_INT", "Unexpectedly small value: -"),
    ),
    "unseen_categories": Case(
        _write(("unseen_categories",)),
        1,
        nodes.DATA_GATE,
        (
            "device: ENUM_TYPE_UNEXPECTED_STRING_VALUES",
            "smartwatch",
            "item_category: ENUM_TYPE_UNEXPECTED",
        ),
    ),
    "null_feature": Case(
        _write(("null_feature",)), 1, nodes.DATA_GATE, ("rating: FEATURE_TYPE_NOT_PRESENT",)
    ),
    "missing_label": Case(_write(("missing_label",)), 1, nodes.DATA_GATE, ("label 'clicked': ",)),
    "ragged_rows": Case(
        _write(("ragged_rows",)), 1, nodes.EXAMPLE_GEN, ("fields where the header has 14",)
    ),
    "unterminated_quote": Case(
        _write(("unterminated_quote",)), 1, nodes.EXAMPLE_GEN, ("double quote opens a field",)
    ),
    "non_utf8": Case(_write(("non_utf8",)), 1, nodes.EXAMPLE_GEN, ("not valid UTF-8",)),
    "huge_line": Case(
        _write(("huge_line",)), 1, nodes.EXAMPLE_GEN, ("longer than the CSV reader's limit",)
    ),
    "drifted_day": Case(
        _write(drift=1.0),
        1,
        nodes.DATA_GATE,
        ("device: COMPARATOR_L_INFTY_HIGH - drift L-infinity distance", "threshold 0.1000"),
        schema_anomaly=False,
    ),
    "constant_label": Case(
        _constant_label,
        1,
        nodes.DATA_GATE,
        (
            "has 2 blocking problems",
            "BLOCK label 'clicked': COMPARATOR_L_INFTY_HIGH - drift L-infinity distance 0.",
            "over the label's threshold (validation.label_drift) 0.1000 [train]",
            "BLOCK label 'clicked': FEATURE_TYPE_LOW_UNIQUE - the eval split has a single label "
            "class: all ",
            "examples have clicked = 0, and a model cannot be evaluated on one class [eval]",
        ),
        schema_anomaly=False,
    ),
}


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one ``python -m pipeline run`` did."""

    day: datetime.date
    exit_code: int
    stdout: str
    stderr: str
    served: dict[str, str]
    run_context: str | None  # the newest pipeline_run after the run


@dataclasses.dataclass(frozen=True)
class Catalogue:
    config: PipelineConfig
    served_before: dict[str, str]
    models_before: int
    outcomes: dict[str, Outcome]
    good: Outcome


def _store(config: PipelineConfig) -> mlmd.MetadataStore:
    return metadata.open_store(config, {})


def _newest_run(config: PipelineConfig) -> str | None:
    runs = _store(config).get_contexts_by_type("pipeline_run")
    # Backfill (validation-only) runs are named "<timestamp>-validate-<span>".
    main = [c for c in runs if "-validate-" not in c.name]
    return max(main, key=lambda c: c.id).name if main else None


def _run(config_path: Path, config: PipelineConfig, day: datetime.date) -> Outcome:
    result = run_cli(["run", "--config", str(config_path)])
    return Outcome(
        day,
        result.returncode,
        result.stdout,
        result.stderr,
        served_files(config.push_dir),
        _newest_run(config),
    )


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Catalogue:
    tmp = tmp_path_factory.mktemp("catalogue")
    data, out = tmp / "data", tmp / "out"
    # Small days: a tighter regression allowance would judge eval-split noise
    # (200 rows), not the data; the gate under test is the data gate.
    text = (
        (REPO / "pipeline" / "configs" / "clicks.yaml")
        .read_text()
        .replace("schema_file: schemas/", f"schema_file: {REPO}/schemas/")
        .replace("input_base: data/clicks", f"input_base: {data}")
        .replace("root: outputs", f"root: {out}")
        .replace("train_steps: 300", "train_steps: 100")
        .replace("max_regression: 0.01", "max_regression: 0.1")
    )
    config_path = tmp / "clicks.yaml"
    config_path.write_text(text)
    config = with_env_overrides(load_config(config_path), {})

    for offset in range(3):
        _write()(data, START + datetime.timedelta(days=offset))
    first = _run(config_path, config, START + datetime.timedelta(days=2))
    assert first.exit_code == 0, first.stderr[-3000:]
    served_before = served_files(config.push_dir)
    assert served_before
    models_before = len(_store(config).get_artifacts_by_type("Model"))

    outcomes = {}
    day = START + datetime.timedelta(days=3)
    for name, case in CATALOGUE.items():
        case.write(data, day)
        outcomes[name] = _run(config_path, config, day)
        day += datetime.timedelta(days=1)
    _write()(data, day)
    good = _run(config_path, config, day)
    return Catalogue(config, served_before, models_before, outcomes, good)


def _error(outcome: Outcome) -> str:
    errors = [line for line in outcome.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, outcome.stderr[-3000:]
    return errors[0]


def _executions_in_run(
    store: mlmd.MetadataStore, run_name: str
) -> dict[str, metadata_store_pb2.Execution]:
    run = store.get_context_by_type_and_name("pipeline_run", run_name)
    return {
        c.name.split(".", 1)[1]: e
        for e in store.get_executions_by_context(run.id)
        for c in store.get_contexts_by_execution(e.id)
        if c.type == "node"
    }


def _window_spans(store: mlmd.MetadataStore, run_name: str) -> set[int]:
    transform = _executions_in_run(store, run_name)[nodes.TRANSFORM]
    ids = [
        e.artifact_id
        for e in store.get_events_by_execution_ids([transform.id])
        if e.type == metadata_store_pb2.Event.INPUT
        and any(step.key == "examples" for step in e.path.steps)
    ]
    return {a.custom_properties["span"].int_value for a in store.get_artifacts_by_id(ids)}


def _assert_anomalies_recorded(
    store: mlmd.MetadataStore, validator: metadata_store_pb2.Execution, schema_anomaly: bool
) -> None:
    # The anomalies stay in ML Metadata; ExampleValidator marks a span with schema
    # anomalies not blessed, per split.
    (anomalies,) = store.get_artifacts_by_id(
        [
            e.artifact_id
            for e in store.get_events_by_execution_ids([validator.id])
            if e.type == metadata_store_pb2.Event.OUTPUT
        ]
    )
    assert anomalies.state == metadata_store_pb2.Artifact.LIVE
    assert Path(anomalies.uri, "Split-train", "SchemaDiff.pb").is_file()
    if schema_anomaly:
        blessed = anomalies.custom_properties["blessed"].struct_value.fields
        assert {split: value.number_value for split, value in blessed.items()} == {
            "train": 0.0,
            "eval": 0.0,
        }


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_bad_day_is_stopped_cleanly(catalogue: Catalogue, name: str) -> None:
    case, outcome = CATALOGUE[name], catalogue.outcomes[name]
    config = catalogue.config

    # A clear error in one paragraph, naming the problem; no traceback.
    assert outcome.exit_code == case.exit_code, outcome.stderr[-3000:]
    error = _error(outcome)
    for expected in case.expected:
        assert expected in error, error
    assert "Traceback" not in outcome.stderr
    assert len(error) < 3000

    # Nothing pushed; the served model is byte-identical.
    assert outcome.served == catalogue.served_before

    store = _store(config)
    if case.failed_node is None:
        # Stopped before any component ran: no run was recorded.
        previous = list(catalogue.outcomes.values())[list(catalogue.outcomes).index(name) - 1]
        assert outcome.run_context == previous.run_context
    else:
        assert f"component {case.failed_node} failed" in error
        executions = _executions_in_run(store, outcome.run_context)
        # ML Metadata is consistent: the failing node is FAILED, everything before it
        # finished, nothing after it ran or was left half-recorded.
        assert executions[case.failed_node].last_known_state == metadata_store_pb2.Execution.FAILED
        others = {n: e.last_known_state for n, e in executions.items() if n != case.failed_node}
        assert set(others.values()) <= {
            metadata_store_pb2.Execution.COMPLETE,
            metadata_store_pb2.Execution.CACHED,
        }, others
        assert not {nodes.TRANSFORM, nodes.TRAINER, nodes.EVALUATOR, nodes.PUSHER} & set(executions)
        # The readable report is in the run's output directory too.
        report_path = Path(error.split("the report is in ", 1)[1].split(" and the full", 1)[0])
        report = report_path.read_text()
        assert error[len("error: ") :] in report
        assert outcome.run_context in (report_path.parent / "report.html").read_text()
        if case.failed_node == nodes.DATA_GATE:
            if case.schema_anomaly or name in ("drifted_day", "constant_label"):
                # The gate's full report: every compared feature's distance and threshold.
                assert "Drift against span" in report
                assert "region: drift L-infinity distance" in report
            _assert_anomalies_recorded(
                store, executions[nodes.EXAMPLE_VALIDATOR], case.schema_anomaly
            )
    # No model was trained from it.
    assert len(store.get_artifacts_by_type("Model")) >= catalogue.models_before

    # The next good day trains normally, on a window without this day.
    assert _span(outcome.day) not in _window_spans(store, catalogue.good.run_context)


def test_next_good_day_trains_on_good_days_only_and_is_pushed(catalogue: Catalogue) -> None:
    good = catalogue.good
    assert good.exit_code == 0, good.stderr[-3000:]
    store = _store(catalogue.config)
    executions = _executions_in_run(store, good.run_context)
    for node in (nodes.DATA_GATE, nodes.TRANSFORM, nodes.TRAINER, nodes.EVALUATOR, nodes.PUSHER):
        assert executions[node].last_known_state == metadata_store_pb2.Execution.COMPLETE, node
    # The window reaches back past every rejected day to the last good ones.
    assert _window_spans(store, good.run_context) == {
        _span(START + datetime.timedelta(days=1)),
        _span(START + datetime.timedelta(days=2)),
        _span(good.day),
    }
    assert "Pushed to:" in good.stdout
    report = Path(good.stdout.split("Report:", 1)[1].split()[0]).read_text()
    assert "Pushed to:" in report and "Drift against span" in report
    assert len(good.served) > len(catalogue.served_before)
    # Exactly one model was trained during the whole catalogue: the good day's.
    assert len(store.get_artifacts_by_type("Model")) == catalogue.models_before + 1
    # The gate's report, with each feature's drift distance, is in the summary; the
    # drift reference is the last day that passed, not any of the rejected ones.
    assert f"Drift against span {_span(START + datetime.timedelta(days=2))} " in good.stdout
    assert "device: drift L-infinity distance" in good.stdout


def test_constant_label_day_is_named_in_the_report_and_summary(catalogue: Catalogue) -> None:
    outcome = catalogue.outcomes["constant_label"]
    error = _error(outcome)
    # Only the label blocks: every feature is an ordinary day's.
    assert error.count("BLOCK ") == 2, error
    # The run's report (summary so far, the paragraph, the gate's full report) lists
    # the label's distance with the others, named as the label.
    report = Path(error.split("the report is in ", 1)[1].split(" and the full", 1)[0]).read_text()
    assert re.search(
        r"^  label 'clicked': drift L-infinity distance 0\.\d{4} > threshold 0\.1000$", report, re.M
    ), report
    # The next good day's summary (pipeline.views.summary) names the label's distance too,
    # measured against the last day that passed.
    assert re.search(
        r"^  label 'clicked': drift L-infinity distance 0\.0\d{3} <= threshold 0\.1000$",
        catalogue.good.stdout,
        re.M,
    ), catalogue.good.stdout
