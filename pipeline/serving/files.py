"""TF Serving's monitoring and batching config files, parsed into TF Serving's own protos.

``deploy/serving/monitoring.config`` (``--monitoring_config_file``) and
``deploy/serving/batching.config`` (``--batching_parameters_file``) are text-format
protos the model server parses at start-up, and a typo there stops it. There is no
TF Serving binary here, so :func:`check_serving_files` parses them with protobuf's
``text_format`` into the same messages (``tensorflow.serving.MonitoringConfig`` and
``BatchingParameters``, :mod:`pipeline.serving.protos`) and checks the values the
server would reject or that would defeat their purpose (Prometheus off, a batch
size the allowed sizes do not end with). ``python -m pipeline.devtools.deploy_check``
runs it.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TypeVar

from google.protobuf import message, text_format

from pipeline.serving.protos import monitoring_config_pb2, session_bundle_config_pb2

# deploy/serving/ of this repository (a source checkout; the wheel does not ship deploy/).
SERVING_CONFIG_DIR = Path(__file__).resolve().parents[2] / "deploy" / "serving"
MONITORING_FILE = "monitoring.config"
BATCHING_FILE = "batching.config"
# Where TF Serving exposes Prometheus metrics (on its REST port); Prometheus scrapes it.
PROMETHEUS_PATH = "/monitoring/prometheus/metrics"

Message = TypeVar("Message", bound=message.Message)


class ServingFileError(ValueError):
    """A TF Serving config file does not parse or holds a value the server would refuse."""


@dataclasses.dataclass(frozen=True)
class ServingFiles:
    """The parsed files.

    Attributes:
        monitoring: ``monitoring.config``.
        batching: ``batching.config``.
    """

    monitoring: monitoring_config_pb2.MonitoringConfig
    batching: session_bundle_config_pb2.BatchingParameters


def parse_text_proto(path: str | os.PathLike[str], proto: Message) -> Message:
    """Parses a text-format proto file into ``proto`` (the way TF Serving reads its flags' files).

    Args:
        path: The file.
        proto: An empty message of the file's type; filled in and returned.

    Returns:
        ``proto``.

    Raises:
        ServingFileError: Naming the file, the message type and the parser's line and
            column, if the file is missing or does not parse.
    """
    name = proto.DESCRIPTOR.full_name
    try:
        text = Path(path).read_text(encoding="utf-8")
        text_format.Parse(text, proto)
    except (OSError, UnicodeDecodeError, text_format.ParseError) as err:
        raise ServingFileError(
            f"TF Serving config {path} is not a text-format {name}: {err}. TF Serving would "
            'refuse to start with it; fix the file (see docs/serving.md, "TF Serving '
            'configuration files").'
        ) from err
    return proto


def load_monitoring_config(path: str | os.PathLike[str]) -> monitoring_config_pb2.MonitoringConfig:
    """Parses ``monitoring.config`` and checks that it exposes Prometheus metrics.

    Args:
        path: The file.

    Returns:
        The config.

    Raises:
        ServingFileError: If it does not parse, or Prometheus is off, or its path is not
            :data:`PROMETHEUS_PATH` (what deploy/prometheus/prometheus.yml scrapes).
    """
    config = parse_text_proto(path, monitoring_config_pb2.MonitoringConfig())
    prometheus = config.prometheus_config
    if not prometheus.enable:
        raise ServingFileError(
            f"TF Serving config {path}: prometheus_config.enable is not true, so TF Serving "
            "exposes no metrics and the serving alerts (error rate, P99 latency) never fire"
        )
    if prometheus.path != PROMETHEUS_PATH:
        raise ServingFileError(
            f"TF Serving config {path}: prometheus_config.path is {prometheus.path!r}, but "
            f"Prometheus scrapes {PROMETHEUS_PATH!r} (deploy/prometheus/prometheus.yml); "
            "change both together"
        )
    return config


def load_batching_parameters(
    path: str | os.PathLike[str],
) -> session_bundle_config_pb2.BatchingParameters:
    """Parses ``batching.config`` and checks the values TF Serving requires.

    Args:
        path: The file.

    Returns:
        The parameters.

    Raises:
        ServingFileError: If it does not parse, leaves ``max_batch_size`` or
            ``num_batch_threads`` unset or below 1, has a negative timeout or queue,
            or ``allowed_batch_sizes`` not increasing or not ending at ``max_batch_size``.
    """
    batching = parse_text_proto(path, session_bundle_config_pb2.BatchingParameters())
    problems = []
    for field in ("max_batch_size", "num_batch_threads"):
        if not batching.HasField(field) or getattr(batching, field).value < 1:
            problems.append(f"{field} must be set to at least 1")
    for field in ("batch_timeout_micros", "max_enqueued_batches"):
        if batching.HasField(field) and getattr(batching, field).value < 0:
            problems.append(f"{field} must not be negative")
    sizes = list(batching.allowed_batch_sizes)
    if sizes and (sizes != sorted(set(sizes)) or sizes[-1] != batching.max_batch_size.value):
        problems.append(
            f"allowed_batch_sizes {sizes} must increase and end with max_batch_size "
            f"{batching.max_batch_size.value}"
        )
    if problems:
        raise ServingFileError(f"TF Serving config {path}: {'; '.join(problems)}")
    return batching


def check_serving_files(directory: str | os.PathLike[str] = SERVING_CONFIG_DIR) -> ServingFiles:
    """Parses and checks ``monitoring.config`` and ``batching.config`` of a directory.

    Args:
        directory: The folder holding both files (default: this repository's
            ``deploy/serving``).

    Returns:
        Both parsed files.

    Raises:
        ServingFileError: On the first file that is missing, does not parse or is wrong.
    """
    folder = Path(directory)
    return ServingFiles(
        monitoring=load_monitoring_config(folder / MONITORING_FILE),
        batching=load_batching_parameters(folder / BATCHING_FILE),
    )
