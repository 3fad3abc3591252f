"""The run summary as text: what ``python -m pipeline run`` prints and ``report.txt`` holds.

Only formatting lives here; the facts are read from ML Metadata, TFMA and the run's
files by :mod:`pipeline.ops.summary` and :mod:`pipeline.ops.model_gate`.
"""

from __future__ import annotations

from pipeline.ops.model_gate import ModelGate, SliceCheck
from pipeline.ops.summary import EvalSample, RunSummary, TFLiteExport

GATE_SCOPE = "overall slice, eval split of the newest span"
"""Where the Evaluator's gate applies (see ``pipeline.pipeline.eval_config``)."""


def _check(passed: bool | None) -> str:
    return "PASS" if passed else "FAIL"


def _value_check(gate: ModelGate | SliceCheck, metric_key: str) -> str:
    """``candidate 0.81 >= lower bound 0.65 -> PASS`` for a gate or a slice check."""
    if gate.value is None:
        return f"candidate: TFMA recorded no {metric_key} -> FAIL"
    text = f"candidate {gate.value:.4f}"
    if gate.value_passed is None:
        return f"{text} (no bound)"
    bounds = []
    if gate.lower_bound is not None:
        op = ">=" if gate.value >= gate.lower_bound else "<"
        bounds.append(f"{op} lower bound {gate.lower_bound:.4f}")
    if gate.upper_bound is not None:
        op = "<=" if gate.value <= gate.upper_bound else ">"
        bounds.append(f"{op} upper bound {gate.upper_bound:.4f}")
    return f"{text} {' and '.join(bounds)} -> {_check(gate.value_passed)}"


def _demands_gain(bound: float, higher_is_better: bool) -> bool:
    """Whether a change bound demands an improvement rather than tolerating a loss.

    Args:
        bound: A change threshold's absolute or relative bound.
        higher_is_better: The metric's direction.

    Returns:
        True for a bound on the better side of zero (``min_improvement``), False for
        one on the worse side (``max_regression``).
    """
    return bound > 0 if higher_is_better else bound < 0


def improvement_rule(gate: ModelGate | SliceCheck) -> str | None:
    """``must improve by >= 0.0100 over the baseline`` when the gate demands a gain.

    Args:
        gate: The overall gate or a slice check.

    Returns:
        The rule in words, or None when the change threshold tolerates a loss
        (or there is none).
    """
    parts = []
    absolute, relative = gate.allowed_change, gate.allowed_relative
    if absolute is not None and _demands_gain(absolute, gate.higher_is_better):
        parts.append(f"by >= {abs(absolute):.4f}")
    if relative is not None and _demands_gain(relative, gate.higher_is_better):
        parts.append(f"by >= {abs(relative):.2%}")
    return f"must improve {' and '.join(parts)} over the baseline" if parts else None


def _operator(change: float, bound: float, higher_is_better: bool) -> str:
    if higher_is_better:
        return ">=" if change >= bound else "<"
    return "<=" if change <= bound else ">"


def _comparisons(gate: ModelGate | SliceCheck) -> list[str]:
    """Each change bound against the change: ``change +0.0053 >= allowed -0.0100``."""
    higher, change = gate.higher_is_better, gate.change
    texts = []
    if gate.allowed_change is not None:
        bound = gate.allowed_change
        word = "required" if _demands_gain(bound, higher) else "allowed"
        if change is None:
            texts.append(f"change: not recorded, {word} {bound:+.4f}")
        else:
            texts.append(
                f"change {change:+.4f} {_operator(change, bound, higher)} {word} {bound:+.4f}"
            )
    if gate.allowed_relative is not None:
        bound = gate.allowed_relative
        word = "required" if _demands_gain(bound, higher) else "allowed"
        base = gate.baseline_value
        if change is None or not base:
            texts.append(f"relative change: not recorded, {word} {bound:+.2%}")
        else:
            ratio = change / base
            texts.append(
                f"change {change:+.4f} = {ratio:+.2%} of the baseline "
                f"{_operator(ratio, bound, higher)} {word} {bound:+.2%}"
            )
    return texts


