"""The part of TFX's public ``tfx.v1`` API this project uses, without ``tfx.v1`` itself.

``from tfx import v1`` also imports ``tfx.v1.extensions``, which loads Google Cloud's
AI Platform client library: about a third of a run's import time and ~120 MiB of
memory, for nothing in a local run or an Airflow task (see docs/benchmarks.md).
These are the same objects ``tfx.v1`` re-exports, imported from the TFX modules
that define them, under the same dotted names (``tfx.components.Trainer``,
``tfx.dsl.Resolver``, ``tfx.proto.TrainArgs`` ...), so code reads as it would with
``from tfx import v1 as tfx``. A name used from ``tfx.v1`` must be added here.
"""

from __future__ import annotations

from types import SimpleNamespace

from tfx.components.evaluator.component import Evaluator
from tfx.components.example_gen.csv_example_gen.component import CsvExampleGen
from tfx.components.example_validator.component import ExampleValidator
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.components.statistics_gen.component import StatisticsGen
from tfx.components.trainer.component import Trainer
from tfx.components.trainer.fn_args_utils import DataAccessor, FnArgs
from tfx.components.transform.component import Transform
from tfx.dsl.components.common.resolver import Resolver
from tfx.orchestration.pipeline import Pipeline
from tfx.proto.example_gen_pb2 import Input, Output, SplitConfig
from tfx.proto.pusher_pb2 import PushDestination
from tfx.proto.range_config_pb2 import RangeConfig, StaticRange
from tfx.proto.trainer_pb2 import EvalArgs, TrainArgs
from tfx.types import standard_artifacts
from tfx.types.channel import Channel

tfx = SimpleNamespace(
    components=SimpleNamespace(
        CsvExampleGen=CsvExampleGen,
        DataAccessor=DataAccessor,
        Evaluator=Evaluator,
        ExampleValidator=ExampleValidator,
        FnArgs=FnArgs,
        ImportSchemaGen=ImportSchemaGen,
        StatisticsGen=StatisticsGen,
        Trainer=Trainer,
        Transform=Transform,
    ),
    dsl=SimpleNamespace(Channel=Channel, Pipeline=Pipeline, Resolver=Resolver),
    proto=SimpleNamespace(
        EvalArgs=EvalArgs,
        Input=Input,
        Output=Output,
        PushDestination=PushDestination,
        RangeConfig=RangeConfig,
        SplitConfig=SplitConfig,
        StaticRange=StaticRange,
        TrainArgs=TrainArgs,
    ),
    types=SimpleNamespace(standard_artifacts=standard_artifacts),
)
