"""Drift and skew distances as TFDV measures them, shared by the gate and the ops views.

TFDV records each measured distance in ``Anomalies.drift_skew_info``. The DataGate
turns them into findings and writes them to ``DriftSkew.pbtxt``; the HTML report and
the Prometheus collector read that file back. This module only needs
``tensorflow_metadata``'s protos, so the ops views can read distances without loading
TFDV (12-16 s cold).
"""

from __future__ import annotations

import dataclasses
import os

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import anomalies_pb2

MEASURE_NAMES = {
    anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE: "Jensen-Shannon divergence",
    anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY: "L-infinity distance",
}


@dataclasses.dataclass(frozen=True)
class Distance:
    """One feature's measured distance between two datasets and its limit.

    Attributes:
        comparison: ``drift`` (previous span) or ``skew`` (serving data).
        feature: The feature path, dot-joined.
        measure: Human-readable measure name (``Jensen-Shannon divergence``, ...).
        value: The distance TFDV measured.
        threshold: The configured limit.
    """

    comparison: str
    feature: str
    measure: str
    value: float
    threshold: float

    @property
    def exceeded(self) -> bool:
        """Whether the distance is over its limit (what the gate blocks on)."""
        return self.value > self.threshold

    def line(self, subject: str | None = None) -> str:
        """Renders the distance as one report line.

        Args:
            subject: How to name the feature (``label 'clicked'``); default its name.

        Returns:
            ``feature: comparison measure value <=|> threshold limit``.
        """
        relation = ">" if self.exceeded else "<="
        return (
            f"{subject or self.feature}: {self.comparison} {self.measure} {self.value:.4f} "
            f"{relation} threshold {self.threshold:.4f}"
        )


def from_anomalies(anomalies: anomalies_pb2.Anomalies) -> list[Distance]:
    """Lists every drift and skew distance TFDV recorded in a validation result.

    Args:
        anomalies: ``tfdv.validate_statistics``' result (or its stored copy).

    Returns:
        The distances, sorted by comparison, feature and measure.
    """
    found = []
    for info in anomalies.drift_skew_info:
        feature = ".".join(info.path.step)
        for comparison, measurements in (
            ("drift", info.drift_measurements),
            ("skew", info.skew_measurements),
        ):
            for measurement in measurements:
                found.append(
                    Distance(
                        comparison,
                        feature,
                        MEASURE_NAMES.get(measurement.type, "distance"),
                        measurement.value,
                        measurement.threshold,
                    )
                )
    return sorted(found, key=lambda d: (d.comparison, d.feature, d.measure))


def read(path: str | os.PathLike[str]) -> list[Distance] | None:
    """Reads the distances the DataGate stored as an ``Anomalies`` text proto.

    Args:
        path: A ``DriftSkew.pbtxt``.

    Returns:
        The distances (see :func:`from_anomalies`), or None if the file is missing.
    """
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return from_anomalies(text_format.Parse(handle.read(), anomalies_pb2.Anomalies()))
