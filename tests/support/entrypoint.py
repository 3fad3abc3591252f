"""The image's entrypoint (deploy/docker-entrypoint.sh), run by bash against the venv.

In the image, the venv's bin/ is first on PATH; here the repository's .venv plays
that part, so each branch runs the real ``airflow`` and ``python -m pipeline``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def run_entrypoint(
    repo: Path, tmp_path: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """Runs ``deploy/docker-entrypoint.sh ARGS`` with the venv first on PATH.

    Airflow's home is ``tmp_path/airflow``; ``env`` adds or overrides variables.
    """
    environ = {
        **os.environ,
        "PATH": f"{repo / '.venv/bin'}:/usr/bin:/bin",
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        **env,
    }
    return subprocess.run(
        ["bash", str(repo / "deploy/docker-entrypoint.sh"), *args],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )
