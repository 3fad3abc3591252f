"""Onboarding a dataset: statistics as the pipeline sees them, the schema, a starter config.

``python -m pipeline init`` writes a config and a schema from the data;
``python -m pipeline schema`` infers or updates the schema. Both read the spans of
the training window through the pipeline's own ExampleGen (:mod:`.statistics`).
"""
