"""The image's entrypoint (deploy/docker-entrypoint.sh) dispatching, run by bash against
the venv (tests/support/entrypoint.py); the full airflow-init is in
tests/e2e/test_airflow_init_e2e.py."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from pipeline.devtools.services import free_ports
from tests.support.entrypoint import run_entrypoint


def test_pipeline_runs_the_pipeline_cli(repo: Path, tmp_path: Path) -> None:
    result = run_entrypoint(repo, tmp_path, "pipeline", "metrics", "--help")
    assert result.returncode == 0, result.stderr
    assert "--serve" in result.stdout and "--port" in result.stdout


def test_anything_else_runs_airflow(repo: Path, tmp_path: Path) -> None:
    version = importlib.metadata.version("apache-airflow")
    for args in (["version"], ["airflow", "version"]):
        result = run_entrypoint(repo, tmp_path, *args)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().splitlines()[-1] == version


def test_airflow_init_fails_when_the_migration_fails(repo: Path, tmp_path: Path) -> None:
    (port,) = free_ports(1)  # nothing listens there: the migration cannot connect
    result = run_entrypoint(
        repo,
        tmp_path,
        "airflow-init",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"postgresql+psycopg2://a:b@127.0.0.1:{port}/airflow",
        AIRFLOW_ADMIN_USER="admin",
        AIRFLOW_ADMIN_PASSWORD="test-only-password",
    )
    assert result.returncode != 0
    assert "Connection refused" in result.stderr + result.stdout
    # It stopped at the migration: no user was created or looked up.
    assert "created with role" not in result.stdout
    assert "already exist" not in result.stdout


def test_airflow_init_needs_the_admin_credentials(repo: Path, tmp_path: Path) -> None:
    result = run_entrypoint(repo, tmp_path, "airflow-init", AIRFLOW_ADMIN_USER="admin")
    assert result.returncode != 0
    assert "AIRFLOW_ADMIN_PASSWORD" in result.stderr
