"""Input resolution: baseline, warm-start model, training window, drift baseline, analyzer cache."""

from __future__ import annotations

import ml_metadata as mlmd
from tfx import types
from tfx.dsl.components.common import resolver
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
    LatestBlessedModelStrategy,
)

CANDIDATE_KEY = "candidate"
MODEL_KEY = "model"
BLESSING_KEY = "model_blessing"


class LatestBlessedOtherModelStrategy(LatestBlessedModelStrategy):
    """The latest blessed Model other than the candidate being evaluated.

    TFX's ``LatestBlessedModelStrategy`` returns the candidate itself once the
    candidate has been blessed, so a rerun with nothing new (Trainer cached) would
    feed the Evaluator a different baseline than the first run did: the cache misses,
    the model is compared with itself, re-blessed and pushed again as a new version.
    Excluding the candidate keeps a no-new-data rerun's inputs identical (a full
    cache hit) and means "baseline" always is the previous served model.

    Inputs: ``model`` and ``model_blessing`` (all of each type in the pipeline) and
    ``candidate`` (the Trainer's output). The Evaluator reads ``model``.
    """

    def resolve_artifacts(
        self, store: mlmd.MetadataStore, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]] | None:
        """Resolves the baseline.

        Args:
            store: The MLMD store (unused; all artifacts arrive in ``input_dict``).
            input_dict: ``model``, ``model_blessing`` and ``candidate`` artifacts.

        Returns:
            ``model`` (the baseline, or none), its ``model_blessing`` and the
            ``candidate`` passed through.
        """
        candidates = list(input_dict.get(CANDIDATE_KEY, []))
        candidate_ids = {artifact.id for artifact in candidates}
        models = [m for m in input_dict.get(MODEL_KEY, []) if m.id not in candidate_ids]
        blessings = list(input_dict.get(BLESSING_KEY, []))
        result: dict[str, list[types.Artifact]] = {MODEL_KEY: [], BLESSING_KEY: []}
        if models and blessings:
            result = self._resolve(
                {MODEL_KEY: models, BLESSING_KEY: blessings}, MODEL_KEY, BLESSING_KEY
            )
        # Every input key must survive resolution, or TFX fails the resolver node.
        return {**result, CANDIDATE_KEY: candidates}


# DataGateReport custom properties the window and drift resolvers read; written by
# components.data_gate.DataGate when a span passes.
PASSED_PROPERTY = "passed"
SPAN_PROPERTY = "span"
EXAMPLES_ID_PROPERTY = "examples_id"
STATISTICS_ID_PROPERTY = "statistics_id"

EXAMPLES_KEY = "examples"
STATISTICS_KEY = "statistics"
REPORTS_KEY = "reports"
CURRENT_KEY = "current"


def _int_property(artifact: types.Artifact, name: str) -> int | None:
    if artifact.has_custom_property(name):
        return artifact.get_int_custom_property(name)
    return None


def passed_reports(reports: list[types.Artifact]) -> list[types.Artifact]:
    """The DataGate reports that passed, newest first.

    Args:
        reports: DataGateReport artifacts.

    Returns:
        Those with ``passed == 1`` and a recorded span, sorted by id descending.
    """
    return sorted(
        (
            report
            for report in reports
            if _int_property(report, PASSED_PROPERTY) == 1
            and _int_property(report, SPAN_PROPERTY) is not None
        ),
        key=lambda report: report.id,
        reverse=True,
    )


def _examples_span(examples: types.Artifact) -> int:
    # TFX 1.16 records an Examples artifact's span as a custom property.
    span = _int_property(examples, SPAN_PROPERTY)
    return span if span is not None else int(getattr(examples, "span", 0) or 0)


