"""Tools for developing the pipeline; nothing here runs in a pipeline run.

The click-log generator (``clickgen``), the example datasets (``example_data``), the
pre-flight check of ``make`` (``preflight``), the benchmark harness (``bench``), and
what the tests and the bench share: throw-away MariaDB and PostgreSQL servers
(``services``) and a real Airflow scheduler on them (``airflow_stack``).
"""
