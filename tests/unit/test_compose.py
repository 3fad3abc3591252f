"""The production stack file, validated by Debian's docker-compose (no engine needed)."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from pipeline import config
from pipeline.devtools.deploy_check import compose_config, filled_env_file
from pipeline.devtools.services import ensure_debian_package
from pipeline.mlmd import connection as metadata
from pipeline.run import airflow_dag

AIRFLOW_SERVICES = ("airflow-init", "airflow-webserver", "airflow-scheduler")
PIPELINE_IMAGE = "tfx-clicks-pipeline:latest"

# What the official images ship, as their own files show (no engine here to look):
# postgres: the PostgreSQL client programs, pg_isready among them; mariadb: the
# image's /usr/local/bin/healthcheck.sh (MariaDB's docs, "Using Healthcheck.sh");
# tensorflow/serving: an Ubuntu base (bash, grep) and no curl or wget; prom/*: a
# busybox base, whose wget the projects' own docs use for /-/healthy; nginx's alpine
# images: busybox too.
OFFICIAL_IMAGE_PROGRAMS = {
    "postgres": {"pg_isready", "psql", "bash"},
    "mariadb": {"healthcheck.sh", "mariadb", "mariadb-admin", "bash"},
    "tensorflow/serving": {"bash", "grep", "tensorflow_model_server"},
    "prom/prometheus": {"wget", "promtool"},
    "prom/alertmanager": {"wget", "amtool"},
    "nginx": {"wget", "nginx"},
}
# Shell builtins and keywords a healthcheck script may use besides programs.
SHELL_BUILTINS = {"exec", "printf", "echo", "test", "[", "true", "false"}

pytestmark = pytest.mark.requires_root(
    "installs docker-compose with apt-get", unless_on_path="docker-compose"
)


@pytest.fixture(scope="module")
def compose(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    env_file = filled_env_file(repo / ".env.example", tmp_path_factory.mktemp("env") / ".env")
    return compose_config(repo, env_file)


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    return env if isinstance(env, dict) else dict(item.split("=", 1) for item in env)


def test_services_of_the_stack(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == {
        "airflow-db",
        "mlmd-db",
        *AIRFLOW_SERVICES,
        "serving",
        "metrics",
        "dashboard",
        "prometheus",
        "alertmanager",
    }
    # MariaDB, as in the tests: ML Metadata 1.16's client cannot log in to MySQL 8's
    # default caching_sha2_password (google/ml-metadata#178).
    assert services["mlmd-db"]["image"] == "mariadb:10.11"
    assert services["serving"]["image"] == "tensorflow/serving:2.16.1"
    published = {
        (service, int(port["published"]))
        for service in services
        for port in services[service].get("ports", [])
    }
    assert published == {
        ("airflow-webserver", 8080),
        ("serving", 8500),
        ("serving", 8501),
        ("prometheus", 9090),
        ("alertmanager", 9093),
        ("dashboard", 8088),
    }
    for name in AIRFLOW_SERVICES:
        env = _env(services[name])
        assert (
            env["AIRFLOW__CORE__EXECUTOR"] == "pipeline.run.airflow_executor.PreloadedLocalExecutor"
        )
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
        assert services[name]["image"] == PIPELINE_IMAGE
    assert services["airflow-webserver"]["command"] in ("webserver", ["webserver"])
    assert services["airflow-scheduler"]["command"] in ("scheduler", ["scheduler"])
    assert services["metrics"]["command"][:4] == ["pipeline", "metrics", "--serve", "--port"]


def test_a_failed_migration_stops_the_stack(compose: dict, repo: Path) -> None:
    services = compose["services"]
    assert services["airflow-init"]["command"] in ("airflow-init", ["airflow-init"])
    for name in ("airflow-webserver", "airflow-scheduler"):
        assert services[name]["depends_on"]["airflow-init"] == {
            "condition": "service_completed_successfully"
        }
    # The init steps live in the entrypoint, under `set -e`, with nothing swallowing
    # a failure (tests/unit/test_docker_entrypoint.py runs them).
    script = (repo / "deploy/docker-entrypoint.sh").read_text()
    assert "set -euo pipefail" in script
    assert "|| true" not in script
    assert "|| true" not in (repo / "docker-compose.yml").read_text()


def test_secrets_and_settings_of_airflow(compose: dict) -> None:
    from airflow.configuration import retrieve_configuration_description

    options = retrieve_configuration_description(include_airflow=True, include_providers=True)
    for name in AIRFLOW_SERVICES:
        env = _env(compose["services"][name])
        assert env["AIRFLOW__CORE__FERNET_KEY"]
        assert env["AIRFLOW__WEBSERVER__SECRET_KEY"]
        # Every AIRFLOW__SECTION__KEY is an option Airflow 2 has (AUTHENTICATE, an
        # Airflow 1 setting, is not).
        for key in (key for key in env if key.startswith("AIRFLOW__")):
            section, option = key.removeprefix("AIRFLOW__").lower().split("__", 1)
            assert option in options.get(section, {}).get("options", {}), key


def test_the_example_env_file_refuses_to_start_without_secrets(repo: Path) -> None:
    binary = ensure_debian_package("docker-compose", "docker-compose")
    result = subprocess.run(
        [binary, "-f", "docker-compose.yml", "--env-file", ".env.example", "config"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "set " in result.stderr and " in .env" in result.stderr, result.stderr


def test_tf_serving_reads_the_pushers_directory(compose: dict, repo: Path) -> None:
    services = compose["services"]
    scheduler_env = _env(services["airflow-scheduler"])
    serving = services["serving"]
    script = " ".join(serving["command"])

    def volume_at(service: dict, target: str) -> str:
        # docker-compose 1.x prints short syntax: "source:target[:mode]".
        (source,) = [v.split(":")[0] for v in service["volumes"] if v.split(":")[1] == target]
        return source

    # The Pusher writes <PIPELINE_SERVING_DIR>/models.config and the versions under
    # <PIPELINE_SERVING_DIR>/<model_name>/; TF Serving reads them from the same
    # volume at the same path.
    serving_dir = scheduler_env["PIPELINE_SERVING_DIR"]
    assert volume_at(services["airflow-scheduler"], serving_dir) == volume_at(serving, serving_dir)
    assert f"--model_config_file={serving_dir}/models.config" in script
    assert f"until [ -f {serving_dir}/models.config ]" in script
    assert "--model_config_file_poll_wait_seconds=60" in script
    # TF Serving's parameter files are the repository's deploy/serving.
    assert volume_at(serving, "/etc/serving") == str(repo / "deploy/serving")
    for flag, name in (
        ("--monitoring_config_file", "monitoring.config"),
        ("--batching_parameters_file", "batching.config"),
    ):
        assert f"{flag}=/etc/serving/{name}" in script
        assert (repo / "deploy/serving" / name).is_file()
    assert "--enable_batching=true" in script
    default = config.load_config(
        repo / scheduler_env["PIPELINE_CONFIG"].removeprefix("/opt/pipeline/")
    )
    assert _env(serving)["MODEL_NAME"] == default.model_name


def test_monitoring_services_use_the_repositorys_files(compose: dict, repo: Path) -> None:
    services = compose["services"]
    prometheus = services["prometheus"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    assert f"{repo}/deploy/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    alertmanager = services["alertmanager"]
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in alertmanager["command"]
    assert (
        f"{repo}/deploy/alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro"
        in alertmanager["volumes"]
    )
    # Prometheus scrapes the exporter on the port the metrics service serves.
    port = services["metrics"]["command"][services["metrics"]["command"].index("--port") + 1]
    assert f"metrics:{port}" in (repo / "deploy/prometheus/prometheus.yml").read_text()


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
    # What each service's code needs set: the DAG its config and data; every
    # process that opens ML Metadata or the serving directory, those.
    needed = {config.ENV_OUTPUT_ROOT, config.ENV_SERVING_DIR, *metadata.MYSQL_ENV}
    needed_by = {
        **{
            name: needed | {airflow_dag.ENV_CONFIG, config.ENV_DATA_ROOT}
            for name in AIRFLOW_SERVICES
        },
        "metrics": needed,
    }
    for name, names in needed_by.items():
        env = _env(compose["services"][name])
        ours = {key for key in env if key.startswith(("PIPELINE_", "MLMD_"))}
        assert ours <= read_by_code, ours - read_by_code
        assert names <= {key for key, value in env.items() if value}, names - set(env)
        assert env["MLMD_MYSQL_HOST"] == "mlmd-db"
    # What the entrypoint's airflow-init requires (`${NAME:?...}`) is set for it.
    script = (Path(__file__).resolve().parents[2] / "deploy/docker-entrypoint.sh").read_text()
    required = set(re.findall(r"\$\{([A-Z_]+):\?", script))
    assert required == {"AIRFLOW_ADMIN_USER", "AIRFLOW_ADMIN_PASSWORD"}
    assert required <= set(_env(compose["services"]["airflow-init"]))


def _programs(test: list[str]) -> list[str]:
    """The programs a healthcheck runs: its command, and each command of a `sh -c` script."""
    kind, *command = test
    if kind == "CMD-SHELL":
        command = ["sh", "-c", command[0]]
    programs = [command[0]]
    if command[0] in ("sh", "bash") and command[1] == "-c":
        for part in re.split(r"&&|\|\||;|\|", command[2]):
            words = shlex.split(part.replace("<&3", "").replace(">&3", ""))
            if words and words[0] not in SHELL_BUILTINS:
                programs.append(words[0])
    return programs


def test_every_healthcheck_runs_a_program_its_image_has(compose: dict, repo: Path) -> None:
    dockerfile = (repo / "Dockerfile").read_text()
    (apt_line,) = re.findall(r"apt-get install -y --no-install-recommends ([^\\\n]+)", dockerfile)
    ours = set(apt_line.split()) | {path.name for path in (repo / ".venv/bin").iterdir()}
    for name, service in compose["services"].items():
        if name == "airflow-init":
            # One-shot; its exit code is what the others wait for.
            # (`disable: true`, which docker-compose resolves to the test NONE).
            assert service["healthcheck"] in ({"disable": True}, {"test": ["NONE"]})
            continue
        test = service["healthcheck"]["test"]
        image = service["image"]
        shipped = ours if image == PIPELINE_IMAGE else OFFICIAL_IMAGE_PROGRAMS[image.split(":")[0]]
        for program in _programs(test):
            assert program in shipped, f"{name}: {program} is not in {image}"


def test_airflow_logs_outlive_the_containers(compose: dict) -> None:
    services = compose["services"]
    for name in ("airflow-webserver", "airflow-scheduler"):
        assert "airflow-logs:/opt/airflow/logs:rw" in services[name]["volumes"]
    assert "airflow-logs" in compose["volumes"]


def test_the_image_runs_as_a_fixed_non_root_user(repo: Path) -> None:
    dockerfile = (repo / "Dockerfile").read_text()
    uid = re.search(r"^ARG PIPELINE_UID=(\d+)$", dockerfile, re.M)
    assert uid and int(uid.group(1)) != 0
    (user,) = re.findall(r"^USER (.+)$", dockerfile, re.M)
    assert user == "${PIPELINE_UID}:${PIPELINE_GID}"
    assert dockerfile.rstrip().splitlines()[-2:] == [
        'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]',
        'CMD ["--help"]',
    ]
    ignored = {
        line.strip().rstrip("/") for line in (repo / ".dockerignore").read_text().splitlines()
    }
    assert {".venv", ".git", "outputs", ".tools", ".env"} <= ignored


def test_secrets_only_come_from_the_env_file(repo: Path) -> None:
    raw = (repo / "docker-compose.yml").read_text()
    referenced = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)[}:]", raw))
    example = {
        line.split("=", 1)[0]
        for line in (repo / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert referenced == example
    for match in re.finditer(r"^\s*([A-Z_]*(PASSWORD|SECRET|FERNET)[A-Z_]*):\s*(.+)$", raw, re.M):
        assert match.group(3).startswith("${"), f"{match.group(1)} has a literal value"
    # Every secret is empty in the example, and required by the compose file.
    for line in (repo / ".env.example").read_text().splitlines():
        name = line.split("=", 1)[0]
        if not line.startswith("#") and re.search(r"PASSWORD|SECRET|FERNET", name):
            assert line == f"{name}=", f"{name} has a value in .env.example"
            assert f"${{{name}:?" in raw, f"{name} is not required by docker-compose.yml"
    assert ".env" in (repo / ".gitignore").read_text().split()
