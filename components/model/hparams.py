"""Model and training hyperparameters (the config's ``model`` section).

Kept free of TensorFlow imports: the config loader (and so the Airflow DAG file,
which must parse in well under Airflow's 30 s budget) reads it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

STRATEGIES = ("default", "mirrored", "multi_worker_mirrored")
# A daily retrain beyond this many passes over one day is a mistyped value, not a plan.
MAX_TRAIN_EPOCHS = 100


@dataclasses.dataclass(frozen=True)
class Hyperparameters:
    """Model and training hyperparameters (the config's ``model`` section).

    Attributes:
        hidden_units: Sizes of the deep tower's dense layers.
        embedding_dim: Embedding width for each categorical/bucketized feature.
        cross_buckets: Hash buckets for each feature cross in the wide part.
        dropout: Dropout rate after each hidden layer.
        learning_rate: Adam learning rate.
        batch_size: Examples per training and evaluation batch: the global batch,
            which a distribution strategy splits across its replicas.
        train_steps: Training steps (batches) per run, at least.
        train_epochs: Passes over the newest span's train split per run, at least
            (0: off, ``train_steps`` alone decides). The Trainer trains
            ``max(train_steps, ceil(train_epochs * rows / batch_size))`` steps, so a
            big day is seen whole and a small day still gets ``train_steps``.
        eval_steps: Validation steps after training.
        seed: Seeds weight initialisation and input shuffling, so retraining on the
            same data gives the same model (and the same evaluation).
    """

    hidden_units: tuple[int, ...] = (64, 32)
    embedding_dim: int = 8
    cross_buckets: int = 1000
    dropout: float = 0.0
    learning_rate: float = 0.001
    batch_size: int = 128
    train_steps: int = 500
    train_epochs: float = 0.0
    eval_steps: int = 50
    seed: int = 42

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Hyperparameters:
        """Builds hyperparameters from a mapping, rejecting unknown keys.

        Args:
            raw: The config's ``model`` section (or :func:`dataclasses.asdict` output).

        Returns:
            The hyperparameters.

        Raises:
            ValueError: On an unknown key or a non-positive size.
        """
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"unknown model keys {unknown}; known keys are {sorted(known)}")
        values = dict(raw)
        if "hidden_units" in values:
            values["hidden_units"] = tuple(int(u) for u in values["hidden_units"])
            if any(u < 1 for u in values["hidden_units"]):
                raise ValueError("model.hidden_units must be positive integers")
        if "train_epochs" in values:
            # YAML's 1 and 1.0 must be one cache key (custom_config) and one value.
            try:
                values["train_epochs"] = float(values["train_epochs"])
            except (TypeError, ValueError):
                values["train_epochs"] = -1.0  # reported below with the valid range
        hparams = cls(**values)
        for name in ("embedding_dim", "cross_buckets", "batch_size", "train_steps", "eval_steps"):
            if int(getattr(hparams, name)) < 1:
                raise ValueError(f"model.{name} must be a positive integer")
        if not 0 <= hparams.train_epochs <= MAX_TRAIN_EPOCHS:
            raise ValueError(
                f"model.train_epochs must be a number from 0 (off) to {MAX_TRAIN_EPOCHS}"
            )
        if hparams.learning_rate <= 0:
            raise ValueError("model.learning_rate must be positive")
        if not 0.0 <= hparams.dropout < 1.0:
            raise ValueError("model.dropout must be in [0, 1)")
        return hparams

    def to_dict(self) -> dict[str, Any]:
        """Serialises for TFX ``custom_config`` (JSON-able).

        Returns:
            A dict that :meth:`from_dict` turns back into equal hyperparameters.
        """
        values = dataclasses.asdict(self)
        values["hidden_units"] = list(self.hidden_units)
        return values
