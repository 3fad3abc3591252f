"""The Trainer's ``run_fn``: a thin join of feature spec, training loop and exporter."""

from __future__ import annotations

import tensorflow_transform as tft
from absl import logging
from tfx.components.trainer.fn_args_utils import FnArgs

from components.model.exporter import export
from components.model.features import FeatureSpec
from components.model.preprocessing import FEATURES_KEY
from components.model.training import epoch_steps, hyperparameters_from, train

STRATEGY_KEY = "distribution_strategy"
WARM_START_KEY = "warm_start"
# custom_config key: whether the Trainer's examples are Transform's materialised
# output (True) or the window's raw examples it transforms itself (False). Absent
# means materialised (how pipelines built before this key trained).
MATERIALIZED_KEY = "materialized_examples"
# The bench's switch for the no-materialisation lever (read when the pipeline is
# built): True has Transform write the transformed window (every span, every run)
# and the Trainer read it; False (faster, docs/architecture.md) has Transform write
# only its graph and the Trainer apply it to the raw window.
MATERIALIZE_TRANSFORMED = False


def run_fn(fn_args: FnArgs) -> None:
    """TFX Trainer entry point (referenced by dotted path, not ``module_file``).

    Args:
        fn_args: Trainer arguments; ``custom_config`` carries the feature spec, the
            hyperparameters and the distribution strategy from the pipeline config,
            and ``train_steps``/``eval_steps`` come from the Trainer's train/eval args;
            ``base_model`` is the latest model blessed before this span (warm start).
            ``custom_config["materialized_examples"]`` says whether the examples are
            Transform's output or the raw window.
    """
    spec = FeatureSpec.from_dict(fn_args.custom_config[FEATURES_KEY])
    hparams = hyperparameters_from(fn_args.custom_config)
    logging.info("Training %s with %s", spec, hparams)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    # The window is oldest span first (PassedSpanWindowStrategy), and TFX lists one
    # train pattern per Examples artifact in that order: the last is the newest span.
    train_steps = epoch_steps(
        fn_args.train_steps,
        hparams.train_epochs,
        fn_args.train_files[-1] if fn_args.train_files else None,
        hparams.batch_size,
    )
    model = train(
        spec=spec,
        hparams=hparams,
        strategy_name=fn_args.custom_config.get(STRATEGY_KEY, "default"),
        train_files=fn_args.train_files,
        eval_files=fn_args.eval_files,
        data_accessor=fn_args.data_accessor,
        tf_transform_output=tf_transform_output,
        log_dir=fn_args.model_run_dir,
        train_steps=train_steps,
        eval_steps=fn_args.eval_steps,
        base_model=fn_args.base_model,
        warm_start_enabled=bool(fn_args.custom_config.get(WARM_START_KEY, False)),
        materialized=bool(fn_args.custom_config.get(MATERIALIZED_KEY, True)),
    )
    export(model, spec, tf_transform_output, fn_args.serving_model_dir)