class PassedSpanWindowStrategy(resolver.ResolverStrategy):
    """The newest ``num_spans`` spans whose data passed the DataGate.

    TFX's ``SpanRangeStrategy`` windows over every span ExampleGen ingested, so a
    day the gate rejected (the run failed there) would still be trained on by the
    next days' runs. This strategy keeps only Examples artifacts a passing
    DataGateReport names (``examples_id``), so a rejected day, or a rejected
    re-ingested version of a day, never enters a training window.

    Inputs: ``examples`` (all of ExampleGen's Examples) and ``reports`` (all
    DataGateReports). Output ``examples``: at most ``num_spans`` artifacts, one per
    span (its latest passed version), oldest span first.
    """

    def __init__(self, num_spans: int) -> None:
        """Initialises the strategy.

        Args:
            num_spans: How many spans the window holds.
        """
        if num_spans < 1:
            raise ValueError(f"num_spans must be >= 1, got {num_spans}")
        self._num_spans = num_spans

    def resolve_artifacts(
        self, store: mlmd.MetadataStore, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]] | None:
        """Resolves the window.

        Args:
            store: The MLMD store (unused; all artifacts arrive in ``input_dict``).
            input_dict: ``examples`` and ``reports``.

        Returns:
            ``examples`` (the window) and ``reports`` (the passing reports used).
        """
        passed = passed_reports(list(input_dict.get(REPORTS_KEY, [])))
        passed_ids = {_int_property(report, EXAMPLES_ID_PROPERTY) for report in passed}
        newest_by_span: dict[int, types.Artifact] = {}
        for examples in input_dict.get(EXAMPLES_KEY, []):
            if examples.id not in passed_ids:
                continue
            span = _examples_span(examples)
            # A re-ingested span (new data for the same day) has a newer artifact.
            if span not in newest_by_span or examples.id > newest_by_span[span].id:
                newest_by_span[span] = examples
        window = [newest_by_span[span] for span in sorted(newest_by_span)[-self._num_spans :]]
        window_ids = {examples.id for examples in window}
        used = [r for r in passed if _int_property(r, EXAMPLES_ID_PROPERTY) in window_ids]
        return {EXAMPLES_KEY: window, REPORTS_KEY: used}


class PreviousPassedStatisticsStrategy(resolver.ResolverStrategy):
    """Statistics of the newest span older than the current one that passed the gate.

    The drift check compares a new span with the last good day, not with a day
    the gate rejected (comparing with a broken day would hide drift or invent it).

    Inputs: ``current`` (this run's Examples), ``statistics`` (all of
    StatisticsGen's outputs) and ``reports`` (all DataGateReports). Outputs
    ``statistics`` and ``reports``: the statistics and the passing report of that
    span (one each), or none when no older span has passed.
    """

    def resolve_artifacts(
        self, store: mlmd.MetadataStore, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]] | None:
        """Resolves the previous good span's statistics.

        Args:
            store: The MLMD store (unused; all artifacts arrive in ``input_dict``).
            input_dict: ``current``, ``statistics`` and ``reports``.

        Returns:
            ``statistics`` and ``reports`` (zero or one each), with ``current``
            passed through (every input key must survive resolution).
        """
        current = list(input_dict.get(CURRENT_KEY, []))
        statistics = {artifact.id: artifact for artifact in input_dict.get(STATISTICS_KEY, [])}
        previous: list[types.Artifact] = []
        report: list[types.Artifact] = []
        if current:
            span = _examples_span(current[0])
            older = [
                candidate
                for candidate in passed_reports(list(input_dict.get(REPORTS_KEY, [])))
                # passed_reports() keeps only reports with a span.
                if (_int_property(candidate, SPAN_PROPERTY) or 0) < span
                and _int_property(candidate, STATISTICS_ID_PROPERTY) in statistics
            ]
            if older:
                newest = max(older, key=lambda r: (_int_property(r, SPAN_PROPERTY), r.id))
                previous = [statistics[_int_property(newest, STATISTICS_ID_PROPERTY)]]
                report = [newest]
        # The report goes along: it names the span the statistics are of (TFX 1.16's
        # StatisticsGen copies a span property the Examples do not carry).
        return {STATISTICS_KEY: previous, CURRENT_KEY: current, REPORTS_KEY: report}


