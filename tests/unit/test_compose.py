"""The production stack file, validated by Debian's docker-compose (no engine needed)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from pipeline import config
from pipeline.devtools.services import ensure_debian_package
from pipeline.mlmd import connection as metadata
from pipeline.run import airflow_dag

AIRFLOW_SERVICES = ("airflow-init", "airflow-webserver", "airflow-scheduler")

pytestmark = pytest.mark.requires_root(
    "installs docker-compose with apt-get", unless_on_path="docker-compose"
)


@pytest.fixture(scope="module")
def compose(repo: Path) -> dict:
    binary = ensure_debian_package("docker-compose", "docker-compose")
    result = subprocess.run(
        [binary, "-f", "docker-compose.yml", "--env-file", ".env.example", "config"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    return env if isinstance(env, dict) else dict(item.split("=", 1) for item in env)


def test_services_of_the_stack(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == {"airflow-db", "mlmd-db", *AIRFLOW_SERVICES, "serving"}
    assert services["mlmd-db"]["image"].startswith("mysql:")
    assert services["serving"]["image"].startswith("tensorflow/serving:")
    published = {
        (service, int(port["published"]))
        for service in ("airflow-webserver", "serving")
        for port in services[service]["ports"]
    }
    assert published == {("airflow-webserver", 8080), ("serving", 8500), ("serving", 8501)}
    for name in AIRFLOW_SERVICES:
        assert (
            _env(services[name])["AIRFLOW__CORE__EXECUTOR"]
            == "pipeline.run.airflow_executor.PreloadedLocalExecutor"
        )
        assert _env(services[name])["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith(
            "postgresql+psycopg2://"
        )
    assert services["airflow-webserver"]["command"] in ("webserver", ["webserver"])
    assert services["airflow-scheduler"]["command"] in ("scheduler", ["scheduler"])


def test_tf_serving_reads_the_pushers_directory(compose: dict, repo: Path) -> None:
    services = compose["services"]
    serving_env = _env(services["serving"])
    scheduler_env = _env(services["airflow-scheduler"])

    def volume_at(service: dict, target: str) -> str:
        # docker-compose 1.x prints short syntax: "source:target[:mode]".
        (source,) = [v.split(":")[0] for v in service["volumes"] if v.split(":")[1] == target]
        return source

    # The Pusher writes <PIPELINE_SERVING_DIR>/<model_name>/<version>; TF Serving
    # loads <MODEL_BASE_PATH>/<MODEL_NAME>/<version>: the same named volume.
    assert volume_at(services["airflow-scheduler"], scheduler_env["PIPELINE_SERVING_DIR"]) == (
        volume_at(services["serving"], serving_env["MODEL_BASE_PATH"])
    )
    default = config.load_config(
        repo / scheduler_env["PIPELINE_CONFIG"].removeprefix("/opt/pipeline/")
    )
    assert serving_env["MODEL_NAME"] == default.model_name


def test_environment_names_match_what_the_code_reads(compose: dict) -> None:
    read_by_code = {
        config.ENV_DATA_ROOT,
        config.ENV_OUTPUT_ROOT,
        config.ENV_SERVING_DIR,
        config.ENV_METADATA_PATH,
        *metadata.MYSQL_ENV,
        airflow_dag.ENV_CONFIG,
        airflow_dag.ENV_START_DATE,
        airflow_dag.ENV_SCHEDULE,
        airflow_dag.ENV_CATCHUP,
        airflow_dag.ENV_RETRIES,
        airflow_dag.ENV_RETRY_DELAY,
        airflow_dag.ENV_MAX_RETRY_DELAY,
    }
    for name in AIRFLOW_SERVICES:
        env = _env(compose["services"][name])
        ours = {key for key in env if key.startswith(("PIPELINE_", "MLMD_"))}
        assert ours <= read_by_code, ours - read_by_code
        assert set(metadata.MYSQL_ENV) <= ours, "ML Metadata must go to the MySQL service"
        assert env["MLMD_MYSQL_HOST"] == "mlmd-db"


def test_secrets_only_come_from_the_env_file(repo: Path) -> None:
    raw = (repo / "docker-compose.yml").read_text()
    referenced = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)\}", raw))
    example = {
        line.split("=", 1)[0]
        for line in (repo / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert referenced == example
    for match in re.finditer(r"^\s*([A-Z_]*(PASSWORD|SECRET)[A-Z_]*):\s*(.+)$", raw, re.M):
        assert match.group(3).startswith("${"), f"{match.group(1)} has a literal value"
    assert ".env" in (repo / ".gitignore").read_text().split()
