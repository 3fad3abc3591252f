"""The benchmark harness behind ``make bench`` (``python -m pipeline.devtools.bench``)."""
