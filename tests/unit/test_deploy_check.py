"""``python -m pipeline.devtools.deploy_check`` reports a broken deployment file by name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.devtools import deploy_check

pytestmark = pytest.mark.requires_root(
    "installs docker-compose, prometheus and prometheus-alertmanager with apt-get",
    unless_on_path="promtool",
)


@pytest.fixture
def checkout(repo: Path, tmp_path: Path) -> Path:
    """A copy of what the checks read: the compose file, its env example and deploy/."""
    for name in ("docker-compose.yml", ".env.example"):
        shutil.copy(repo / name, tmp_path / name)
    shutil.copytree(repo / "deploy", tmp_path / "deploy")
    return tmp_path


def _lines(output: str) -> dict[str, str]:
    """``{check name: its line}`` from the printed report."""
    lines = {}
    for line in output.splitlines():
        status, _, rest = line.partition(" ")
        name = rest.strip().split(":", 1)[0]
        if status in ("ok", "FAIL") and name:
            lines[name] = line
    return lines


def test_each_broken_file_fails_its_own_check(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy = checkout / "deploy"
    # A PromQL syntax error in a rule file.
    rules = deploy / "prometheus/rules/serving.yml"
    rules.write_text(rules.read_text().replace("sum by (model_name)", "sum by (model_name", 1))
    # A string where TF Serving's BatchingParameters has an Int64Value.
    (deploy / "serving/batching.config").write_text('max_batch_size { value: "many" }\n')
    # A field the autoscaling/v2 API does not have.
    hpa = deploy / "k8s/serving-hpa.yaml"
    hpa.write_text(hpa.read_text().replace("  minReplicas:", "  minimumReplicas:"))
    # A service without a healthcheck.
    compose = checkout / "docker-compose.yml"
    text = compose.read_text()
    start = text.index(
        '    healthcheck:\n      test: ["CMD", "wget", "-q", "--spider", "http://localhost:9093'
    )
    end = text.index("retries: 3\n", start) + len("retries: 3\n")
    compose.write_text(text[:start] + text[end:])

    assert deploy_check.main(["--root", str(checkout)]) == 1
    out, err = capsys.readouterr()
    lines = _lines(out)
    # One line per check, every check run despite the failures.
    assert set(lines) == {name for name, _ in deploy_check.CHECKS}
    assert lines["promtool check rules"].startswith("FAIL")
    assert "rules/serving.yml" in lines["promtool check rules"]
    assert "parse error" in lines["promtool check rules"]
    assert lines["tf-serving protos"].startswith("FAIL")
    assert "batching.config" in lines["tf-serving protos"]
    assert lines["kubernetes-validate"].startswith("FAIL")
    assert "HorizontalPodAutoscaler/tf-serving" in lines["kubernetes-validate"]
    assert "'minimumReplicas' was unexpected" in lines["kubernetes-validate"]
    assert lines["compose"] == "FAIL compose: docker-compose.yml: no healthcheck for alertmanager"
    for name in ("promtool check rules", "tf-serving protos", "kubernetes-validate", "compose"):
        assert name in err.splitlines()[-1]
    assert lines["helm values"].startswith("ok")


def test_an_unbroken_copy_passes(checkout: Path) -> None:
    results = {result.name: result for result in deploy_check.run_checks(checkout)}
    for name in ("compose", "kubernetes-validate", "tf-serving protos", "helm values"):
        assert results[name].ok, results[name].detail
    assert "rendered by kubectl kustomize" in results["kubernetes-validate"].detail or (
        shutil.which("kubectl") is None
    )
