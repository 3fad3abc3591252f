"""A blocking data gate: anomalies, drift and skew stop the run before training.

TFX 1.16's ExampleValidator only records anomalies; nothing downstream reads them,
so a broken day would still train and push a model (tensorflow/tfx-addons#153), and
it never compares a span with the previous one or with serving data. This component
reads the newest span's anomalies, has TFDV measure drift (against the previous span
that passed) and skew (against serving-time data) with the limits of the config,
guards the label (its distribution against the previous passing span's, and at least
two classes in the eval split of a classification task), and fails with a short
report when anything outside the config's ``warn_only`` list is found. Transform
runs after it, so a failed gate means nothing is trained, evaluated or pushed, and
the model being served is untouched; the anomalies stay in ML Metadata and the
report is written either way.
"""

# No `from __future__ import annotations`: TFX reads the component signature at runtime.

import dataclasses
import json
import os
from collections.abc import Iterable, Mapping, Sequence

import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2
from tfx import types
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils

from components import resolvers
from components.distances import Distance, from_anomalies
from components.label_guard import label_comparable, label_subject, single_class

ANOMALIES_FILE = "SchemaDiff.pb"  # what ExampleValidator writes per split
STATISTICS_FILE = "FeatureStats.pb"  # what StatisticsGen writes per split
REPORT_FILE = "data_gate_report.txt"
DISTANCES_FILE = "DriftSkew.pbtxt"  # TFDV's drift/skew Anomalies, measurements included
# The split compared for drift and skew: the bulk of each span.
COMPARED_SPLIT = "train"
# The split the Evaluator judges a model on: it needs two label classes or more.
EVAL_SPLIT = "eval"

NO_DATA = anomalies_pb2.AnomalyInfo.Type.Name(anomalies_pb2.AnomalyInfo.NO_DATA_IN_SPAN)
# TFDV's type for "fewer unique values than the schema's unique_constraints allow": a
# one-class eval split is that for the label, and warn_only can name it.
SINGLE_CLASS = anomalies_pb2.AnomalyInfo.Type.Name(
    anomalies_pb2.AnomalyInfo.FEATURE_TYPE_LOW_UNIQUE
)
_MEASURE_KINDS = {
    "jensen_shannon": anomalies_pb2.AnomalyInfo.Type.Name(
        anomalies_pb2.AnomalyInfo.COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH
    ),
    "l_infinity": anomalies_pb2.AnomalyInfo.Type.Name(
        anomalies_pb2.AnomalyInfo.COMPARATOR_L_INFTY_HIGH
    ),
}


class DataGateReport(types.Artifact):
    """The gate's verdict on one span: the report text, with ``passed`` 0 or 1."""

    TYPE_NAME = "DataGateReport"


class DataGateError(RuntimeError):
    """Something blocks; the message is one paragraph, ``report`` the full report.

    TFX deletes a failed execution's output directory, so the full report (every
    finding, every distance and threshold) travels with the error to the runner,
    which writes it to the run's report file, and the blocking features to the
    failed execution in ML Metadata (``pipeline.run.launch.record_gate_rejection``).

    Attributes:
        report: The full multi-line report.
        blocking: Feature -> the blocking anomaly types on it, comma-joined.
        distances: Every distance measured (the dashboard's drift heat map shows a
            stopped day's too).
    """

    def __init__(
        self,
        paragraph: str,
        report: str,
        blocking: dict[str, str] | None = None,
        distances: Sequence[Distance] = (),
    ) -> None:
        super().__init__(paragraph)
        self.report = report
        self.blocking = dict(blocking or {})
        self.distances = tuple(distances)


def find_gate_error(error: BaseException) -> DataGateError | None:
    """The DataGateError behind ``error``, following causes and contexts.

    Args:
        error: What a run or a launch raised (TFX or Airflow may wrap it).

    Returns:
        The gate's error, or None if the gate did not stop the run.
    """
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, DataGateError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


@dataclasses.dataclass(frozen=True)
class Finding:
    """One anomaly on one feature.

    Attributes:
        split: The split(s) it was found in, comma-separated.
        feature: The feature (column) name.
        kinds: The anomaly type names (``anomalies_pb2.AnomalyInfo.Type``).
        description: TFDV's description, with sample values where it gives them.
        blocking: Whether the policy blocks on it.
        label: Whether the feature is the label (the report says ``label 'name'``).
    """

    split: str
    feature: str
    kinds: tuple[str, ...]
    description: str
    blocking: bool
    label: bool = False

    def line(self) -> str:
        """Renders the finding as one report line."""
        subject = label_subject(self.feature) if self.label else self.feature
        return f"{subject}: {', '.join(self.kinds)} - {self.description} [{self.split}]"


