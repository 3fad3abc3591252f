"""Predictions for CSV rows: from TF Serving over REST or gRPC, or from a local SavedModel.

``python -m pipeline predict`` (:mod:`pipeline.cli.serving`) reads rows of a CSV file
with the pipeline's header and delimiter, types them by the model's raw inputs, and
asks one of three predictors for the chosen signature (``serving_default``: the rows
as serialized ``tf.Example``; ``serving_raw``: one tensor per raw feature). The
requests are built by :mod:`components.model.serving_requests`, the module that
also builds each version's warm-up requests:

- :class:`RestPredictor`: ``POST /v1/models/<model>[/labels/<label>|/versions/<v>]:predict``
  with a row-format JSON body (``requests``);
- :class:`GrpcPredictor`: ``tensorflow.serving.PredictionService/Predict`` with a
  ``PredictRequest`` whose ``model_spec`` names the label or version (``grpcio``);
- :class:`LocalPredictor`: the SavedModel of a version in the serving directory,
  called in-process (no server).

A remote server has no SavedModel here to read the inputs' types from, so REST and
gRPC type the rows by the config's curated schema, which the model was trained with.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from pipeline.config import PipelineConfig

DEFAULT_TIMEOUT_SECONDS = 30.0


class PredictError(RuntimeError):
    """The rows could not be read or sent, or the server refused the request."""


@dataclasses.dataclass(frozen=True)
class Predictions:
    """What a predictor answered.

    Attributes:
        target: Where the predictions came from (a URL, a gRPC target, a directory).
        signature: The signature asked.
        values: ``[rows, outputs]`` (one probability per row for a binary model).
    """

    target: str
    signature: str
    values: np.ndarray

    def to_json(self) -> str:
        """The predictions as JSON (``target``, ``signature``, ``predictions``).

        Returns:
            One JSON object; ``predictions`` has one list per row.
        """
        return json.dumps(
            {
                "target": self.target,
                "signature": self.signature,
                "predictions": self.values.tolist(),
            }
        )

    def lines(self) -> list[str]:
        """One line per row: its output value(s), space-separated.

        Returns:
            The lines, in row order.
        """
        return [" ".join(f"{value:.6f}" for value in row) for row in self.values]


class Predictor(Protocol):
    """Something that answers predictions for typed rows."""

    def predict(self, rows: Sequence[dict[str, Any]], signature: str) -> Predictions:
        """Predicts the rows with the signature."""
        ...


def read_csv_rows(
    path: str | Path, delimiter: str = ",", limit: int | None = None
) -> list[dict[str, str]]:
    """Reads rows of a CSV file the way the pipeline ingests it (header, delimiter, BOM, gzip).

    Args:
        path: The file (``*.csv`` or ``*.csv.gz``).
        delimiter: The field separator (the config's ``data.delimiter``).
        limit: Read at most this many rows; None for all.

    Returns:
        Column -> cell text per row (empty text for an empty cell).

    Raises:
        PredictError: If the file is missing, empty, not UTF-8, or separated by
            another delimiter.
    """
    from components import example_gen

    if not Path(path).is_file():
        raise PredictError(f"CSV file {path} does not exist")
    lines: list[str] = []
    with example_gen.open_csv(str(path)) as handle:
        while limit is None or len(lines) <= limit:
            raw = handle.readline()
            if not raw:
                break
            try:
                lines.append(raw.decode(example_gen.HEADER_ENCODING if not lines else "utf-8"))
            except UnicodeDecodeError as err:
                raise PredictError(f"{path}: line {len(lines) + 1} is not UTF-8 ({err})") from err
    reader = csv.DictReader(io.StringIO("".join(lines)), delimiter=delimiter)
    header = reader.fieldnames or []
    problem = example_gen.delimiter_problem(str(path), list(header), delimiter)
    if problem:
        raise PredictError(problem)
    rows = [dict(row) for row in reader]
    if not rows:
        raise PredictError(f"CSV file {path} has no data rows under its header")
    return rows[:limit] if limit is not None else rows


def _as_matrix(values: Any) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    return array.reshape(len(array), -1)


class LocalPredictor:
    """Calls a SavedModel's signatures in-process (no server)."""

    def __init__(self, saved_model_dir: str | Path) -> None:
        """Loads the SavedModel.

        Args:
            saved_model_dir: A version directory of the serving directory.
        """
        import tensorflow as tf

        from components.model import serving_requests

        self.saved_model_dir = str(saved_model_dir)
        self.inputs = serving_requests.signature_inputs(self.saved_model_dir)
        self._model = tf.saved_model.load(self.saved_model_dir)

    def predict(self, rows: Sequence[dict[str, Any]], signature: str) -> Predictions:
        """Types the rows, builds the signature's inputs and calls it.

        Args:
            rows: Column -> value (CSV text is typed by the model's inputs).
            signature: ``serving_default`` or ``serving_raw``.

        Returns:
            The predictions.
        """
        import tensorflow as tf

        from components.model import serving_requests

        typed = serving_requests.typed_rows(rows, self.inputs)
        arrays = serving_requests.input_arrays(typed, self.inputs, signature)
        function = self._model.signatures[signature]
        outputs = function(**{name: tf.constant(value) for name, value in arrays.items()})
        (value,) = outputs.values()  # one output, named after the task
        return Predictions(self.saved_model_dir, signature, _as_matrix(value.numpy()))


@dataclasses.dataclass(frozen=True)
class Remote:
    """A TF Serving model to ask.

    Attributes:
        host: ``host:port`` (REST 8501, gRPC 8500); ``http(s)://`` is kept for REST.
        model_name: TF Serving's model name (the config's ``model_name``).
        version: A version number, or None.
        label: A version label (``stable``, ``canary``), used when ``version`` is None;
            None for the server's default (its newest loaded version).
        inputs: Raw feature -> dtype (:func:`components.model.serving_requests.schema_inputs`).
        timeout: Seconds before a request is abandoned.
    """

    host: str
    model_name: str
    version: int | None
    label: str | None
    inputs: dict[str, Any]
    timeout: float = DEFAULT_TIMEOUT_SECONDS


class RestPredictor:
    """TF Serving's REST API: ``POST .../v1/models/<model>...:predict`` (row format)."""

    def __init__(self, remote: Remote) -> None:
        """Keeps the target.

        Args:
            remote: The model to ask.
        """
        from components.model import serving_requests

        self.remote = remote
        base = remote.host if "://" in remote.host else f"http://{remote.host}"
        label = None if remote.version is not None else remote.label
        self.url = base.rstrip("/") + serving_requests.rest_path(
            remote.model_name, remote.version, label
        )

    def predict(self, rows: Sequence[dict[str, Any]], signature: str) -> Predictions:
        """Sends the rows as one JSON body and reads ``predictions`` back.

        Args:
            rows: Column -> value.
            signature: ``serving_default`` or ``serving_raw``.

        Returns:
            The predictions.

        Raises:
            PredictError: If the server cannot be reached or answers an error.
        """
        import requests

        from components.model import serving_requests

        typed = serving_requests.typed_rows(rows, self.remote.inputs)
        body = serving_requests.rest_body(typed, self.remote.inputs, signature)
        try:
            response = requests.post(self.url, json=body, timeout=self.remote.timeout)
        except requests.RequestException as err:
            raise PredictError(f"TF Serving REST {self.url} could not be reached: {err}") from err
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if response.status_code != 200 or "predictions" not in answer:
            detail = answer.get("error") if isinstance(answer, dict) else None
            raise PredictError(
                f"TF Serving REST {self.url} answered {response.status_code}: "
                f"{detail or response.text[:500]}"
            )
        return Predictions(self.url, signature, _as_matrix(answer["predictions"]))


class GrpcPredictor:
    """TF Serving's gRPC API: ``PredictionService.Predict`` with a ``PredictRequest``."""

    def __init__(self, remote: Remote) -> None:
        """Keeps the target.

        Args:
            remote: The model to ask.
        """
        self.remote = remote

    def predict(self, rows: Sequence[dict[str, Any]], signature: str) -> Predictions:
        """Sends the rows as one ``PredictRequest`` and reads its one output back.

        Args:
            rows: Column -> value.
            signature: ``serving_default`` or ``serving_raw``.

        Returns:
            The predictions.

        Raises:
            PredictError: If the call fails (unreachable, unknown model or label ...).
        """
        import grpc
        import tensorflow as tf
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        from components.model import serving_requests

        remote = self.remote
        typed = serving_requests.typed_rows(rows, remote.inputs)
        request = serving_requests.predict_request(
            typed,
            remote.inputs,
            signature,
            model_name=remote.model_name,
            version=remote.version,
            label=None if remote.version is not None else remote.label,
        )
        target = f"grpc://{remote.host}/{remote.model_name}"
        try:
            # An insecure channel: TF Serving's gRPC port is plain unless given SSL flags.
            with grpc.insecure_channel(remote.host) as channel:
                stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
                response = stub.Predict(request, timeout=remote.timeout)
        except grpc.RpcError as err:
            raise PredictError(
                f"TF Serving gRPC {target} failed: {err.code().name}: {err.details()}"
            ) from err
        if len(response.outputs) != 1:
            raise PredictError(
                f"TF Serving gRPC {target} answered outputs {sorted(response.outputs)}; "
                "the model's signatures have one"
            )
        (tensor,) = response.outputs.values()
        return Predictions(target, signature, _as_matrix(tf.make_ndarray(tensor)))


def local_version_dir(config: PipelineConfig, version: int | None, label: str | None) -> Path:
    """The version directory a local prediction uses.

    ``version`` if given; else the version ``label`` holds in TF Serving's model config
    (``<serving_dir>/models.config``); without that file (or that label) the newest
    version directory, which is what TF Serving serves without a model config.

    Args:
        config: The pipeline config (serving directory and model name).
        version: A version number, or None.
        label: A version label, or None.

    Returns:
        The SavedModel directory.

    Raises:
        PredictError: If the version does not exist, or nothing was pushed.
    """
    from components import serving_config
    from pipeline.ops.lineage import version_dirs

    versions = version_dirs(config)
    if version is None and label:
        labels = serving_config.labels(config.outputs.serving_dir, config.model_name) or {}
        if label in labels:
            version = int(labels[label])
        elif labels:
            raise PredictError(
                f"{serving_config.config_path(config.outputs.serving_dir)} gives model "
                f"{config.model_name!r} no {label!r} label (it has {labels})"
            )
    if version is None:
        if not versions:
            raise PredictError(
                f"{config.push_dir} has no model version: run the pipeline to push one"
            )
        return config.push_dir / versions[-1]
    if str(version) not in versions:
        raise PredictError(
            f"version {version} is not in {config.push_dir} (versions: {', '.join(versions)})"
        )
    return config.push_dir / str(version)
