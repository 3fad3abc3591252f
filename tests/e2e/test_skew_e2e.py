"""Training/serving skew: serving logs that differ from the newest span block it.

Only the validation nodes and the serving nodes run (no training): the skew check
is the DataGate's, fed by ServingExampleGen and ServingStatisticsGen.
"""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import pytest

from components.data_gate import DataGateError
from pipeline import nodes
from pipeline.config import DEFAULT_CONFIG, PipelineConfig, load_config, with_env_overrides
from pipeline.devtools import clickgen
from pipeline.mlmd import connection as metadata
from pipeline.run import launch

DAY = datetime.date(2026, 11, 1)


def _config(tmp_path: Path) -> PipelineConfig:
    config = with_env_overrides(
        load_config(DEFAULT_CONFIG),
        {
            "PIPELINE_DATA_ROOT": str(tmp_path / "data"),
            "PIPELINE_OUTPUT_ROOT": str(tmp_path / "out"),
        },
    )
    return dataclasses.replace(
        config,
        validation=dataclasses.replace(config.validation, serving_data=tmp_path / "serving"),
    )


def _serving_day(root: Path, drift: float) -> None:
    # Serving logs: the request features, no label.
    frame = clickgen.generate_day(DAY, rows=1000, seed=4, drift=drift).drop(columns=["clicked"])
    (root / DAY.isoformat()).mkdir(parents=True)
    frame.to_csv(root / DAY.isoformat() / "requests.csv", index=False)


def _validate(config: PipelineConfig, run: str) -> None:
    connection = metadata.connection_config(config, {})
    ir = launch.compile_pipeline(config, connection, run)
    launch.launch_nodes(ir, only=nodes.VALIDATION_NODES + nodes.SERVING_NODES)


def test_serving_skew_blocks_with_distance_and_threshold(tmp_path: Path) -> None:
    config = _config(tmp_path)
    clickgen.write_day(tmp_path / "data", DAY, rows=1000, seed=3)

    _serving_day(tmp_path / "serving", drift=0.0)
    _validate(config, "matching-serving")  # passes: same distributions

    for path in (tmp_path / "serving").rglob("*.csv"):
        path.unlink()
    _serving_day(tmp_path / "serving-drifted", drift=1.0)
    (tmp_path / "serving-drifted" / DAY.isoformat() / "requests.csv").rename(
        tmp_path / "serving" / DAY.isoformat() / "requests.csv"
    )
    with pytest.raises(DataGateError) as error:
        _validate(config, "skewed-serving")
    message = str(error.value)
    assert "device: COMPARATOR_L_INFTY_HIGH - skew L-infinity distance" in message
    assert "over the threshold 0.1000" in message
    # The first day has no earlier span: no drift, only skew.
    assert "drift" not in message

    reports = sorted(
        (tmp_path / "out").rglob("data_gate_report.txt"), key=lambda p: int(p.parent.name)
    )
    report = reports[-1].read_text()
    assert "Skew against serving data" in report
    assert "Drift against nothing (no earlier span has passed the gate)" in report
