"""Which code edits retrain: TFX's own cache key, computed for copies of the code.

TFX fingerprints a ``module_file`` but not code referenced by dotted path, so the
pipeline puts ``code_version`` (a hash of ``components/model/``) into the exec
properties of Transform and Trainer. This test copies ``components/`` and
``pipeline/`` to a temporary directory, edits one file, compiles the pipeline from
the copy in a fresh process and computes each node's cache key with
``tfx.orchestration.portable.cache_utils.get_cache_context``, exactly as TFX's
launcher does before it decides on a cache hit. Inputs are left out of the key on
purpose: the nodes upstream of Transform (ExampleGen, StatisticsGen, the schema
check, the DataGate) do not carry the model's code version, so their output
artifacts, and hence Transform's and Trainer's inputs, are the same either way.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Compiles the pipeline from the code on PYTHONPATH and prints {node id: cache key}.
_CACHE_KEYS = r"""
import json, sys
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration import data_types_utils, metadata
from tfx.orchestration.local import runner_utils
from tfx.orchestration.portable import cache_utils, inputs_utils
from pipeline.config import load_config
from pipeline.run.launch import compile_pipeline

connection = metadata_store_pb2.ConnectionConfig()
connection.sqlite.filename_uri = sys.argv[1]
connection.sqlite.connection_mode = 3
ir = compile_pipeline(load_config(sys.argv[2]), connection, run_id="fixed-run")
deployment = runner_utils.extract_local_deployment_config(ir)
keys = {}
with metadata.Metadata(connection) as handle:
    for node in ir.nodes:
        pipeline_node = node.pipeline_node
        node_id = pipeline_node.node_info.id
        parameters = data_types_utils.build_parsed_value_dict(
            inputs_utils.resolve_parameters_with_schema(node_parameters=pipeline_node.parameters)
        )
        keys[node_id] = cache_utils.get_cache_context(
            handle,
            pipeline_node=pipeline_node,
            pipeline_info=ir.pipeline_info,
            executor_spec=runner_utils.extract_executor_spec(deployment, node_id),
            parameters=parameters,
        ).name
print("CACHE_KEYS " + json.dumps(keys))
"""

# Each edit appends a comment line: a change that alters no behaviour is exactly the
# case where retraining is pure waste, and the strictest one for a content hash.
_CUSTOM_COMPONENTS = (
    "components/pusher.py",
    "components/data_gate.py",
    "components/tflite.py",
    "components/distributed/cluster.py",
)
_MODEL_CODE = ("components/model/model.py", "components/model/preprocessing.py")


def _copy_code(root: Path) -> None:
    for package in ("components", "pipeline"):
        shutil.copytree(
            REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    # The bundled config's data and schema, found from the copy as from a checkout.
    for folder in ("data", "schemas"):
        (root / folder).symlink_to(REPO / folder)


def _cache_keys(root: Path, edited: str | None) -> dict[str, str]:
    if edited is not None:
        with open(root / edited, "a", encoding="utf-8") as handle:
            handle.write("\n# an edit that changes no behaviour\n")
    env = {**os.environ, "PYTHONPATH": str(root)}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _CACHE_KEYS,
            str(root / "mlmd.sqlite"),
            str(root / "pipeline/configs/clicks.yaml"),
        ],
        # ``python -c`` puts the working directory first on sys.path: the copy's.
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("CACHE_KEYS "))
    return json.loads(line.removeprefix("CACHE_KEYS "))


@pytest.fixture(scope="module")
def original_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("original")
    _copy_code(root)
    return _cache_keys(root, edited=None)


def test_editing_custom_components_keeps_transform_and_trainer_cached(
    tmp_path: Path, original_keys: dict[str, str]
) -> None:
    _copy_code(tmp_path)
    for edited in _CUSTOM_COMPONENTS[:-1]:
        with open(tmp_path / edited, "a", encoding="utf-8") as handle:
            handle.write("\n# an edit that changes no behaviour\n")
    keys = _cache_keys(tmp_path, edited=_CUSTOM_COMPONENTS[-1])
    for node in ("Transform", "Trainer", "Evaluator"):
        assert keys[node] == original_keys[node], f"{node} would re-run after {_CUSTOM_COMPONENTS}"
    # The converter's own source is its cache key: editing it re-runs it alone.
    assert keys["TFLiteConverter"] != original_keys["TFLiteConverter"]


@pytest.mark.parametrize("edited", _MODEL_CODE)
def test_editing_model_code_retrains(
    tmp_path: Path, original_keys: dict[str, str], edited: str
) -> None:
    _copy_code(tmp_path)
    keys = _cache_keys(tmp_path, edited=edited)
    assert keys["Transform"] != original_keys["Transform"], (
        f"Transform cached after editing {edited}"
    )
    assert keys["Trainer"] != original_keys["Trainer"], f"Trainer cached after editing {edited}"
