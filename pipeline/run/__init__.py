"""Runners: the local run, the Airflow DAG, TFX IR launches and the window backfill."""
