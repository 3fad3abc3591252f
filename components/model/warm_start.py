"""Warm start: continue training from the latest blessed model when its shape fits.

Daily retraining on a rolling window converges faster, and moves less between days,
when it starts from yesterday's blessed weights. That is only sound when the new
model has exactly the same variables: a new vocabulary size (a category appeared),
another cross bucket count or other layer sizes change the shapes, and the model
then starts fresh. The decision is logged and written next to the TensorBoard logs
(``warm_start.json`` in the Trainer's ModelRun), where the run summary reads it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import tensorflow as tf
import tf_keras as keras
from absl import logging

DECISION_FILE = "warm_start.json"


@dataclasses.dataclass(frozen=True)
class WarmStart:
    """What the Trainer started from.

    Attributes:
        warm_started: Whether the weights were loaded from ``base_model``.
        base_model: The base model's SavedModel directory (None: none resolved or
            warm start is off).
        reason: One sentence saying why (which variable differs, for a fresh start).
    """

    warm_started: bool
    base_model: str | None
    reason: str

    def to_json(self) -> str:
        """Serialises the decision.

        Returns:
            A JSON object with the three attributes.
        """
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> WarmStart:
        """Reads a decision written by :meth:`to_json`.

        Args:
            text: The JSON text.

        Returns:
            The decision.
        """
        raw: dict[str, Any] = json.loads(text)
        return cls(bool(raw["warm_started"]), raw.get("base_model"), str(raw["reason"]))


def _variable_key(name: str) -> str:
    # Keras names variables "<layer>/<weight>:0"; a restored SavedModel keeps them.
    return name.split(":")[0]


def warm_start(model: keras.Model, base_model: str | None, enabled: bool = True) -> WarmStart:
    """Loads ``base_model``'s weights into ``model`` if every variable matches.

    Matching is by variable name and shape over the Keras model's weights. The
    exported SavedModel also carries the Transform layer's state, which is not
    trained and is ignored. The optimizer starts fresh: the served model does not
    keep its slots.

    Args:
        model: The freshly built (compiled) model, under the training strategy's scope.
        base_model: The latest blessed model's serving directory (``fn_args.base_model``),
            or None when no model was blessed before this span.
        enabled: The config's ``training.warm_start``.

    Returns:
        The decision; ``model``'s weights are the base model's iff ``warm_started``.
    """
    if not enabled:
        return WarmStart(False, None, "warm start is off (training.warm_start: false)")
    if not base_model:
        return WarmStart(False, None, "no model was blessed before this span")
    # The exported SavedModel holds exactly the Keras model's variables (the
    # Transform layer's vocabularies are assets and tables, not variables).
    restored = tf.saved_model.load(base_model)
    base = {_variable_key(v.name): v for v in restored.variables}
    wanted = {_variable_key(w.name): w for w in model.weights}
    mismatch = None
    for key, weight in wanted.items():
        if key not in base:
            mismatch = f"the base model has no variable {key}"
        elif tuple(base[key].shape) != tuple(weight.shape):
            mismatch = (
                f"{key} has shape {tuple(weight.shape)} now but {tuple(base[key].shape)} "
                "in the base model"
            )
        if mismatch:
            break
    if mismatch is None and set(base) - set(wanted):
        mismatch = f"the base model also has {', '.join(sorted(set(base) - set(wanted))[:3])}"
    if mismatch:
        return WarmStart(False, base_model, f"started fresh: {mismatch}")
    for key, weight in wanted.items():
        weight.assign(base[key])
    return WarmStart(True, base_model, f"warm-started from {base_model}")


def record(decision: WarmStart, model_run_dir: str) -> None:
    """Logs the decision and writes it into the Trainer's ModelRun directory.

    Args:
        decision: What :func:`warm_start` decided.
        model_run_dir: ``fn_args.model_run_dir``.
    """
    logging.info("Warm start: %s", decision.reason)
    tf.io.gfile.makedirs(model_run_dir)
    with tf.io.gfile.GFile(os.path.join(model_run_dir, DECISION_FILE), "w") as handle:
        handle.write(decision.to_json())
