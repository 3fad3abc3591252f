"""Node ids of the pipeline, in execution order.

Kept apart from :mod:`pipeline.pipeline` (which imports TFX and TFMA) so the run
summary, the tests and an Airflow DAG file can name nodes without those imports.
"""

EXAMPLE_GEN = "CsvExampleGen"
STATISTICS_GEN = "StatisticsGen"
SCHEMA_GEN = "ImportSchemaGen"
EXAMPLE_VALIDATOR = "ExampleValidator"
SPAN_WINDOW = "span_window"
TRANSFORM = "Transform"
TRAINER = "Trainer"
BASELINE = "latest_blessed_model"
EVALUATOR = "Evaluator"
PUSHER = "Pusher"

# Resolver nodes only look artifacts up in ML Metadata; they run no executor.
RESOLVERS = (SPAN_WINDOW, BASELINE)