def findings(
    anomalies_by_split: Mapping[str, anomalies_pb2.Anomalies],
    warn_only: Iterable[str],
    label: str = "",
) -> list[Finding]:
    """Classifies every anomaly as blocking or warning under the policy.

    Args:
        anomalies_by_split: ExampleValidator's result per split.
        warn_only: Anomaly type names that are reported but do not block.
        label: The label column, named as the label in the findings.

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
                    label=bool(label) and feature == label,
                )
            )
        if anomalies.data_missing:
            # TFDV skips every feature check on an empty dataset (and reports no
            # anomaly at all), so an empty file or a header-only day must be caught here.
            result.append(
                Finding(
                    split,
                    "(dataset)",
                    (NO_DATA,),
                    "the split has no examples (an empty file, or a header and no rows)",
                    NO_DATA not in tolerated,
                )
            )
        if anomalies.HasField("dataset_anomaly_info"):
            info = anomalies.dataset_anomaly_info
            kinds = tuple(
                sorted({anomalies_pb2.AnomalyInfo.Type.Name(r.type) for r in info.reason})
            )
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


def comparator_schema(
    schema: schema_pb2.Schema,
    drift: Mapping[str, tuple[str, float]],
    skew: Mapping[str, tuple[str, float]],
) -> schema_pb2.Schema:
    """Copies the schema with drift and skew comparators set from the config.

    The config is the single source of these limits: comparators already in the
    curated schema are cleared.

    Args:
        schema: The curated schema.
        drift: Feature -> (``jensen_shannon`` or ``l_infinity``, limit) for drift.
        skew: The same for skew.

    Returns:
        The schema TFDV validates with.

    Raises:
        ValueError: If a limit names a feature the schema does not have.
    """
    result = schema_pb2.Schema()
    result.CopyFrom(schema)
    features = {feature.name: feature for feature in result.feature}
    missing = sorted((set(drift) | set(skew)) - set(features))
    if missing:
        raise ValueError(f"drift/skew limits name features not in the schema: {missing}")
    for feature in result.feature:
        feature.ClearField("drift_comparator")
        feature.ClearField("skew_comparator")
    for limits, field in ((drift, "drift_comparator"), (skew, "skew_comparator")):
        for name, (kind, threshold) in limits.items():
            comparator = getattr(features[name], field)
            if kind == "jensen_shannon":
                comparator.jensen_shannon_divergence.threshold = threshold
            else:
                comparator.infinity_norm.threshold = threshold
    return result


def measure_distances(
    statistics: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
    previous: statistics_pb2.DatasetFeatureStatisticsList | None,
    serving: statistics_pb2.DatasetFeatureStatisticsList | None,
) -> tuple[anomalies_pb2.Anomalies, list[Distance]]:
    """Has TFDV measure drift and skew for the features with comparators.

    Args:
        statistics: The newest span's statistics.
        schema: A schema from :func:`comparator_schema`.
        previous: The previous passing span's statistics (drift), if any.
        serving: Serving-time statistics (skew), if any.

    Returns:
        TFDV's result (schema anomalies included) and each measured distance.
    """
    if previous is None and serving is None:
        return anomalies_pb2.Anomalies(), []
    result = tfdv.validate_statistics(
        statistics, schema, previous_statistics=previous, serving_statistics=serving
    )
    return result, from_anomalies(result)


def distance_findings(
    distances: Iterable[Distance],
    kinds: Mapping[str, str],
    warn_only: Iterable[str],
    label: str = "",
) -> list[Finding]:
    """Turns distances over their limit into findings under the policy.

    Args:
        distances: Measured distances.
        kinds: Feature -> ``jensen_shannon`` or ``l_infinity`` (from the config).
        warn_only: Anomaly type names that only warn
            (``COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH``, ``COMPARATOR_L_INFTY_HIGH``).
        label: The label column: its finding is named as the label and points at
            the label's own threshold.

    Returns:
        One finding per exceeded distance.
    """
    tolerated = set(warn_only)
    result = []
    for distance in distances:
        if not distance.exceeded:
            continue
        kind = _MEASURE_KINDS[kinds.get(distance.feature, "jensen_shannon")]
        is_label = bool(label) and distance.feature == label
        limit = "the label's threshold (validation.label_drift)" if is_label else "the threshold"
        result.append(
            Finding(
                split=COMPARED_SPLIT,
                feature=distance.feature,
                kinds=(kind,),
                description=(
                    f"{distance.comparison} {distance.measure} {distance.value:.4f} is over "
                    f"{limit} {distance.threshold:.4f}"
                ),
                blocking=kind not in tolerated,
                label=is_label,
            )
        )
    return result


def single_class_finding(
    statistics: statistics_pb2.DatasetFeatureStatisticsList,
    label: str,
    warn_only: Iterable[str],
    split: str = EVAL_SPLIT,
) -> Finding | None:
    """A finding if every labelled example of the split has the same class.

    A model cannot be evaluated on one class (AUC is undefined, accuracy says
    nothing), so such an eval split blocks like an anomaly.

    Args:
        statistics: The split's statistics.
        label: The label column of a classification task.
        warn_only: Anomaly type names that only warn (``FEATURE_TYPE_LOW_UNIQUE``).
        split: The split's name, for the report.

    Returns:
        The finding, or None if the split holds two classes or more, or no label.
    """
    found = single_class(statistics, label)
    if found is None:
        return None
    count, value = found
    return Finding(
        split=split,
        feature=label,
        kinds=(SINGLE_CLASS,),
        description=(
            f"the {split} split has a single label class: all {count} of its examples have "
            f"{label} = {value}, and a model cannot be evaluated on one class"
        ),
        blocking=SINGLE_CLASS not in set(warn_only),
        label=True,
    )


def report(
    span: int | None,
    found: list[Finding],
    distances: Iterable[Distance] = (),
    compared_with: Mapping[str, str] | None = None,
    label: str = "",
) -> str:
    """Renders the gate's report: a headline, findings, then every distance measured.

    Args:
        span: The span validated.
        found: The findings (anomalies and exceeded distances).
        distances: Every distance measured, within its limit or not.
        compared_with: ``drift``/``skew`` -> what the span was compared with.
        label: The label column, named as the label in its distance line.

    Returns:
        The report text.
    """
    blocking = [f for f in found if f.blocking]
    head = (
        f"Data gate: span {span} has {len(blocking)} blocking problem"
        f"{'' if len(blocking) == 1 else 's'}; nothing was trained or pushed from it and "
        "the served model is unchanged."
        if blocking
        else f"Data gate: span {span} passed ({len(found)} warning(s))."
    )
    lines = [head] + [f"  {'BLOCK' if f.blocking else 'warn '} {f.line()}" for f in found]
    distances = list(distances)
    for comparison, target in sorted((compared_with or {}).items()):
        lines.append(f"{comparison.capitalize()} against {target}:")
        lines += [
            f"  {d.line(label_subject(d.feature) if label and d.feature == label else None)}"
            for d in distances
            if d.comparison == comparison
        ]
    return "\n".join(lines)


def _span(artifact: types.Artifact) -> int | None:
    # TFX 1.16 records span as a custom property on some artifact types and as a
    # declared property on others.
    if artifact.has_custom_property("span"):
        return artifact.get_int_custom_property("span")
    return getattr(artifact, "span", None)


def _load_anomalies(anomalies: types.Artifact) -> dict[str, anomalies_pb2.Anomalies]:
    result = {}
    for split in artifact_utils.decode_split_names(anomalies.split_names):
        path = os.path.join(anomalies.uri, f"Split-{split}", ANOMALIES_FILE)
        parsed = anomalies_pb2.Anomalies()
        parsed.ParseFromString(io_utils.read_bytes_file(path))
        result[split] = parsed
    return result


def _load_statistics(
    statistics: types.Artifact, split: str | None = COMPARED_SPLIT
) -> statistics_pb2.DatasetFeatureStatisticsList:
    splits = artifact_utils.decode_split_names(statistics.split_names)
    # Serving statistics have one split, whatever it is called.
    chosen = split if split in splits else splits[0]
    return tfdv.load_stats_binary(os.path.join(statistics.uri, f"Split-{chosen}", STATISTICS_FILE))


def _split_statistics(
    statistics: types.Artifact, split: str
) -> statistics_pb2.DatasetFeatureStatisticsList | None:
    if split not in artifact_utils.decode_split_names(statistics.split_names):
        return None
    return _load_statistics(statistics, split)


def _drift_reference(
    previous: statistics_pb2.DatasetFeatureStatisticsList | None,
    previous_report: types.Artifact | None,
    uncompared_label: str,
) -> str:
    """What drift was measured against, for the report's ``Drift against ...`` line."""
    if previous is None:
        return "nothing (no earlier span has passed the gate)"
    text = (
        f"span {_span(previous_report) if previous_report else '?'} (the previous span that passed)"
    )
    if uncompared_label:
        text += (
            f"; {label_subject(uncompared_label)} not compared: that span's statistics have "
            "no class counts (written by an older version of the pipeline)"
        )
    return text