def _change_check(gate: ModelGate | SliceCheck) -> str:
    """``baseline 0.80, change +0.01 >= allowed -0.01 -> PASS`` (or why there is none)."""
    if gate.allowed_change is None and gate.allowed_relative is None:
        if gate.baseline_value is None:
            return "no baseline (first model), no comparison"
        change = "change: not recorded" if gate.change is None else f"change {gate.change:+.4f}"
        return f"baseline {gate.baseline_value:.4f}, {change} (no change threshold)"
    baseline = (
        "baseline: none" if gate.baseline_value is None else f"baseline {gate.baseline_value:.4f}"
    )
    rule = improvement_rule(gate)
    text = f"{baseline}, {' and '.join(_comparisons(gate))}"
    if rule:
        text += f" ({rule})"
    verdict = "FAIL" if gate.change is None else _check(gate.change_passed)
    return f"{text} -> {verdict}"


def format_slice_check(check: SliceCheck, metric_key: str) -> str:
    """Renders a per-slice threshold's check as one line.

    Args:
        check: The check.
        metric_key: TFMA's name of the metric (for a missing value).

    Returns:
        E.g. ``device=tablet (52 examples; threshold for device=*): candidate
        0.5912 < lower bound 0.6000 -> FAIL; baseline 0.6500, change -0.0588 <
        allowed -0.0200 -> FAIL``; without a baseline the line ends after the
        value check (the overall line already says there is none).
    """
    context = [] if check.example_count is None else [f"{check.example_count:.0f} examples"]
    if check.spec != check.slice:
        context.append(f"threshold for {check.spec}")
    where = f"{check.slice} ({'; '.join(context)})" if context else check.slice
    line = f"{where}: {_value_check(check, metric_key)}"
    if check.baseline_value is not None or check.allowed_change is not None:
        line += f"; {_change_check(check)}"
    return line


def format_gate(gate: ModelGate, pushed: bool) -> str:
    """Renders the model gate as one line, then the slice checks and TFMA's failures.

    Args:
        gate: The gate.
        pushed: Whether the Pusher pushed the model in this run.

    Returns:
        E.g. ``Model gate on AUC (overall slice, ...): candidate 0.5123 < lower
        bound 0.6500 -> FAIL; baseline 0.7990, change -0.2867 < allowed -0.0100
        -> FAIL. Not blessed, not pushed; the served model is unchanged.``; a
        lower-is-better metric says so in the parentheses, and a demanded gain
        reads ``change +0.0000 < required +0.0100 (must improve by >= 0.0100
        over the baseline) -> FAIL``.
    """
    scope = GATE_SCOPE if gate.higher_is_better else f"lower is better; {GATE_SCOPE}"
    line = (
        f"Model gate on {gate.metric} ({scope}): "
        f"{_value_check(gate, gate.metric_key)}; {_change_check(gate)}."
    )
    if gate.blessed is True:
        line += " Blessed and pushed." if pushed else " Blessed; nothing new pushed this run."
    elif gate.blessed is False:
        line += (
            " Not blessed."
            if pushed
            else " Not blessed, not pushed; the served model is unchanged."
        )
    lines = [line]
    if gate.slices:
        failed = sum(not check.passed for check in gate.slices)
        verdict = f"{failed} of {len(gate.slices)} FAIL" if failed else "all PASS"
        lines.append(f"  Slice thresholds on {gate.metric} ({verdict}):")
        lines += [f"    {format_slice_check(check, gate.metric_key)}" for check in gate.slices]
    if gate.failures:
        lines.append("  TFMA validation failures:")
        lines += [f"    {failure}" for failure in gate.failures]
    return "\n".join(lines)


def format_tflite(tflite: TFLiteExport, destination: str | None = None) -> str:
    """Renders the TFLite export as one line: size, both metric values, delta and push.

    Args:
        tflite: The export.
        destination: The pushed version directory, when the model was pushed.

    Returns:
        E.g. ``TFLite: 33,144 bytes (float SavedModel 524,974 bytes, 0 int8 weight
        tensors); AUC float 0.7989, TFLite 0.7989, delta +0.0000 <= bound 0.0100
        -> pushed as .../model.tflite.``
    """
    head = (
        f"TFLite: {tflite.size_bytes:,} bytes (float SavedModel {tflite.float_size_bytes:,} "
        f"bytes, {tflite.quantized_weights} int8 weight tensors)"
    )
    if tflite.metric is not None and tflite.delta is not None and tflite.max_delta is not None:
        op = "<=" if tflite.within_bound else ">"
        measured = (
            f"{tflite.metric} float {tflite.float_value:.4f}, TFLite {tflite.tflite_value:.4f}, "
            f"delta {tflite.delta:+.4f} (|delta| {op} bound {tflite.max_delta:.4f})"
        )
    else:
        measured = tflite.reason
    if tflite.pushed:
        where = f"{destination}/model.tflite" if destination else "model.tflite"
        verdict = f"pushed as {where}"
    elif not tflite.within_bound:
        verdict = "refused, model.tflite not pushed (the SavedModel is unaffected)"
    elif tflite.pushed is None:
        verdict = "within bound; nothing new pushed this run"
    else:
        verdict = f"within bound; {tflite.push_reason or 'not pushed'}"
    return f"{head}; {measured} -> {verdict}."


