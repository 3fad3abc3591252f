"""Node ids of the pipeline, in execution order, and their dependencies.

Kept apart from :mod:`pipeline.pipeline` (which imports TFX and TFMA) so the run
summary, the tests and an Airflow DAG file can name nodes without those imports.
"""

EXAMPLE_GEN = "CsvExampleGen"
STATISTICS_GEN = "StatisticsGen"
SCHEMA_GEN = "ImportSchemaGen"
EXAMPLE_VALIDATOR = "ExampleValidator"
DATA_GATE = "DataGate"
SPAN_WINDOW = "span_window"
TRANSFORM = "Transform"
TRAINER = "Trainer"
BASELINE = "latest_blessed_model"
EVALUATOR = "Evaluator"
PUSHER = "Pusher"

# Resolver nodes only look artifacts up in ML Metadata; they run no executor.
RESOLVERS = (SPAN_WINDOW, BASELINE)

# Each node's upstream nodes: the task graph an Airflow DAG builds without importing
# TFX. tests/test_pipeline_topology.py checks it against the compiled pipeline.
UPSTREAM: dict[str, tuple[str, ...]] = {
    EXAMPLE_GEN: (),
    SCHEMA_GEN: (),
    STATISTICS_GEN: (EXAMPLE_GEN,),
    EXAMPLE_VALIDATOR: (STATISTICS_GEN, SCHEMA_GEN),
    DATA_GATE: (EXAMPLE_GEN, EXAMPLE_VALIDATOR),
    SPAN_WINDOW: (EXAMPLE_GEN,),
    TRANSFORM: (SCHEMA_GEN, SPAN_WINDOW, DATA_GATE),
    TRAINER: (SCHEMA_GEN, TRANSFORM),
    BASELINE: (TRAINER,),
    EVALUATOR: (EXAMPLE_GEN, TRAINER, BASELINE),
    PUSHER: (TRAINER, EVALUATOR),
}
