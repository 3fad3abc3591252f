"""deploy/k8s (kustomize) and deploy/helm, validated against a named Kubernetes version."""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import pytest
import yaml

from pipeline import config
from pipeline.devtools.deploy_check import (
    KUBERNETES_VERSION,
    DeployCheckError,
    check_helm_values,
    kustomization_files,
    render_kustomization,
    validate_manifests,
)


@pytest.fixture(scope="module")
def rendered(repo: Path) -> dict[str, dict]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl (which carries kustomize) is not installed")
    documents = render_kustomization(repo / "deploy/k8s")
    return {doc["kind"] + "/" + doc["metadata"]["name"]: doc for doc in documents}


def _one(rendered: dict[str, dict], kind: str) -> dict:
    (doc,) = [doc for key, doc in rendered.items() if key.startswith(kind + "/")]
    return doc


def test_rendered_objects_are_valid_for_the_named_kubernetes_version(
    rendered: dict[str, dict],
) -> None:
    assert KUBERNETES_VERSION == "1.30.0"
    validate_manifests(list(rendered.values()), KUBERNETES_VERSION)
    assert {key.split("/")[0] for key in rendered} == {
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "PersistentVolumeClaim",
        "Service",
    }


def test_each_resource_file_is_valid_on_its_own(repo: Path) -> None:
    files = kustomization_files(repo / "deploy/k8s")
    assert {path.name for path in files} >= {
        "serving-deployment.yaml",
        "serving-service.yaml",
        "serving-hpa.yaml",
        "models-pvc.yaml",
    }
    docs = [doc for path in files for doc in yaml.safe_load_all(path.read_text()) if doc]
    validate_manifests(docs, KUBERNETES_VERSION)


def test_an_invalid_object_is_named_with_its_field(rendered: dict[str, dict]) -> None:
    deployment = copy.deepcopy(_one(rendered, "Deployment"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["resourcez"] = container.pop("resources")
    with pytest.raises(DeployCheckError) as error:
        validate_manifests([deployment], KUBERNETES_VERSION)
    message = str(error.value)
    assert "Deployment/tf-serving" in message and "'resourcez' was unexpected" in message
    assert "spec.template.spec.containers.0" in message


def test_tf_serving_deployment(rendered: dict[str, dict], repo: Path) -> None:
    model_name = config.load_config(repo / "pipeline/configs/clicks.yaml").model_name
    deployment = _one(rendered, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "tensorflow/serving:2.16.1"
    script = " ".join(container["args"])
    for flag in (
        "--model_config_file=/models/models.config",
        "--model_config_file_poll_wait_seconds=60",
        "--monitoring_config_file=/etc/serving/monitoring.config",
        "--enable_batching=true",
        "--batching_parameters_file=/etc/serving/batching.config",
    ):
        assert flag in script
    # Probes on the REST status endpoint of the model.
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": f"/v1/models/{model_name}", "port": "http"}
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    assert pod["securityContext"]["runAsNonRoot"] is True
    # The models claim at /models, the pipeline's serving dir; the generated ConfigMap
    # (name with kustomize's hash) at /etc/serving, holding deploy/serving's files.
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    claim = volumes[mounts["/models"]]["persistentVolumeClaim"]["claimName"]
    assert f"PersistentVolumeClaim/{claim}" in rendered
    config_map = rendered["ConfigMap/" + volumes[mounts["/etc/serving"]]["configMap"]["name"]]
    assert re.fullmatch(r"tf-serving-config-[a-z0-9]+", config_map["metadata"]["name"])
    for name in ("monitoring.config", "batching.config"):
        assert config_map["data"][name] == (repo / "deploy/serving" / name).read_text()


def test_service_and_autoscaler_point_at_the_deployment(rendered: dict[str, dict]) -> None:
    deployment = _one(rendered, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = _one(rendered, "Service")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert {port["port"] for port in service["spec"]["ports"]} == {8500, 8501}
    hpa = _one(rendered, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["type"] == "Utilization"
    # The autoscaler owns the replica count.
    assert "replicas" not in deployment["spec"]


def test_a_missing_resource_is_named(repo: Path, tmp_path: Path) -> None:
    deploy = tmp_path / "deploy"
    shutil.copytree(repo / "deploy", deploy)
    (deploy / "k8s/serving-hpa.yaml").unlink()
    with pytest.raises(DeployCheckError, match="resource serving-hpa.yaml is missing"):
        kustomization_files(deploy / "k8s")


def test_helm_values_for_the_official_airflow_chart(repo: Path) -> None:
    check_helm_values(repo)
    values = yaml.safe_load((repo / "deploy/helm/airflow-values.yaml").read_text())
    assert values["executor"] == "KubernetesExecutor"
    assert values["images"]["airflow"]["repository"].endswith("/tfx-clicks-pipeline")
    assert {"envName": "AIRFLOW_CONN_MLMD_DEFAULT", "secretName": "mlmd-connection"}.items() <= (
        values["secret"][0].items()
    )
    # The Dockerfile's user, and the serving claim TF Serving reads at the same path.
    dockerfile = (repo / "Dockerfile").read_text()
    assert f"ARG PIPELINE_UID={values['uid']}" in dockerfile
    env = {item["name"]: item["value"] for item in values["env"]}
    mounts = {mount["mountPath"]: mount["name"] for mount in values["volumeMounts"]}
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in values["volumes"]}
    assert claims[mounts[env["PIPELINE_SERVING_DIR"]]] == "models"
    pvcs = yaml.safe_load_all((repo / "deploy/k8s/models-pvc.yaml").read_text())
    assert "models" in {pvc["metadata"]["name"] for pvc in pvcs}


def test_helm_values_without_the_mlmd_secret_are_refused(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "deploy/helm").mkdir(parents=True)
    values = yaml.safe_load((repo / "deploy/helm/airflow-values.yaml").read_text())
    values["secret"] = []
    values["executor"] = "CeleryExecutor"
    (tmp_path / "deploy/helm/airflow-values.yaml").write_text(yaml.safe_dump(values))
    with pytest.raises(DeployCheckError) as error:
        check_helm_values(tmp_path)
    assert "executor is not KubernetesExecutor" in str(error.value)
    assert "AIRFLOW_CONN_MLMD_DEFAULT" in str(error.value)
