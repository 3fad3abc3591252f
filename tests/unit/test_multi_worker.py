"""Multi-worker training plumbing: config, TF_CONFIG, job files, the Trainer's wiring,
the worker CLI's errors and the error when a worker never joins.

Real two-worker training is in tests/e2e/test_multi_worker_e2e.py.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import json_utils

from components.distributed import cluster
from components.distributed.trainer_executor import CLUSTER_KEY, Executor
from pipeline import cli
from pipeline.config import ConfigError, PipelineConfig, load_config
from pipeline.devtools.services import free_ports
from tests.support.cli import REPO
from tests.support.config import expect_config_error, write_config


def _training(raw: dict[str, Any], **training: Any) -> None:
    raw["training"] = {"distribution_strategy": "multi_worker_mirrored", **training}


def _mw_config(tmp_path: Path, workers: list[str], **extra: Any) -> Path:
    path = write_config(tmp_path, lambda raw: _training(raw, workers=workers, **extra))
    # Outputs next to the config, not in the repository.
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["outputs"] = {"root": str(tmp_path / "out")}
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


# --- config ------------------------------------------------------------------------------


def test_workers_are_read_in_order(tmp_path: Path) -> None:
    config = load_config(_mw_config(tmp_path, ["10.0.0.5:2222", " host-b:2223", "[::1]:2224"]))
    assert config.training.distribution_strategy == "multi_worker_mirrored"
    assert config.training.workers == ("10.0.0.5:2222", "host-b:2223", "[::1]:2224")
    assert config.training.join_timeout_seconds == 600.0


def test_default_config_has_no_workers() -> None:
    config = load_config(REPO / "pipeline" / "configs" / "clicks.yaml")
    assert config.training.workers == ()


def test_multi_worker_without_workers_is_accepted(tmp_path: Path) -> None:
    # TF_CONFIG from the environment, or one worker.
    config = load_config(write_config(tmp_path, lambda raw: _training(raw)))
    assert config.training.workers == ()


@pytest.mark.parametrize(
    ("workers", "fragments"),
    [
        (["localhost"], ["training.workers", "'localhost'", "host:port"]),
        (["a:1", "b:http"], ["training.workers", "'b:http'"]),
        (["a:1", "b:0"], ["training.workers", "'b:0'", "1..65535"]),
        (["a:1", "b:70000"], ["training.workers", "'b:70000'"]),
        (["a:1", ":2"], ["training.workers", "':2'"]),
        (["a:1", "::1:2"], ["training.workers", "IPv6", "[::1]:port"]),
        (["a:1"], ["training.workers", "lists 1 worker", "at least 2"]),
        (["a:1", "b:2", "a:1"], ["training.workers", "'a:1'", "more than once"]),
    ],
)
def test_bad_workers(tmp_path: Path, workers: list[str], fragments: list[str]) -> None:
    expect_config_error(_mw_config(tmp_path, workers), *fragments)


def test_workers_must_be_a_list(tmp_path: Path) -> None:
    path = write_config(tmp_path, lambda raw: _training(raw, workers="a:1,b:2"))
    expect_config_error(path, "training.workers must be a list")


@pytest.mark.parametrize("strategy", ["default", "mirrored"])
def test_workers_only_with_multi_worker_mirrored(tmp_path: Path, strategy: str) -> None:
    def mutate(raw: dict[str, Any]) -> None:
        raw["training"] = {"distribution_strategy": strategy, "workers": ["a:1", "b:2"]}

    expect_config_error(
        write_config(tmp_path, mutate), "training.workers", strategy, "multi_worker_mirrored"
    )


@pytest.mark.parametrize("timeout", [0, -5, "soon", True])
def test_bad_join_timeout(tmp_path: Path, timeout: Any) -> None:
    path = _mw_config(tmp_path, ["a:1", "b:2"], join_timeout_seconds=timeout)
    expect_config_error(path, "training.join_timeout_seconds", "positive")


# --- TF_CONFIG -----------------------------------------------------------------------------


def test_tf_config_for_each_worker() -> None:
    workers = ["h0:2000", "h1:2001", "h2:2002"]
    for index in range(3):
        config = cluster.tf_config(workers, index)
        assert config == {
            "cluster": {"worker": workers},
            "task": {"type": "worker", "index": index},
        }
        # TF_CONFIG is JSON in an environment variable.
        assert json.loads(json.dumps(config)) == config
        assert cluster.is_chief(config) == (index == 0)
    with pytest.raises(ValueError, match="index 3 is out of range for 3 workers"):
        cluster.tf_config(workers, 3)


def test_is_chief_follows_tf_distribute() -> None:
    assert cluster.is_chief(None)
    assert cluster.is_chief({})
    with_chief = {"cluster": {"chief": ["c:1"], "worker": ["w:1"]}}
    assert cluster.is_chief({**with_chief, "task": {"type": "chief", "index": 0}})
    # With a separate chief task, worker 0 is not the chief.
    assert not cluster.is_chief({**with_chief, "task": {"type": "worker", "index": 0}})


def test_env_tf_config() -> None:
    assert cluster.env_tf_config({}) is None
    assert cluster.env_tf_config({"TF_CONFIG": "{}"}) is None
    value = cluster.tf_config(["a:1", "b:2"], 1)
    assert cluster.env_tf_config({"TF_CONFIG": json.dumps(value)}) == value
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        cluster.env_tf_config({"TF_CONFIG": "{cluster"})


# --- job files -----------------------------------------------------------------------------


def _artifacts(tmp_path: Path) -> tuple[dict, dict, dict]:
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "Transform" / "transformed_examples" / "7")
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    examples.span = 20759
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "Trainer" / "model" / "9")
    model_run = standard_artifacts.ModelRun()
    model_run.uri = str(tmp_path / "Trainer" / "model_run" / "9")
    props = {
        "run_fn": "components.model.trainer.run_fn",
        "train_args": '{"num_steps": 300}',
        "custom_config": json.dumps({"distribution_strategy": "multi_worker_mirrored"}),
    }
    return {"examples": [examples]}, {"model": [model], "model_run": [model_run]}, props


def _job(tmp_path: Path, workers: list[str], join_timeout: float = 60.0) -> cluster.Job:
    inputs, outputs, props = _artifacts(tmp_path)
    return cluster.write_job(
        tmp_path / "jobs",
        workers=workers,
        join_timeout=join_timeout,
        inputs=artifact_utils.jsonify_artifact_dict(inputs),
        outputs=artifact_utils.jsonify_artifact_dict(outputs),
        exec_properties=json_utils.dumps(props),
    )


def test_job_file_round_trip(tmp_path: Path) -> None:
    inputs, outputs, props = _artifacts(tmp_path)
    job = _job(tmp_path, ["a:1", "b:2"])
    assert job.path.parent == tmp_path / "jobs"
    again = cluster.read_job(job.path / cluster.JOB_FILE)
    assert again == job
    assert again.workers == ("a:1", "b:2")
    restored = artifact_utils.parse_artifact_dict(again.inputs)
    (examples,) = restored["examples"]
    assert examples.uri == inputs["examples"][0].uri
    assert examples.span == 20759
    assert artifact_utils.decode_split_names(examples.split_names) == ["train", "eval"]
    restored_out = artifact_utils.parse_artifact_dict(again.outputs)
    assert {k: [a.uri for a in v] for k, v in restored_out.items()} == {
        k: [a.uri for a in v] for k, v in outputs.items()
    }
    assert type(restored_out["model"][0]) is standard_artifacts.Model
    assert json_utils.loads(again.exec_properties) == props


def test_job_from_other_code_is_refused(tmp_path: Path) -> None:
    job = _job(tmp_path, ["a:1", "b:2"])
    raw = json.loads((job.path / cluster.JOB_FILE).read_text())
    raw["version"] = 99
    (job.path / cluster.JOB_FILE).write_text(json.dumps(raw))
    with pytest.raises(ValueError, match="same code"):
        cluster.read_job(job.path)


def test_each_worker_takes_the_newest_open_job_once(tmp_path: Path) -> None:
    old = _job(tmp_path, ["a:1", "b:2", "c:3"])
    time.sleep(0.01)
    new = _job(tmp_path, ["a:1", "b:2", "c:3"])
    assert cluster.take_newest_job(tmp_path / "jobs", 1) == new
    assert new.taken_by().keys() == {1}
    assert "pid" in new.taken_by()[1]
    assert not new.take(1)
    # Worker 1 already has the newest; the older one is still open.
    assert cluster.take_newest_job(tmp_path / "jobs", 1) == old
    assert cluster.take_newest_job(tmp_path / "jobs", 1) is None
    assert cluster.take_newest_job(tmp_path / "jobs", 2) == new
    # A closed job is not taken, nor anything older.
    new.close()
    assert not new.is_open()
    assert cluster.take_newest_job(tmp_path / "jobs", 2) is None


def test_a_job_past_its_deadline_is_not_taken(tmp_path: Path) -> None:
    job = _job(tmp_path, ["a:1", "b:2"], join_timeout=0.05)
    time.sleep(0.1)
    assert not job.is_open()
    assert cluster.wait_for_job(tmp_path / "jobs", 1, timeout=0.3, poll_seconds=0.1) is None
    assert job.taken_by() == {}


def test_wait_for_job_sees_a_job_written_later(tmp_path: Path) -> None:
    timer = threading.Timer(0.5, lambda: _job(tmp_path, ["a:1", "b:2"]))
    timer.start()
    try:
        job = cluster.wait_for_job(tmp_path / "jobs", 1, timeout=30, poll_seconds=0.1)
    finally:
        timer.join()
    assert job is not None and job.taken_by().keys() == {1}


# --- the Trainer's wiring ------------------------------------------------------------------


def _trainer(config: PipelineConfig):
    from pipeline import pipeline as topology

    (trainer,) = [c for c in topology.create_pipeline(config).components if c.id == "Trainer"]
    return trainer


def test_trainer_uses_the_multi_worker_executor(tmp_path: Path) -> None:
    config = load_config(
        _mw_config(tmp_path, ["127.0.0.1:7001", "127.0.0.1:7002"], join_timeout_seconds=30)
    )
    trainer = _trainer(config)
    assert trainer.executor_spec.executor_class is Executor
    custom = json.loads(trainer.exec_properties["custom_config"])
    assert custom["distribution_strategy"] == "multi_worker_mirrored"
    assert custom[CLUSTER_KEY] == {
        "workers": ["127.0.0.1:7001", "127.0.0.1:7002"],
        "jobs_dir": str(config.outputs.pipeline_root / "distributed_jobs"),
        "join_timeout_seconds": 30.0,
    }


def test_without_workers_the_trainer_config_is_unchanged() -> None:
    # No multi-worker key: single-worker configs keep their Trainer cache key.
    trainer = _trainer(load_config(REPO / "pipeline" / "configs" / "clicks.yaml"))
    assert trainer.executor_spec.executor_class is Executor
    assert CLUSTER_KEY not in json.loads(trainer.exec_properties["custom_config"])


def test_each_strategy_name_builds_its_tf_distribute_class() -> None:
    # A fresh process: a MultiWorkerMirroredStrategy configures the process once.
    code = (
        "import json\n"
        "from components.model.training import distribution_strategy\n"
        "names = ['default', 'mirrored', 'multi_worker_mirrored']\n"
        "built = {n: distribution_strategy(n) for n in names}\n"
        "same = distribution_strategy('multi_worker_mirrored') is built['multi_worker_mirrored']\n"
        "try:\n"
        "    distribution_strategy('tpu')\n"
        "    error = ''\n"
        "except ValueError as err:\n"
        "    error = str(err)\n"
        "print(json.dumps({'classes': {n: type(s).__name__ for n, s in built.items()},\n"
        "    'replicas': built['multi_worker_mirrored'].num_replicas_in_sync,\n"
        "    'same': same, 'error': error}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["classes"] == {
        "default": "_DefaultDistributionStrategy",
        "mirrored": "MirroredStrategy",
        "multi_worker_mirrored": "CollectiveAllReduceStrategy",
    }
    # Without TF_CONFIG: one worker. One strategy per process.
    assert found["replicas"] == 1
    assert found["same"] is True
    assert "unknown distribution strategy 'tpu'" in found["error"]


# --- a worker that never joins --------------------------------------------------------------


def test_chief_fails_clearly_when_workers_never_join(tmp_path: Path) -> None:
    workers = [f"127.0.0.1:{port}" for port in free_ports(3)]
    jobs = tmp_path / "jobs"
    inputs, outputs, props = _artifacts(tmp_path)
    props["custom_config"] = json.dumps(
        {
            "distribution_strategy": "multi_worker_mirrored",
            CLUSTER_KEY: {"workers": workers, "jobs_dir": str(jobs), "join_timeout_seconds": 20},
        }
    )

    # Worker 1 takes the job (as train-worker would) but never connects; worker 2
    # never shows up at all.
    def take_as_worker_1() -> None:
        cluster.wait_for_job(jobs, 1, timeout=20, poll_seconds=0.1)

    taker = threading.Thread(target=take_as_worker_1)
    taker.start()
    started = time.monotonic()
    try:
        with pytest.raises(cluster.WorkerJoinError) as info:
            Executor().Do(inputs, outputs, props)
    finally:
        taker.join()
    elapsed = time.monotonic() - started
    message = str(info.value)
    assert "did not start" in message
    assert f"worker(s) 2 ({workers[2]}) never took the job" in message
    assert f"worker(s) 1 ({workers[1]}) took it but never connected" in message
    assert "python -m pipeline train-worker" in message
    assert message.endswith("nothing was trained")
    assert 20 <= elapsed < 60
    (job_dir,) = jobs.iterdir()
    job = cluster.read_job(job_dir)
    # Closed, so no late worker takes it; the chief's output was kept.
    assert not job.is_open()
    assert job.log_path(0).is_file()
    assert not Path(outputs["model"][0].uri, "Format-Serving").exists()


def test_a_failed_training_process_fails_with_its_error(tmp_path: Path) -> None:
    # A worker running other code than the pipeline: the training process refuses
    # the job; its error, not a traceback, is the message.
    job = _job(tmp_path, [f"127.0.0.1:{port}" for port in free_ports(2)])
    raw = json.loads((job.path / cluster.JOB_FILE).read_text())
    raw["version"] = 99
    (job.path / cluster.JOB_FILE).write_text(json.dumps(raw))
    lines: list[str] = []
    with pytest.raises(cluster.TrainingProcessError) as info:
        cluster.run_task_process(job, 1, join_timeout=120, echo=lines.append)
    message = str(info.value)
    assert "failed in worker 1's process (exit code 1): ValueError: job" in message
    assert "has version 99" in message
    assert f"its full output is in {job.log_path(1)}" in message
    assert "Traceback (most recent call last):" in job.log_path(1).read_text()
    assert any("has version 99" in line for line in lines)


def test_trainer_with_a_non_chief_tf_config_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # TF_CONFIG from the environment (no training.workers): the pipeline's Trainer
    # must be the task that writes the model.
    monkeypatch.setenv("TF_CONFIG", json.dumps(cluster.tf_config(["a:1", "b:2"], 1)))
    inputs, outputs, props = _artifacts(tmp_path)
    with pytest.raises(ValueError, match="not the chief: the pipeline's Trainer writes the model"):
        Executor().Do(inputs, outputs, props)


def test_join_failure_message_from_a_worker(tmp_path: Path) -> None:
    job = _job(tmp_path, ["h0:1", "h1:2"])
    message = cluster._join_failure(job, 1, 61.0)
    assert "Worker 1 (h1:2) could not join" in message
    assert "the chief (worker 0, h0:1)" in message
    assert "61 s" in message


# --- a worker lost mid-training ------------------------------------------------------------


def test_peer_watch_finds_workers_that_stopped_answering(tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    (closed,) = free_ports(1)
    job = _job(tmp_path, ["127.0.0.1:1", f"127.0.0.1:{port}", f"127.0.0.1:{closed}"])
    watch = cluster.PeerWatch(job)
    # Worker 1's port accepts; worker 2's refuses, so it is silent from now on and
    # lost once it has been silent for the limit.
    assert watch.lost_for(0.5) == {}
    time.sleep(0.6)
    assert watch.lost_for(0.5).keys() == {2}
    listener.close()
    assert watch.lost_for(0.0).keys() == {1, 2}
    assert watch.lost_for(30.0) == {}
    # A worker whose training process exited cleanly closed its port on purpose.
    (job.path / f"{cluster.FINISHED_PREFIX}2").write_text("done\n", encoding="utf-8")
    assert watch.lost_for(0.0).keys() == {1}


def test_lost_worker_message_names_the_worker_and_the_timeout(tmp_path: Path) -> None:
    job = _job(tmp_path, ["10.231.0.1:2222", "10.231.0.2:2222", "10.231.0.3:2222"])
    message = cluster._lost_failure(job, {2: 121.4}, 120.0, job.log_path(0))
    assert message.startswith(
        "Multi-worker training failed: worker(s) 2 (10.231.0.3:2222) stopped answering "
        "mid-training (no connection to their host:port for 121 s; the limit is "
        "training.join_timeout_seconds = 120 s), so the chief (worker 0, 10.231.0.1:2222)"
    )
    assert f"the chief's output is in {job.log_path(0)}" in message
    assert "\n" not in message
    assert issubclass(cluster.WorkerLostError, cluster.TrainingProcessError)


# --- python -m pipeline train-worker: errors ------------------------------------------------


def test_train_worker_needs_multi_worker_config(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["train-worker", "--index", "1"])
    assert code == 2
    err = capsys.readouterr().err
    assert "does not configure multi-worker training" in err
    assert "training.workers" in err


@pytest.mark.parametrize("index", [0, 2, -1])
def test_train_worker_index_must_be_a_non_chief_worker(
    tmp_path: Path, index: int, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _mw_config(tmp_path, ["127.0.0.1:7001", "127.0.0.1:7002"])
    assert cli.main(["train-worker", "--config", str(path), f"--index={index}"]) == 2
    err = capsys.readouterr().err
    assert f"--index {index}" in err and "use 1..1" in err


def test_train_worker_gives_up_after_timeout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PIPELINE_OUTPUT_ROOT", raising=False)
    path = _mw_config(tmp_path, ["127.0.0.1:7001", "127.0.0.1:7002"])
    assert (
        cli.main(["train-worker", "--config", str(path), "--index", "1", "--timeout", "0.5"]) == 1
    )
    captured = capsys.readouterr()
    jobs = tmp_path / "out" / "pipelines" / "clicks" / "distributed_jobs"
    assert (
        f"Worker 1 of 2 (127.0.0.1:7002): waiting up to 0 s for a training job in {jobs}"
        in captured.out
    )
    assert f"no open training job appeared in {jobs} within 0 s" in captured.err


def test_train_worker_refuses_a_job_for_other_workers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PIPELINE_OUTPUT_ROOT", raising=False)
    path = _mw_config(tmp_path, ["127.0.0.1:7001", "127.0.0.1:7002"])
    config = load_config(path)
    inputs, outputs, props = _artifacts(tmp_path)
    cluster.write_job(
        cluster.jobs_dir(config.outputs.pipeline_root),
        workers=["127.0.0.1:7001", "127.0.0.1:9999"],
        join_timeout=60,
        inputs=artifact_utils.jsonify_artifact_dict(inputs),
        outputs=artifact_utils.jsonify_artifact_dict(outputs),
        exec_properties=json_utils.dumps(props),
    )
    assert cli.main(["train-worker", "--config", str(path), "--index", "1", "--timeout", "5"]) == 2
    err = capsys.readouterr().err
    assert "is for workers ['127.0.0.1:7001', '127.0.0.1:9999']" in err
    assert "run every worker with the pipeline's config" in err


def test_config_error_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _mw_config(tmp_path, ["127.0.0.1:7001"])
    assert cli.main(["train-worker", "--config", str(path), "--index", "1"]) == 2
    assert "at least 2" in capsys.readouterr().err
    with pytest.raises(ConfigError):
        load_config(path)
