"""Input resolution for the Evaluator's baseline model."""

from __future__ import annotations

from typing import Dict, List, Optional

import ml_metadata as mlmd
from tfx import types
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
        self, store: mlmd.MetadataStore, input_dict: Dict[str, List[types.Artifact]]
    ) -> Optional[Dict[str, List[types.Artifact]]]:
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
        result = {MODEL_KEY: [], BLESSING_KEY: []}
        if models and blessings:
            result = self._resolve(
                {MODEL_KEY: models, BLESSING_KEY: blessings}, MODEL_KEY, BLESSING_KEY
            )
        # Every input key must survive resolution, or TFX fails the resolver node.
        return {**result, CANDIDATE_KEY: candidates}
