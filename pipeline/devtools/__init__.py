"""Tools for developing the pipeline; nothing here runs in a pipeline run.

The click-log generator (``clickgen``), the example datasets (``example_data``), the
pre-flight check of ``make`` (``preflight``) and the benchmark harness (``bench``).
"""
