"""The Trainer's ``run_fn``: a thin join of feature spec, training loop and exporter."""

from __future__ import annotations

import tensorflow_transform as tft
from absl import logging
from tfx.components.trainer.fn_args_utils import FnArgs

from components.model.exporter import export
from components.model.features import FeatureSpec
from components.model.preprocessing import FEATURES_KEY
from components.model.training import hyperparameters_from, train

STRATEGY_KEY = "distribution_strategy"
WARM_START_KEY = "warm_start"


def run_fn(fn_args: FnArgs) -> None:
    """TFX Trainer entry point (referenced by dotted path, not ``module_file``).

    Args:
        fn_args: Trainer arguments; ``custom_config`` carries the feature spec, the
            hyperparameters and the distribution strategy from the pipeline config,
            and ``train_steps``/``eval_steps`` come from the Trainer's train/eval args;
            ``base_model`` is the latest model blessed before this span (warm start).
    """
    spec = FeatureSpec.from_dict(fn_args.custom_config[FEATURES_KEY])
    hparams = hyperparameters_from(fn_args.custom_config)
    logging.info("Training %s with %s", spec, hparams)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    model = train(
        spec=spec,
        hparams=hparams,
        strategy_name=fn_args.custom_config.get(STRATEGY_KEY, "default"),
        train_files=fn_args.train_files,
        eval_files=fn_args.eval_files,
        data_accessor=fn_args.data_accessor,
        tf_transform_output=tf_transform_output,
        log_dir=fn_args.model_run_dir,
        train_steps=fn_args.train_steps,
        eval_steps=fn_args.eval_steps,
        base_model=fn_args.base_model,
        warm_start_enabled=bool(fn_args.custom_config.get(WARM_START_KEY, False)),
    )
    export(model, spec, tf_transform_output, fn_args.serving_model_dir)
