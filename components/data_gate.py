"""A blocking data gate: ExampleValidator's anomalies stop the run before training.

TFX 1.16's ExampleValidator only records anomalies; nothing downstream reads them,
so a broken day would still train and push a model (tensorflow/tfx-addons#153).
This component reads the newest span's anomalies and fails, with a short report,
when any anomaly kind outside the config's ``warn_only`` list is present. Transform
runs after it, so a failed gate means nothing is trained, evaluated or pushed, and
the model being served is untouched; the anomalies stay in ML Metadata.
"""

# No `from __future__ import annotations`: TFX reads the component signature at runtime.

import dataclasses
import os
from typing import Iterable, Mapping

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import types
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils
from tfx.v1.dsl.components import InputArtifact, OutputArtifact, Parameter, component

ANOMALIES_FILE = "SchemaDiff.pb"  # what ExampleValidator writes per split
REPORT_FILE = "data_gate_report.txt"


class DataGateReport(types.Artifact):
    """The gate's verdict on one span: the report text, with ``passed`` 0 or 1."""

    TYPE_NAME = "DataGateReport"


class DataGateError(RuntimeError):
    """Blocking anomalies were found; the message is the one-paragraph report."""


@dataclasses.dataclass(frozen=True)
class Finding:
    """One anomaly on one feature.

    Attributes:
        split: The split(s) it was found in, comma-separated.
        feature: The feature (column) name.
        kinds: The anomaly type names (``anomalies_pb2.AnomalyInfo.Type``).
        description: TFDV's description, with sample values where it gives them.
        blocking: Whether the policy blocks on it.
    """

    split: str
    feature: str
    kinds: tuple[str, ...]
    description: str
    blocking: bool

    def line(self) -> str:
        """Renders the finding as one report line."""
        return f"{self.feature}: {', '.join(self.kinds)} - {self.description} [{self.split}]"


def findings(
    anomalies_by_split: Mapping[str, anomalies_pb2.Anomalies], warn_only: Iterable[str]
) -> list[Finding]:
    """Classifies every anomaly as blocking or warning under the policy.

    Args:
        anomalies_by_split: ExampleValidator's result per split.
        warn_only: Anomaly type names that are reported but do not block.

    Returns:
        Findings sorted by feature, blocking first; the same anomaly in several
        splits of the span is one finding.
    """
    tolerated = set(warn_only)
    result = []
    # "train" first, so a merged finding quotes the training split's sample values.
    for split, anomalies in sorted(anomalies_by_split.items(), key=lambda kv: kv[0] != "train"):
        for feature, info in sorted(anomalies.anomaly_info.items()):
            kinds = tuple(
                sorted({anomalies_pb2.AnomalyInfo.Type.Name(r.type) for r in info.reason})
            ) or (anomalies_pb2.AnomalyInfo.Type.Name(anomalies_pb2.AnomalyInfo.UNKNOWN_TYPE),)
            result.append(
                Finding(
                    split=split,
                    feature=feature,
                    kinds=kinds,
                    description=info.description or info.short_description,
                    blocking=not set(kinds) <= tolerated,
                )
            )
        if anomalies.HasField("dataset_anomaly_info"):
            info = anomalies.dataset_anomaly_info
            kinds = tuple(sorted({anomalies_pb2.AnomalyInfo.Type.Name(r.type) for r in info.reason}))
            result.append(
                Finding(split, "(dataset)", kinds, info.description, not set(kinds) <= tolerated)
            )
    merged: dict[tuple[str, tuple[str, ...]], Finding] = {}
    for finding in result:
        key = (finding.feature, finding.kinds)
        if key in merged:
            merged[key] = dataclasses.replace(
                merged[key], split=f"{merged[key].split}, {finding.split}"
            )
        else:
            merged[key] = finding
    return sorted(merged.values(), key=lambda f: (not f.blocking, f.feature))


def report(span: int | None, found: list[Finding]) -> str:
    """Renders the gate's report: a headline, then one line per finding.

    Args:
        span: The span validated.
        found: The findings.

    Returns:
        The report text.
    """
    blocking = [f for f in found if f.blocking]
    head = (
        f"Data gate: span {span} has {len(blocking)} blocking anomal"
        f"{'y' if len(blocking) == 1 else 'ies'} against the curated schema; nothing was "
        "trained or pushed from it and the served model is unchanged."
        if blocking
        else f"Data gate: span {span} passed ({len(found)} warning(s))."
    )
    lines = [head] + [f"  {'BLOCK' if f.blocking else 'warn '} {f.line()}" for f in found]
    return "\n".join(lines)


def _span(artifact: types.Artifact) -> int | None:
    # TFX 1.16 records span as a custom property on some artifact types and as a
    # declared property on others.
    if artifact.has_custom_property("span"):
        return artifact.get_int_custom_property("span")
    return getattr(artifact, "span", None)


def _load(anomalies: types.Artifact) -> dict[str, anomalies_pb2.Anomalies]:
    result = {}
    for split in artifact_utils.decode_split_names(anomalies.split_names):
        path = os.path.join(anomalies.uri, f"Split-{split}", ANOMALIES_FILE)
        parsed = anomalies_pb2.Anomalies()
        parsed.ParseFromString(io_utils.read_bytes_file(path))
        result[split] = parsed
    return result


@component
def DataGate(  # noqa: N802 - TFX component classes are CamelCase
    anomalies: InputArtifact[standard_artifacts.ExampleAnomalies],
    examples: InputArtifact[standard_artifacts.Examples],
    report_artifact: OutputArtifact[DataGateReport],
    warn_only: Parameter[str] = "",
) -> None:
    """Fails the run when the newest span has blocking anomalies.

    Args:
        anomalies: ExampleValidator's output for the newest span.
        examples: That span's Examples (they carry the span number; the anomalies
            artifact does not).
        report_artifact: Where the report is written (``data_gate_report.txt``).
        warn_only: Comma-separated anomaly type names that only warn.

    Raises:
        DataGateError: With the report, if any anomaly blocks.
    """
    span = _span(examples)
    found = findings(_load(anomalies), [k for k in warn_only.split(",") if k])
    text = report(span, found)
    io_utils.write_string_file(os.path.join(report_artifact.uri, REPORT_FILE), text)
    blocking = [f for f in found if f.blocking]
    report_artifact.set_int_custom_property("passed", 0 if blocking else 1)
    if blocking:
        raise DataGateError(text.replace("\n  ", " | "))
