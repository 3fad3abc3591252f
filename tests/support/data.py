"""Generated click data and the shared real runs of the clicks pipeline.

``run_clicks_pipeline`` is what the session fixture ``clicks_runs`` (tests/conftest.py)
builds once; tests read the :class:`Runs` it returns and never change it.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.config import PipelineConfig
    from pipeline.ops.summary import RunSummary

E2E_START = datetime.date(2026, 11, 1)


def write_click_spans(
    root: Path, days: int, rows: int = 2000, start: datetime.date = E2E_START
) -> list[Path]:
    """Writes ``days`` daily spans of generated click data under ``root``.

    Args:
        root: The data root; one ``YYYY-MM-DD`` folder per day is written under it.
        days: How many consecutive days to write.
        rows: Rows per day.
        start: The first day.

    Returns:
        The CSV files written, oldest first.
    """
    from pipeline.devtools import clickgen

    return clickgen.write_spans(root, start=start, days=days, rows=rows, seed=11)


@dataclasses.dataclass
class Runs:
    """Three real runs of the clicks pipeline on generated data, in one store.

    ``first`` (two days: the older one is validated by a backfill, the newer one
    trained on and pushed), ``rerun`` (nothing new: all cache hits) and
    ``new_span`` (a third day: retrained, evaluated against the first model).
    """

    config: PipelineConfig
    first: RunSummary
    rerun: RunSummary
    new_span: RunSummary
    versions_after_first: list[str]
    versions_after_rerun: list[str]
    models_after_first: int
    models_after_rerun: int


def pushed_versions(config: PipelineConfig) -> list[str]:
    """The model versions in the serving directory, sorted.

    Args:
        config: The pipeline config whose ``push_dir`` is listed.

    Returns:
        The version directory names; empty when nothing was pushed yet.
    """
    return sorted(p.name for p in config.push_dir.iterdir()) if config.push_dir.exists() else []


def served_files(push_dir: Path) -> dict[str, str]:
    """Every file TF Serving would see under a model's directory, with its SHA-256.

    Two calls compare equal exactly when nothing served changed, byte for byte.

    Args:
        push_dir: The model's serving directory (``<serving dir>/<model name>``).

    Returns:
        Path relative to ``push_dir`` -> hex digest; empty when nothing is there.
    """
    return {
        str(p.relative_to(push_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(push_dir.rglob("*"))
        if p.is_file()
    }


def artifact_count(config: PipelineConfig, type_name: str) -> int:
    """How many artifacts of ``type_name`` the run's ML Metadata store holds.

    Args:
        config: The pipeline config whose metadata store is read.
        type_name: An artifact type name, e.g. ``Model``.

    Returns:
        The number of artifacts of that type.
    """
    from pipeline.mlmd import connection as metadata

    return len(metadata.open_store(config).get_artifacts_by_type(type_name))


def run_clicks_pipeline(root: Path) -> Runs:
    """Runs the clicks pipeline three times under ``root`` (see :class:`Runs`).

    Args:
        root: An empty directory for the data (``data/``) and outputs (``out/``).

    Returns:
        The three runs and what the serving directory and store held after each.
    """
    from pipeline.config import DEFAULT_CONFIG, load_config, with_env_overrides
    from pipeline.run.local import run

    write_click_spans(root / "data", days=2, rows=2500, start=E2E_START)
    config = with_env_overrides(
        load_config(DEFAULT_CONFIG),
        {"PIPELINE_DATA_ROOT": str(root / "data"), "PIPELINE_OUTPUT_ROOT": str(root / "out")},
    )
    first = run(config)
    versions_after_first = pushed_versions(config)
    models_after_first = artifact_count(config, "Model")
    rerun = run(config)
    versions_after_rerun = pushed_versions(config)
    models_after_rerun = artifact_count(config, "Model")
    write_click_spans(
        root / "data", days=1, rows=2500, start=E2E_START + datetime.timedelta(days=2)
    )
    new_span = run(config)
    return Runs(
        config,
        first,
        rerun,
        new_span,
        versions_after_first,
        versions_after_rerun,
        models_after_first,
        models_after_rerun,
    )


def span_of_day(day: datetime.date) -> int:
    """CsvExampleGen's span number for a ``{YYYY}-{MM}-{DD}`` day: days since the epoch.

    Args:
        day: The day.

    Returns:
        The span number.
    """
    return (day - datetime.date(1970, 1, 1)).days


def with_rejected_day(runs: Runs, root: Path) -> tuple[PipelineConfig, datetime.date]:
    """A copy of the shared runs' store and days, plus a fourth day the data gate rejects.

    The fourth day drifted (``drift=1.0``) and has negative purchase quantities, so
    ExampleValidator flags ``purchase_quantity`` (``INT_TYPE_SMALL_INT``) and the gate
    blocks it. It is validated as its own run (``launch.validate_span``: no training).
    The copy is laid out as ``--data-root <root>/data --output-root <root>/out`` (the
    same overrides the shared runs were made with), so the CLI can be pointed at it;
    the shared runs stay as they are.

    Args:
        runs: The session's shared runs (read only).
        root: An empty directory for the copy.

    Returns:
        The copy's config and the rejected day.
    """
    import shutil

    from components.data_gate import DataGateError
    from pipeline.config import DEFAULT_CONFIG, load_config, with_env_overrides
    from pipeline.devtools import clickgen
    from pipeline.mlmd import connection as metadata
    from pipeline.run import launch

    data = root / "data"
    shutil.copytree(runs.config.data.input_base, data)
    bad_day = E2E_START + datetime.timedelta(days=3)
    clickgen.write_day(data, bad_day, rows=500, seed=11, drift=1.0, inject=["negative_quantity"])
    copy = with_env_overrides(
        load_config(DEFAULT_CONFIG),
        {"PIPELINE_DATA_ROOT": str(data), "PIPELINE_OUTPUT_ROOT": str(root / "out")},
    )
    copy.outputs.metadata_path.parent.mkdir(parents=True)
    shutil.copyfile(runs.config.outputs.metadata_path, copy.outputs.metadata_path)
    try:
        launch.validate_span(copy, metadata.connection_config(copy, {}), span_of_day(bad_day))
    except DataGateError:
        pass  # the rejection this copy is for
    else:
        raise AssertionError(f"the data gate passed the bad day {bad_day}")
    return copy, bad_day
