"""Where a pipeline's readable outputs go: each run's reports, and the dashboard.

Kept apart from the runners (which import TFX) so the CLI's ops commands and the
dashboard can find the files without those imports.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.config import PipelineConfig

REPORT_FILE = "report.txt"
HTML_REPORT_FILE = "report.html"
DASHBOARD_FILE = "dashboard.html"


def run_dir(config: PipelineConfig, run_id: str) -> Path:
    """The directory of one run's readable outputs (its report).

    Args:
        config: The pipeline config.
        run_id: The run id (an ISO timestamp, or an Airflow run id).

    Returns:
        ``<pipeline_root>/runs/<run id with ':' made '-'>``.
    """
    return Path(config.outputs.pipeline_root) / "runs" / run_id.replace(":", "-")


def dashboard_path(config: PipelineConfig) -> Path:
    """Where the dashboard is written by default, beside the runs it links to.

    Args:
        config: The pipeline config.

    Returns:
        ``<pipeline_root>/dashboard.html``.
    """
    return Path(config.outputs.pipeline_root) / DASHBOARD_FILE
