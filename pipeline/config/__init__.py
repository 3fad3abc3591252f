"""The typed, frozen pipeline config, loaded once at the edge from a YAML file.

Sections mirror the YAML: ``config.data``, ``config.training``, ``config.evaluation``,
``config.validation``, ``config.outputs``, ``config.export``, ``config.serving``, and
``config.features`` and ``config.model``, which the model code defines. Environment
variables override paths only in the runners (see :func:`with_env_overrides`).

**Where relative paths point.** A relative path in a config file (``schema_file``,
``data.input_base``, ``validation.skew.serving_data``, everything under ``outputs``)
resolves against that file's directory, so a user's config means the same from any
directory. The configs bundled in the package (``pipeline/configs/*.yaml``) are the
exception: their relative paths (``schemas/...``, ``data/...``, ``outputs``) resolve
against the current working directory, so the default config works from a repository
checkout (``make run`` at its root) and from a wheel install run in a directory that
holds ``data/`` and ``schemas/``. Absolute paths stay as they are; ``$VARS`` expand.

**How validation is declared.** pydantic v2 checks every value: each field's type
carries its constraints and the phrase its error shows (:mod:`.fields`). Why frozen
dataclasses rather than pydantic models: every caller reads attributes, copies with
``dataclasses.replace`` and relies on ``FrozenInstanceError``; pydantic dataclasses
*are* standard dataclasses, so the sections whose YAML is their typed shape
(``data``, ``training``, ``export``, the drift and skew limits) are pydantic
dataclasses that validate themselves (:mod:`.sections`). Three sections are written
in a shorthand that differs from what the pipeline reads (``outputs.root``,
``validation.skew.serving_data``, ``evaluation.slice_thresholds[].slice``): a private
model of the file's shape validates them and builds the frozen section
(:mod:`.loading`; the evaluation section's, with the gate metric's direction, in
:mod:`.evaluation`). Unknown keys are rejected everywhere (``extra="forbid"``), and
:func:`load_config` turns pydantic's errors into one :class:`ConfigError` naming the
file and each key.
"""

from pipeline.config.loading import (
    BUNDLED_CONFIGS,
    DEFAULT_CONFIG,
    ENV_DATA_ROOT,
    ENV_METADATA_PATH,
    ENV_OUTPUT_ROOT,
    ENV_SERVING_DIR,
    ConfigError,
    load_config,
    with_env_overrides,
)
from pipeline.config.sections import (
    DEFAULT_LOCK_TIMEOUT_SECONDS,
    AirflowConfig,
    AlertsConfig,
    DataConfig,
    DistanceThresholds,
    EmailAlerts,
    EvaluationConfig,
    ExportConfig,
    MinImprovement,
    OutputsConfig,
    PipelineConfig,
    ServingConfig,
    SliceThreshold,
    TrainingConfig,
    ValidationConfig,
)

__all__ = [
    "BUNDLED_CONFIGS",
    "DEFAULT_CONFIG",
    "DEFAULT_LOCK_TIMEOUT_SECONDS",
    "ENV_DATA_ROOT",
    "ENV_METADATA_PATH",
    "ENV_OUTPUT_ROOT",
    "ENV_SERVING_DIR",
    "AirflowConfig",
    "AlertsConfig",
    "ConfigError",
    "DataConfig",
    "DistanceThresholds",
    "EmailAlerts",
    "EvaluationConfig",
    "ExportConfig",
    "MinImprovement",
    "OutputsConfig",
    "PipelineConfig",
    "ServingConfig",
    "SliceThreshold",
    "TrainingConfig",
    "ValidationConfig",
    "load_config",
    "with_env_overrides",
]
