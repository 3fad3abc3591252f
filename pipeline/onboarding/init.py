"""``python -m pipeline init``: a starter config and schema from a folder of CSV spans.

The spans are read as ``schema`` reads them (the pipeline's own ExampleGen over the
training window, then TFDV); :mod:`.decisions` chooses each column's role from those
statistics, and the written config is loaded with :func:`pipeline.config.load_config`
before ``init`` reports success, so what it writes is a config the pipeline runs.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from tensorflow_metadata.proto.v0 import statistics_pb2

from components.model.features import FeatureSpec
from components.model.hparams import Hyperparameters
from pipeline.config import (
    ConfigError,
    DataConfig,
    EvaluationConfig,
    OutputsConfig,
    PipelineConfig,
    load_config,
)
from pipeline.onboarding import decisions, layout, schema, statistics

WINDOW_SPANS = 3
# The gate per task: the metric, its floor or ceiling, and the tolerance against the
# baseline (in the metric's units). AUC 0.6 and accuracy above chance only say
# "learnt something"; raise them once the first runs show what the data allows.
_BINARY = {
    "metrics": ["ExampleCount", "AUC", "BinaryAccuracy", "MeanLabel", "MeanPrediction"],
    "gate_metric": "AUC",
    "lower_bound": 0.6,
    "max_regression": 0.02,
}
_MULTICLASS = {
    "metrics": ["ExampleCount", "SparseCategoricalAccuracy"],
    "gate_metric": "SparseCategoricalAccuracy",
    "max_regression": 0.02,
}
_REGRESSION = {
    "metrics": ["ExampleCount", "MeanSquaredError", "MeanAbsoluteError"],
    "gate_metric": "MeanSquaredError",
}


@dataclasses.dataclass(frozen=True)
class InitResult:
    """What ``init`` wrote and decided.

    Attributes:
        config_file: The config written.
        schema_file: The schema written.
        span_pattern: The detected ``data.span_pattern``.
        delimiter: The detected ``data.delimiter``.
        spans: The spans the statistics cover.
        decisions: Each column's role and the task.
    """

    config_file: Path
    schema_file: Path
    span_pattern: str
    delimiter: str
    spans: tuple[int, ...]
    decisions: decisions.Decisions


def dataset_name(data_dir: Path) -> str:
    """The pipeline and model name for a data folder: its name, lower-case, ``[a-z0-9_]``.

    Args:
        data_dir: The data folder.

    Returns:
        A name such as ``breast_cancer``.
    """
    name = re.sub(r"[^a-z0-9_]+", "_", data_dir.resolve().name.lower()).strip("_")
    return name or "dataset"


def _draft_config(data: DataConfig, label: str, schema_file: Path, scratch: Path) -> PipelineConfig:
    # The ingest node reads only data and schema_file; features, evaluation and
    # outputs are placeholders until the statistics decide them.
    return PipelineConfig(
        source=scratch / "draft.yaml",
        pipeline_name="init",
        model_name="init",
        schema_file=schema_file,
        data=data,
        features=FeatureSpec(label=label, numeric=(f"{label}_draft",)),
        model=Hyperparameters(),
        evaluation=EvaluationConfig(metrics=(), gate_metric="", lower_bound=0.0),
        outputs=OutputsConfig(scratch, scratch / "metadata.sqlite", scratch / "serving"),
    )


def _relative(path: Path, base: Path) -> str:
    # Relative paths in a config resolve against its folder: keep the config movable
    # together with its data when they sit side by side.
    try:
        return os.path.relpath(path, base) if path.is_relative_to(base) else str(path)
    except ValueError:
        return str(path)


def _evaluation(chosen: decisions.Decisions, label_variance: float) -> dict[str, Any]:
    if chosen.task == "binary":
        return dict(_BINARY)
    if chosen.task == "multiclass":
        # Better than guessing the commonest class would need the class shares;
        # better than a uniform guess is the floor that holds for any data.
        return {**_MULTICLASS, "lower_bound": round(1.0 / chosen.num_classes + 0.05, 2)}
    # A model predicting the label's mean has an MSE of the label's variance: the
    # ceiling says "better than the mean"; max_regression is the allowed increase.
    return {
        **_REGRESSION,
        "upper_bound": float(f"{label_variance:.4g}"),
        "max_regression": float(f"{label_variance * 0.05:.3g}"),
    }


def _block(key: str, value: Any, indent: str = "") -> str:
    # Sections in block style, each list on one line ([a, b]) as in the bundled configs.
    if isinstance(value, Mapping) and value:
        return f"{indent}{key}:\n" + "".join(
            _block(name, item, indent + "  ") for name, item in value.items()
        )
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    return f"{indent}{key}: {text.removesuffix('...').strip()}\n"


def render_config(
    name: str,
    data: Mapping[str, Any],
    schema_file: str,
    chosen: decisions.Decisions,
    label_variance: float,
) -> str:
    """The starter config's YAML, commented.

    Args:
        name: Pipeline and model name.
        data: The ``data`` section.
        schema_file: The ``schema_file`` value.
        chosen: The column decisions.
        label_variance: The label's variance (the regression gate's ceiling).

    Returns:
        The YAML text.
    """
    features: dict[str, Any] = {
        "label": chosen.columns[0].name,
        "task": chosen.task,
        # A regression predicts one number: it has no classes.
        **({} if chosen.task == "regression" else {"num_classes": chosen.num_classes}),
        "numeric": chosen.names("numeric"),
        "categorical": chosen.names("categorical"),
        "bucketized": {},
        "ignored": chosen.names("ignored"),
        "oov_buckets": 2,
    }

    return "".join(
        [
            f"# Written by `python -m pipeline init` from {data['input_base']}: review it, then\n"
            "# run `python -m pipeline schema` and `python -m pipeline run` with it.\n",
            _block("pipeline_name", name),
            _block("model_name", name),
            _block("schema_file", schema_file),
            "\n# Spans as found on disk; Transform and Trainer read the newest window_spans.\n",
            _block("data", dict(data)),
            "\n# Decided from the statistics (init printed why, one line per column).\n"
            "# bucketized: none chosen; move a numeric column here with a bucket count.\n",
            _block("features", features),
            "\n# Defaults of the model code; a few thousand rows train in seconds.\n",
            _block("model", {"train_steps": 200, "eval_steps": 5, "batch_size": 64}),
            "\n# The model gate: a model is pushed only if gate_metric passes its bound and\n"
            "# is within max_regression of the latest blessed model.\n",
            _block("evaluation", _evaluation(chosen, label_variance)),
            "\n# The data gate. open_domains: string columns whose new values are expected\n"
            "# (no closed domain; add cities, company names...). Drift is off until you\n"
            "# know how much ordinary days move.\n",
            _block(
                "validation",
                {
                    "open_domains": chosen.open_domains,
                    "max_domain_values": decisions.MAX_DOMAIN_VALUES,
                    "drift": {"jensen_shannon": None, "l_infinity": None},
                },
            ),
            "\n# Pipeline root, metadata and serving dir under one folder (next to this file).\n",
            _block("outputs", {"root": "outputs"}),
        ]
    )


def _label_variance(stats: statistics_pb2.DatasetFeatureStatisticsList, label: str) -> float:
    for feature in stats.datasets[0].features:
        if feature.path.step[-1] == label and feature.HasField("num_stats"):
            return feature.num_stats.std_dev**2
    return 0.0


def init(
    data_dir: Path,
    label: str,
    *,
    task: str | None = None,
    out: Path | None = None,
    schema_file: Path | None = None,
) -> InitResult:
    """Writes a starter config and its schema for a folder of CSV spans.

    Args:
        data_dir: The folder of spans (becomes ``data.input_base``).
        label: The label column.
        task: ``binary``, ``multiclass`` or ``regression``; None detects it.
        out: The config to write (default ``<name>.yaml`` in the current directory).
        schema_file: The schema to write (default ``schemas/<name>/schema.pbtxt``
            next to the config).

    Returns:
        What was written and decided.

    Raises:
        FileExistsError: If the config file exists already.
        layout.LayoutError: If the spans' layout is not recognised.
        decisions.DecisionError: If the label cannot be used.
        pipeline.config.ConfigError: If the written config does not load (a bug).
    """
    data_dir = data_dir.resolve()
    name = dataset_name(data_dir)
    out = (out or Path(f"{name}.yaml")).resolve()
    if out.exists():
        raise FileExistsError(f"{out} exists; remove it or choose another --out")
    schema_file = (schema_file or out.parent / "schemas" / name / "schema.pbtxt").resolve()
    span_pattern = layout.detect_span_pattern(data_dir)
    delimiter = layout.sniff_delimiter(layout.first_file(data_dir, span_pattern))
    data = DataConfig(
        input_base=data_dir,
        span_pattern=span_pattern,
        window_spans=WINDOW_SPANS,
        delimiter=delimiter,
    )
    raw_data = {
        "input_base": _relative(data_dir, out.parent),
        "span_pattern": span_pattern,
        "window_spans": WINDOW_SPANS,
        "train_buckets": 4,
        "eval_buckets": 1,
        "delimiter": delimiter,
    }
    with tempfile.TemporaryDirectory(prefix="init-") as scratch:
        draft = _draft_config(data, label, schema_file, Path(scratch))
        # Decoded once; two statistics passes over the same examples.
        with statistics.decoded_window(draft) as window:
            plain = window.statistics()
            counted = window.statistics(statistics.integers_as_categorical(plain))
            chosen = decisions.decide(plain, counted, label, task)
            text = render_config(
                name,
                raw_data,
                _relative(schema_file, out.parent),
                chosen,
                _label_variance(plain, label),
            )
            config = _write_config(out, text)
    # An existing schema (curated before) is updated, as `schema` would.
    result = schema.schema_for(config, window=statistics.SpanStatistics(window.spans, plain))
    schema.write_schema(result.schema, schema_file)
    return InitResult(out, schema_file, span_pattern, delimiter, window.spans, chosen)


def _write_config(out: Path, text: str) -> PipelineConfig:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    try:
        return load_config(out)
    except ConfigError:
        out.unlink()  # never leave a config behind that the pipeline cannot load
        raise
