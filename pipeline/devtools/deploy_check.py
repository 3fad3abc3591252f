"""``python -m pipeline.devtools.deploy_check``: the deployment files, checked by real tools.

No Docker engine, TF Serving binary or Kubernetes cluster runs here, so each file of
the production stack is checked by the tool that reads it, as far as a tool can
without one:

- ``docker-compose.yml``: Debian's ``docker-compose config`` (interpolation with
  ``.env.example``, its empty secrets filled with throw-away values);
- ``deploy/prometheus``: ``promtool check config``, ``check rules`` and ``test rules``;
- ``deploy/alertmanager``: ``amtool check-config``;
- ``deploy/k8s``: rendered by ``kubectl kustomize`` and every object validated with
  ``kubernetes-validate`` against the schemas of Kubernetes :data:`KUBERNETES_VERSION`;
- ``deploy/serving/*.config``: parsed into TF Serving's own protos
  (:func:`pipeline.serving.files.check_serving_files`);
- ``deploy/helm/airflow-values.yaml``: loaded, with the settings the stack relies on.

It prints one line per check and exits non-zero naming every check that failed. As
root, missing Debian tools are installed (``make check-deploy``, ``.ci/run``).
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from pipeline.devtools.services import ensure_debian_package

REPO = Path(__file__).resolve().parents[2]

# The Kubernetes version whose API schemas deploy/k8s is validated against: the
# oldest minor release still commonly offered by managed clusters.
KUBERNETES_VERSION = "1.30.0"

# The env file whose values docker-compose interpolates (its secrets are empty).
ENV_EXAMPLE = ".env.example"


class DeployCheckError(Exception):
    """A deployment file failed its check; the message says which file and why."""


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The outcome of one check.

    Attributes:
        name: The check's name, as printed.
        ok: Whether it passed.
        detail: What was checked, or why it failed.
    """

    name: str
    ok: bool
    detail: str


# --- tools -----------------------------------------------------------------------------


def _tool(binary: str, package: str) -> str:
    """The path of a Debian tool, installed when missing and running as root."""
    found = shutil.which(binary)
    if found:
        return found
    if os.geteuid() != 0:
        raise DeployCheckError(
            f"{binary} is not installed; install Debian's {package} (apt-get install "
            f"{package}) or run as root, which installs it."
        )
    return ensure_debian_package(binary, package)


