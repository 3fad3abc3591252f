"""The pipeline's Trainer: TFX's Trainer with an executor that can train on several workers.

With ``training.distribution_strategy: multi_worker_mirrored`` and ``training.workers``
set, the Trainer execution is worker 0 (the chief) of a MultiWorkerMirroredStrategy
cluster: :class:`Executor` writes a job file (see :mod:`components.distributed.cluster`), trains
worker 0 in a fresh process with ``TF_CONFIG`` for index 0, and the other workers
(``python -m pipeline train-worker --index i``) take the same job and train the
same way with their own index. Only the chief writes the Model and ModelRun
artifacts. Every other strategy trains in-process exactly as TFX's GenericExecutor.

Both sides train in ``python -m components.distributed.training_process --job DIR --index N``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any

from absl import logging
from tfx import types
from tfx.components import Trainer as TfxTrainer
from tfx.components.trainer import executor as generic_executor
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.utils import json_utils, path_utils

from components.distributed import cluster
from components.model.trainer import STRATEGY_KEY

MULTI_WORKER = "multi_worker_mirrored"
# custom_config key holding {"workers": [...], "jobs_dir": ..., "join_timeout_seconds": ...};
# present only when training.workers is set (so other configs keep their cache key).
CLUSTER_KEY = "multi_worker"


def _custom_config(exec_properties: dict[str, Any]) -> dict[str, Any]:
    raw = exec_properties.get("custom_config")
    value = json_utils.loads(raw) if isinstance(raw, str) else raw
    return dict(value or {})


class Executor(generic_executor.GenericExecutor):
    """TFX's GenericExecutor, plus multi-worker training in fresh processes."""

    def Do(  # noqa: N802 - TFX's executor interface
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        """Trains in-process, or as the chief of a multi-worker cluster.

        Args:
            input_dict: The Trainer's input artifacts.
            output_dict: The Trainer's output artifacts (``model``, ``model_run``).
            exec_properties: The Trainer's execution properties.

        Raises:
            cluster.WorkerJoinError: If a worker did not join within the timeout.
            cluster.WorkerLostError: If a worker vanished mid-training (unreachable for
                the join timeout).
            cluster.TrainingProcessError: If the chief's training process failed.
            RuntimeError: If training wrote no model (as GenericExecutor).
        """
        custom = _custom_config(exec_properties)
        settings = custom.get(CLUSTER_KEY)
        env_config = cluster.env_tf_config()
        if custom.get(STRATEGY_KEY) != MULTI_WORKER or (not settings and env_config is None):
            # default/mirrored, or a single-worker MultiWorkerMirroredStrategy: in-process.
            self.train_in_process(input_dict, output_dict, exec_properties)
            return
        serialized = {
            "inputs": artifact_utils.jsonify_artifact_dict(input_dict),
            "outputs": artifact_utils.jsonify_artifact_dict(output_dict),
            "exec_properties": json_utils.dumps(exec_properties),
        }
        if settings:
            if env_config is not None:
                logging.warning("training.workers is set: ignoring TF_CONFIG from the environment")
            workers = cluster.validate_workers(settings["workers"])
            join_timeout = float(settings["join_timeout_seconds"])
            job = cluster.write_job(
                settings["jobs_dir"], workers=workers, join_timeout=join_timeout, **serialized
            )
            index = 0
            logging.warning(
                "Trainer: multi-worker training as worker 0 of %s; waiting up to %.0f s for "
                "workers %s to take job %s (python -m pipeline train-worker --index i)",
                len(workers),
                join_timeout,
                list(workers[1:]),
                job.path,
            )
        elif env_config is not None:
            # TF_CONFIG from the environment (e.g. a Kubernetes TFJob): whoever set it
            # runs the other tasks; this process is the task TF_CONFIG names, and it
            # must be the chief, as the pipeline's Trainer must write the model.
            if not cluster.is_chief(env_config):
                raise ValueError(
                    f"TF_CONFIG in the Trainer's environment names task {env_config.get('task')}, "
                    "which is not the chief: the pipeline's Trainer writes the model, so its "
                    "TF_CONFIG must name the chief (task type chief, or worker 0 when the "
                    "cluster has no chief); the other tasks run elsewhere"
                )
            scratch = tempfile.mkdtemp(prefix="trainer-job-")
            job = cluster.write_job(scratch, workers=(), join_timeout=0.0, **serialized)
            index = int((env_config.get("task") or {}).get("index", 0))
            join_timeout = None
        try:
            cluster.run_task_process(
                job,
                index,
                join_timeout,
                echo=lambda line: logging.info("[worker %s] %s", index, line),
            )
        finally:
            job.close()
            if not settings:
                shutil.rmtree(job.path.parent, ignore_errors=True)
        # As GenericExecutor checks after run_fn (the chief wrote the real artifacts).
        model_dir = path_utils.serving_model_dir(
            artifact_utils.get_single_uri(output_dict["model"])
        )
        if not fileio.exists(model_dir):
            raise RuntimeError(f"multi-worker training wrote no model to {model_dir}")

    def train_in_process(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        """TFX's GenericExecutor.Do: calls ``run_fn`` in this process.

        Args:
            input_dict: The Trainer's input artifacts.
            output_dict: The Trainer's output artifacts.
            exec_properties: The Trainer's execution properties.
        """
        super().Do(input_dict, output_dict, exec_properties)


class Trainer(TfxTrainer):
    """TFX's Trainer component with :class:`Executor` (same spec, inputs and outputs)."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)


def train_task(job: cluster.Job, index: int) -> None:
    """Trains worker ``index``'s part of a job in this process (the training process).

    ``TF_CONFIG`` is set from the job's workers (or taken from the environment) and
    the strategy is created before anything else touches TensorFlow. A worker that
    is not the chief trains with its output artifacts moved to a temporary
    directory: MultiWorkerMirroredStrategy needs every worker to save the model (the
    save runs collective ops), but only the chief's copy is the Model artifact.

    Args:
        job: The job.
        index: This worker's index.
    """
    if job.workers:
        os.environ[cluster.TF_CONFIG] = json.dumps(cluster.tf_config(job.workers, index))
    config = cluster.env_tf_config()
    from components.model.training import distribution_strategy

    # Returns once every worker has connected (and is then reused by run_fn).
    strategy = distribution_strategy(MULTI_WORKER)
    workers = (config or {}).get("cluster", {}).get("worker", [])
    where = f"{workers[index]}, " if index < len(workers) else ""
    print(
        f"{cluster.JOINED_MARKER}: joined the cluster as worker {index} of {len(workers)} "
        f"({where}pid {os.getpid()}); "
        f"{strategy.num_replicas_in_sync} replicas in sync; job {job.path}",
        flush=True,
    )
    inputs = artifact_utils.parse_artifact_dict(job.inputs)
    outputs = artifact_utils.parse_artifact_dict(job.outputs)
    exec_properties = json_utils.loads(job.exec_properties)
    scratch = None
    if not cluster.is_chief(config):
        scratch = tempfile.mkdtemp(prefix=f"trainer-worker-{index}-")
        for key, artifacts in outputs.items():
            for position, artifact in enumerate(artifacts):
                artifact.uri = os.path.join(scratch, key, str(position))
                fileio.makedirs(artifact.uri)
    try:
        Executor().train_in_process(inputs, outputs, exec_properties)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
