"""The image's airflow-init (deploy/docker-entrypoint.sh) against a real SQLite Airflow
database: migrates, creates the admin, and succeeds again on a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.entrypoint import run_entrypoint


@pytest.mark.timeout(600)
def test_airflow_init_migrates_and_creates_the_admin_once(repo: Path, tmp_path: Path) -> None:
    credentials = {"AIRFLOW_ADMIN_USER": "ops", "AIRFLOW_ADMIN_PASSWORD": "test-only-password"}
    first = run_entrypoint(repo, tmp_path, "airflow-init", **credentials)
    assert first.returncode == 0, first.stderr[-2000:]
    assert 'User "ops" created with role "Admin"' in first.stdout
    # A restart of the stack runs it again: the user exists, and that is success.
    again = run_entrypoint(repo, tmp_path, "airflow-init", **credentials)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "ops already exist in the db" in again.stdout