class WarmStartModelStrategy(LatestBlessedModelStrategy):
    """The latest model blessed before the current span's data was ingested.

    The Trainer warm-starts from it. "Latest blessed" alone would change as soon as
    this span's own model is blessed, so rerunning the same span (nothing new) would
    hand the Trainer a different base model: a cache miss and a model trained twice
    on the same day. Only blessings recorded before this run's Examples artifact
    (MLMD ids grow monotonically) count, so a rerun resolves the same base and is a
    full cache hit, and a new day starts from the newest blessed model.

    Inputs: ``model`` and ``model_blessing`` (all of each type) and ``current``
    (this run's Examples). The Trainer reads ``model`` as its ``base_model``.
    """

    def resolve_artifacts(
        self, store: mlmd.MetadataStore, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]] | None:
        """Resolves the warm-start base model.

        Args:
            store: The MLMD store (unused; all artifacts arrive in ``input_dict``).
            input_dict: ``model``, ``model_blessing`` and ``current``.

        Returns:
            ``model`` and ``model_blessing`` (zero or one each), with ``current``
            passed through.
        """
        current = list(input_dict.get(CURRENT_KEY, []))
        result: dict[str, list[types.Artifact]] = {MODEL_KEY: [], BLESSING_KEY: []}
        if current:
            ingested = min(examples.id for examples in current)
            blessings = [b for b in input_dict.get(BLESSING_KEY, []) if b.id < ingested]
            models = list(input_dict.get(MODEL_KEY, []))
            if models and blessings:
                result = self._resolve(
                    {MODEL_KEY: models, BLESSING_KEY: blessings}, MODEL_KEY, BLESSING_KEY
                )
        return {**result, CURRENT_KEY: current}


# The bench's switch for the analyzer-cache lever (read when the pipeline is built):
# False builds Transform without an analyzer_cache input, so it re-analyses every
# span of the window on every run.
ANALYZER_CACHE = True
CACHE_KEY = "analyzer_cache"


class AnalyzerCacheStrategy(resolver.ResolverStrategy):
    """The newest Transform analyzer cache written before the current span was ingested.

    TFX's Transform reads ``analyzer_cache`` and writes ``updated_analyzer_cache``:
    per-span partial analyzer results (vocabulary counts, mean/variance
    accumulators, quantile sketches) keyed by the span's file pattern, which holds
    the Examples artifact's URI, and by a hash of each analyzer's graph path. A span
    still in the window is not read again; a new span, a re-ingested span (a new
    artifact, a new URI) or a changed ``preprocessing_fn``/feature spec/schema (a
    different graph, a different hash) misses and is analysed from its data, so the
    cache can never serve stale results.

    Like :class:`WarmStartModelStrategy`, only caches recorded before this run's
    Examples artifact count: rerunning the same span (nothing new) resolves the
    same cache, so Transform's inputs, and TFX's cache key, are unchanged and the
    rerun is a full cache hit, rather than reading the cache its own first run wrote.

    Inputs: ``analyzer_cache`` (all TransformCache artifacts of this pipeline's
    Transform) and ``current`` (this run's Examples). Output ``analyzer_cache``: at
    most one artifact.
    """

    def resolve_artifacts(
        self, store: mlmd.MetadataStore, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]] | None:
        """Resolves the analyzer cache.

        Args:
            store: The MLMD store (unused; all artifacts arrive in ``input_dict``).
            input_dict: ``analyzer_cache`` and ``current``.

        Returns:
            ``analyzer_cache`` (zero or one), with ``current`` passed through.
        """
        current = list(input_dict.get(CURRENT_KEY, []))
        cache: list[types.Artifact] = []
        if current:
            ingested = min(examples.id for examples in current)
            # MLMD ids grow monotonically: a smaller id was recorded earlier.
            older = [a for a in input_dict.get(CACHE_KEY, []) if a.id < ingested]
            if older:
                cache = [max(older, key=lambda artifact: artifact.id)]
        return {CACHE_KEY: cache, CURRENT_KEY: current}