def _run(command: Sequence[str], cwd: Path, what: str) -> str:
    """Runs a checking tool and returns its output, or raises with its complaint."""
    result = subprocess.run(
        list(command), cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        raise DeployCheckError(f"{what}: {_complaints(output)}")
    return output


def _complaints(output: str) -> str:
    """A tool's failure output on one line: its complaints, without its progress lines."""
    progress = ("SUCCESS", "Checking", "Unit Testing", "FAILED:", "amtool: error: failed to")
    lines = [line.strip() for line in output.splitlines()]
    kept = [line for line in lines if line and not line.startswith(progress)]
    # promtool repeats a broken rule file's error once per test that loads it.
    unique = list(dict.fromkeys(kept)) or [line for line in lines if line]
    return " | ".join(unique)[-3000:]


# --- docker compose -----------------------------------------------------------------------


def filled_env_file(example: Path, target: Path) -> Path:
    """Writes a copy of ``.env.example`` with its empty secrets filled in.

    ``.env.example`` leaves every secret empty, and docker-compose refuses an empty
    one (``${NAME:?...}``); this fills each with a throw-away random value (a real
    Fernet key for ``AIRFLOW_FERNET_KEY``) so the file can be interpolated. The
    values are never used by anything.

    Args:
        example: The ``.env.example`` file.
        target: Where to write the filled copy.

    Returns:
        ``target``.
    """
    lines = []
    for line in example.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#") and not value:
            if name == "AIRFLOW_FERNET_KEY":
                # What cryptography's Fernet.generate_key() returns.
                value = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
            else:
                value = secrets.token_urlsafe(24)
        lines.append(f"{name}{sep}{value}" if sep else line)
    target.write_text("\n".join(lines) + "\n")
    return target


def compose_config(root: Path, env_file: Path) -> dict[str, Any]:
    """The stack as ``docker-compose config`` resolves it (no Docker engine needed).

    Args:
        root: The directory holding ``docker-compose.yml``.
        env_file: The env file to interpolate with.

    Returns:
        The resolved compose file.

    Raises:
        DeployCheckError: If docker-compose rejects the file (its message included).
    """
    binary = _tool("docker-compose", "docker-compose")
    output = subprocess.run(
        [binary, "-f", "docker-compose.yml", "--env-file", str(env_file.resolve()), "config"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if output.returncode != 0:
        raise DeployCheckError(f"docker-compose.yml: {output.stderr.strip()}")
    resolved: dict[str, Any] = yaml.safe_load(output.stdout)
    return resolved


def check_compose(root: Path) -> str:
    """``docker-compose config`` on ``docker-compose.yml`` with ``.env.example``."""
    with tempfile.TemporaryDirectory() as scratch:
        env_file = filled_env_file(root / ENV_EXAMPLE, Path(scratch) / ".env")
        services = compose_config(root, env_file)["services"]
    missing = sorted(
        name
        for name, service in services.items()
        if "healthcheck" not in service and name != "airflow-init"
    )
    if missing:
        raise DeployCheckError(f"docker-compose.yml: no healthcheck for {', '.join(missing)}")
    return f"docker-compose.yml: {len(services)} services"


# --- Prometheus and Alertmanager --------------------------------------------------------


def check_prometheus_config(root: Path) -> str:
    """``promtool check config`` (which also checks the rule files it names)."""
    promtool = _tool("promtool", "prometheus")
    config = root / "deploy/prometheus/prometheus.yml"
    _run([promtool, "check", "config", str(config)], root, str(config.relative_to(root)))
    return str(config.relative_to(root))


def check_prometheus_rules(root: Path) -> str:
    """``promtool check rules`` on every file of ``deploy/prometheus/rules``."""
    promtool = _tool("promtool", "prometheus")
    rules = sorted((root / "deploy/prometheus/rules").glob("*.yml"))
    if not rules:
        raise DeployCheckError("deploy/prometheus/rules: no rule files (*.yml)")
    _run([promtool, "check", "rules", *map(str, rules)], root, "promtool check rules")
    return f"{len(rules)} rule files"


def check_prometheus_rule_tests(root: Path) -> str:
    """``promtool test rules`` on every file of ``deploy/prometheus/tests``."""
    promtool = _tool("promtool", "prometheus")
    tests = sorted((root / "deploy/prometheus/tests").glob("*.yml"))
    if not tests:
        raise DeployCheckError("deploy/prometheus/tests: no rule tests (*.yml)")
    _run([promtool, "test", "rules", *map(str, tests)], root, "promtool test rules")
    return f"{len(tests)} rule test files"


def check_alertmanager_config(root: Path) -> str:
    """``amtool check-config`` on ``deploy/alertmanager/alertmanager.yml``."""
    amtool = _tool("amtool", "prometheus-alertmanager")
    config = root / "deploy/alertmanager/alertmanager.yml"
    _run([amtool, "check-config", str(config)], root, str(config.relative_to(root)))
    return str(config.relative_to(root))


# --- Kubernetes ---------------------------------------------------------------------------


def render_kustomization(directory: Path) -> list[dict[str, Any]]:
    """Renders a kustomization with ``kubectl kustomize`` (no cluster involved).

    Args:
        directory: The directory holding ``kustomization.yaml``.

    Returns:
        The rendered objects.

    Raises:
        DeployCheckError: If kubectl is missing or kustomize rejects the files.
    """
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise DeployCheckError(
            f"{directory}: kubectl is not installed, so the kustomization cannot be "
            "rendered (kubectl kustomize); install kubectl."
        )
    output = _run([kubectl, "kustomize", str(directory)], directory, f"{directory}")
    return [doc for doc in yaml.safe_load_all(output) if doc]


def validate_manifests(documents: Sequence[dict[str, Any]], version: str) -> None:
    """Validates Kubernetes objects against the API schemas of one Kubernetes version.

    Strict: a field the API does not know is an error, as ``kubectl apply`` would
    reject it.

    Args:
        documents: The objects (``apiVersion``, ``kind``, ...).
        version: The Kubernetes version, e.g. ``"1.30.0"``.

    Raises:
        DeployCheckError: Naming each invalid object, the field and the problem.
    """
    # A dev dependency (kubernetes-validate ships the schemas): imported when used.
    import kubernetes_validate  # type: ignore[import-untyped]

    problems = []
    for doc in documents:
        name = f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            # jsonschema's error, its message and path copied onto this one.
            where = ".".join(str(part) for part in error.path)
            problems.append(f"{name}: {error.message} (at {where or 'top level'})")
        except kubernetes_validate.SchemaNotFoundError as error:
            problems.append(f"{name}: {error.message}")
    if problems:
        raise DeployCheckError(f"not valid for Kubernetes {version}: " + "; ".join(problems))


def kustomization_files(directory: Path) -> list[Path]:
    """The resource files of a kustomization, following directory resources.

    Args:
        directory: The directory holding ``kustomization.yaml``.

    Returns:
        The files named by ``resources`` (of this and of included kustomizations).

    Raises:
        DeployCheckError: If a resource, or a ``configMapGenerator`` file, is missing.
    """
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    files = []
    for resource in kustomization.get("resources") or []:
        path = (directory / resource).resolve()
        if path.is_dir():
            files.extend(kustomization_files(path))
        elif path.is_file():
            files.append(path)
        else:
            raise DeployCheckError(
                f"{directory}/kustomization.yaml: resource {resource} is missing"
            )
    for generator in kustomization.get("configMapGenerator") or []:
        for name in generator.get("files") or []:
            if not (directory / name.split("=")[-1]).is_file():
                raise DeployCheckError(
                    f"{directory}/kustomization.yaml: configMapGenerator "
                    f"{generator.get('name')} names {name}, which is missing"
                )
    return files


def check_kubernetes(root: Path) -> str:
    """``deploy/k8s`` rendered, and every object valid at :data:`KUBERNETES_VERSION`.

    Without kubectl (which carries kustomize), each resource file is validated on its
    own instead, and the line says the kustomization was not rendered.
    """
    directory = root / "deploy/k8s"
    if shutil.which("kubectl"):
        documents = render_kustomization(directory)
        how = "rendered by kubectl kustomize"
    else:
        documents = [
            doc
            for path in kustomization_files(directory)
            for doc in yaml.safe_load_all(path.read_text())
            if doc
        ]
        how = "kubectl not installed: each resource file validated, kustomization not rendered"
    validate_manifests(documents, KUBERNETES_VERSION)
    kinds = ", ".join(sorted({str(doc["kind"]) for doc in documents}))
    return (
        f"deploy/k8s: {len(documents)} objects valid for Kubernetes {KUBERNETES_VERSION} "
        f"({kinds}; {how})"
    )


# --- TF Serving ---------------------------------------------------------------------------


def check_serving_configs(root: Path) -> str:
    """``deploy/serving/*.config`` parse into TF Serving's protos; Prometheus scrapes it."""
    from pipeline.serving.files import ServingFileError, check_serving_files

    try:
        files = check_serving_files(root / "deploy/serving")
    except ServingFileError as error:
        raise DeployCheckError(str(error)) from error
    path = files.monitoring.prometheus_config.path
    prometheus = yaml.safe_load((root / "deploy/prometheus/prometheus.yml").read_text())
    scraped = {job.get("metrics_path", "/metrics") for job in prometheus["scrape_configs"]}
    if path not in scraped:
        raise DeployCheckError(
            f"deploy/serving/monitoring.config: TF Serving exposes its metrics at {path!r}, "
            f"but no scrape job of deploy/prometheus/prometheus.yml reads that path "
            f"(metrics_path: {sorted(scraped)})."
        )
    return "monitoring.config (MonitoringConfig), batching.config (BatchingParameters)"


# --- Helm ---------------------------------------------------------------------------------


def check_helm_values(root: Path) -> str:
    """``deploy/helm/airflow-values.yaml`` loads and sets what the stack relies on."""
    path = root / "deploy/helm/airflow-values.yaml"
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise DeployCheckError(f"{path}: not YAML: {error}") from error
    problems = []
    if values.get("executor") != "KubernetesExecutor":
        problems.append("executor is not KubernetesExecutor")
    image = (values.get("images") or {}).get("airflow") or {}
    if not (image.get("repository") and image.get("tag")):
        problems.append("images.airflow.repository and .tag (the pipeline image) are not set")
    for key in ("fernetKeySecretName", "webserverSecretKeySecretName"):
        if not values.get(key):
            problems.append(f"{key} is not set")
    from_secrets = {entry.get("envName") for entry in values.get("secret") or []}
    if "AIRFLOW_CONN_MLMD_DEFAULT" not in from_secrets:
        problems.append("secret: has no envName AIRFLOW_CONN_MLMD_DEFAULT (ML Metadata)")
    if problems:
        raise DeployCheckError(f"{path}: " + "; ".join(problems))
    return str(path.relative_to(root))


# --- running ------------------------------------------------------------------------------

CHECKS: tuple[tuple[str, Callable[[Path], str]], ...] = (
    ("compose", check_compose),
    ("promtool check config", check_prometheus_config),
    ("promtool check rules", check_prometheus_rules),
    ("promtool test rules", check_prometheus_rule_tests),
    ("amtool check-config", check_alertmanager_config),
    ("kubernetes-validate", check_kubernetes),
    ("tf-serving protos", check_serving_configs),
    ("helm values", check_helm_values),
)


def run_checks(root: Path) -> list[CheckResult]:
    """Runs every check on a checkout; a failing check does not stop the others.

    Args:
        root: The repository root (or a copy holding ``docker-compose.yml``,
            ``.env.example`` and ``deploy/``).

    Returns:
        One result per check, in :data:`CHECKS` order.
    """
    results = []
    for name, check in CHECKS:
        try:
            results.append(CheckResult(name, True, check(root)))
        except (DeployCheckError, RuntimeError, OSError, yaml.YAMLError) as error:
            results.append(CheckResult(name, False, str(error)))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the checks and prints one line per check.

    Args:
        argv: Command-line arguments (default ``sys.argv[1:]``).

    Returns:
        0 when every check passed, 1 otherwise.
    """
    parser = argparse.ArgumentParser(prog="python -m pipeline.devtools.deploy_check")
    parser.add_argument("--root", type=Path, default=REPO, help="repository root")
    args = parser.parse_args(argv)
    # The serving check imports TensorFlow, whose C++ start-up lines would bury ours.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    results = run_checks(args.root)
    for result in results:
        print(f"{'ok  ' if result.ok else 'FAIL'} {result.name}: {result.detail}")
    failed = [result.name for result in results if not result.ok]
    if failed:
        print(f"deploy check failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
