"""Airflow DAG file: the daily TFX retraining DAG (see pipeline.run.airflow_dag).

Configure with environment variables or Airflow Variables, not by editing this file:
PIPELINE_CONFIG selects the pipeline config; docs/production.md lists the rest.
"""

from pipeline.run.airflow_dag import build_dag

dag = build_dag()