@component
def DataGate(  # noqa: N802 - TFX component classes are CamelCase
    anomalies: InputArtifact[standard_artifacts.ExampleAnomalies],
    examples: InputArtifact[standard_artifacts.Examples],
    statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    schema: InputArtifact[standard_artifacts.Schema],
    report_artifact: OutputArtifact[DataGateReport],
    previous_statistics: InputArtifact[standard_artifacts.ExampleStatistics] = None,
    previous_report: InputArtifact[DataGateReport] = None,
    serving_statistics: InputArtifact[standard_artifacts.ExampleStatistics] = None,
    warn_only: Parameter[str] = "",
    drift_thresholds: Parameter[str] = "{}",
    skew_thresholds: Parameter[str] = "{}",
    label: Parameter[str] = "",
    label_classes: Parameter[bool] = True,
) -> None:
    """Fails the run when the newest span has blocking anomalies, drift or skew.

    Args:
        anomalies: ExampleValidator's output for the newest span.
        examples: That span's Examples (they carry the span number; the anomalies
            artifact does not).
        statistics: That span's statistics.
        schema: The curated schema.
        report_artifact: Where the report is written (``data_gate_report.txt``); it
            records ``span``, ``passed`` and the examples/statistics ids that the
            training-window and drift resolvers select by.
        previous_statistics: The previous passing span's statistics (none on the
            first span): drift is measured against them.
        previous_report: That span's passing report (it names the span).
        serving_statistics: Serving-time statistics, when configured: skew.
        warn_only: Comma-separated anomaly type names that only warn.
        drift_thresholds: JSON feature -> [measure, limit] for drift; the label's
            own limit is among them when its drift is compared.
        skew_thresholds: JSON feature -> [measure, limit] for skew.
        label: The label column: its findings are named as the label.
        label_classes: Whether the label holds class ids (binary and multiclass):
            then its eval split must hold two classes or more.

    Raises:
        DataGateError: With the report, if anything blocks.
    """
    span = _span(examples)
    tolerated = [k for k in warn_only.split(",") if k]
    found = findings(_load_anomalies(anomalies), tolerated, label)
    drift = {name: tuple(limit) for name, limit in json.loads(drift_thresholds).items()}
    skew = {name: tuple(limit) for name, limit in json.loads(skew_thresholds).items()}
    previous = _load_statistics(previous_statistics) if previous_statistics and drift else None
    uncompared_label = ""
    if label in drift and previous is not None:
        if not label_comparable(previous, label, label_classes):
            uncompared_label = label
            del drift[label]
    serving = _load_statistics(serving_statistics, None) if serving_statistics and skew else None
    compared_with = {}
    distances: list[Distance] = []
    if not any(NO_DATA in f.kinds for f in found):  # an empty dataset has no distances
        tfdv_schema = comparator_schema(
            io_utils.SchemaReader().read(os.path.join(schema.uri, "schema.pbtxt")), drift, skew
        )
        measured, distances = measure_distances(
            _load_statistics(statistics), tfdv_schema, previous, serving
        )
        io_utils.write_pbtxt_file(os.path.join(report_artifact.uri, DISTANCES_FILE), measured)
        kinds = {name: kind for name, (kind, _) in {**drift, **skew}.items()}
        found += distance_findings(distances, kinds, tolerated, label)
        # A classification label needs two classes in the split the model is judged on.
        evaluated = _split_statistics(statistics, EVAL_SPLIT) if label_classes and label else None
        one_class = None if evaluated is None else single_class_finding(evaluated, label, tolerated)
        found += [one_class] if one_class else []
        found.sort(key=lambda f: (not f.blocking, f.feature))
        if drift or uncompared_label:
            compared_with["drift"] = _drift_reference(previous, previous_report, uncompared_label)
        if serving is not None:
            compared_with["skew"] = f"serving data {serving_statistics.uri}"
    text = report(span, found, distances, compared_with, label)
    io_utils.write_string_file(os.path.join(report_artifact.uri, REPORT_FILE), text)
    blocking = [f for f in found if f.blocking]
    report_artifact.set_int_custom_property(resolvers.PASSED_PROPERTY, 0 if blocking else 1)
    report_artifact.set_int_custom_property(resolvers.SPAN_PROPERTY, int(span or 0))
    report_artifact.set_int_custom_property(resolvers.EXAMPLES_ID_PROPERTY, examples.id)
    report_artifact.set_int_custom_property(resolvers.STATISTICS_ID_PROPERTY, statistics.id)
    if blocking:
        # The one-paragraph form: blocking lines only (the file has everything).
        head = text.splitlines()[0]
        by_feature: dict[str, set[str]] = {}
        for finding in blocking:
            by_feature.setdefault(finding.feature, set()).update(finding.kinds)
        raise DataGateError(
            " | ".join([head] + [f"BLOCK {f.line()}" for f in blocking]),
            text,
            {feature: ",".join(sorted(names)) for feature, names in sorted(by_feature.items())},
            distances,
        )
