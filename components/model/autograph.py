"""Keeps AutoGraph out of ``tf_keras``'s own code, as TensorFlow keeps it out of Keras.

AutoGraph rewrites the Python of every function a ``tf.function`` calls, unless the
function's module is on its list of libraries already written for graph mode.
TensorFlow 2.16's list has ``keras`` (Keras 2 as TF used to bundle it) but not
``tf_keras``, the same Keras 2 code under the package name TFX 1.16 needs. So every
first ``fit`` and every export re-parsed and re-generated Keras' train step, loss,
metrics and optimizer code: ~150 functions, 30 s of a 33 s Trainer on the penguin
data (see docs/benchmarks.md). Adding ``tf_keras`` to the list restores what
``keras`` always had; the traced graphs, and so the trained model, are the same.
"""

from __future__ import annotations

from tensorflow.python.autograph.core import config as autograph_config

TF_KERAS = "tf_keras"


def skip_autograph_for_tf_keras() -> None:
    """Adds ``tf_keras`` to AutoGraph's do-not-convert libraries (idempotent).

    TensorFlow has no public switch for this list; the rule is the one its own list
    holds for ``keras`` (``tensorflow/python/autograph/core/config.py``).
    """
    rules = autograph_config.CONVERSION_RULES
    if any(
        isinstance(rule, autograph_config.DoNotConvert) and rule.matches(TF_KERAS) for rule in rules
    ):
        return
    autograph_config.CONVERSION_RULES = (autograph_config.DoNotConvert(TF_KERAS), *rules)