def _spans_and_nodes(summary: RunSummary) -> list[str]:
    """The backfilled spans, then the component table."""
    lines = []
    if summary.backfilled_spans:
        spans = ", ".join(str(span) for span in summary.backfilled_spans)
        lines += [f"Validated older spans of the training window first: {spans}"]
        for span, reason in sorted(summary.rejected_spans.items()):
            lines.append(f"  span {span} rejected, left out of the window: {reason}")
        lines.append("")
    width = max([len(node.node_id) for node in summary.nodes] + [22]) + 2
    lines.append(f"  {'component':<{width}}{'result':<10}{'seconds':>8}")
    for node in summary.nodes:
        lines.append(f"  {node.node_id:<{width}}{node.state:<10}{node.seconds:>8.1f}")
    lines.append("")
    return lines


def format_sample(sample: EvalSample) -> str:
    """The sample's size, e.g. ``a seeded sample of 20,000 of 200,000 rows``.

    Args:
        sample: The evaluation's sample.

    Returns:
        One phrase.
    """
    if sample.examples >= sample.population:
        return f"all {sample.examples:,} of {sample.population:,} rows"
    return f"a seeded sample of {sample.examples:,} of {sample.population:,} rows"


def format_standard_errors(sample: EvalSample) -> str:
    """The gate metric's standard errors on the sample, one line.

    Args:
        sample: The evaluation's sample.

    Returns:
        E.g. ``  auc standard error 0.0041 (Hanley-McNeil; change vs baseline
        ≤ 0.0058; n = 20,000)``; ``≤`` marks an upper bound.
    """
    error = "n/a" if sample.standard_error is None else f"{sample.standard_error:.4f}"
    parts = [sample.method] if sample.method else []
    if sample.change_standard_error is not None:
        relation = "≤ " if sample.change_is_bound else ""
        parts.append(f"change vs baseline {relation}{sample.change_standard_error:.4f}")
    parts.append(f"n = {sample.examples:,}")
    return f"  {sample.metric_key} standard error {error} ({'; '.join(parts)})"


def format_summary(summary: RunSummary) -> str:
    """Renders a run's summary as the table ``python -m pipeline run`` prints.

    Args:
        summary: The run's summary.

    Returns:
        Human-readable multi-line text.
    """
    lines = [f"Pipeline {summary.pipeline_name!r}, run {summary.run_id}", ""]
    lines += _spans_and_nodes(summary)
    if summary.data_gate_report:
        lines += [summary.data_gate_report, ""]
    if summary.warm_start:
        lines.append(f"Training: {summary.warm_start}")
    if summary.model_run_uri:
        lines += [f"TensorBoard: tensorboard --logdir {summary.model_run_uri}", ""]
    if summary.metrics:
        sample = summary.eval_sample
        rows = "all examples" if sample is None else format_sample(sample)
        lines.append(f"Evaluation (eval split of the newest span, {rows}):")
        for name, value in sorted(summary.metrics.items()):
            lines.append(f"  {name:<32}{value:.4f}")
        if sample is not None:
            lines.append(format_standard_errors(sample))
    if summary.model_gate is not None:
        lines.append(format_gate(summary.model_gate, summary.pushed))
    if summary.blessed is not None:
        baseline = summary.baseline_model_uri or "none (first model)"
        lines.append(f"Blessed: {'yes' if summary.blessed else 'no'} (baseline: {baseline})")
    if summary.pushed:
        lines.append(f"Pushed to: {summary.pushed_destination}")
    else:
        lines.append("Pushed: nothing new this run")
    if summary.tflite is not None:
        lines.append(format_tflite(summary.tflite, summary.pushed_destination))
    return "\n".join(lines)
