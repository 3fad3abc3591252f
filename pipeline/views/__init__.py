"""Rendering: the text summary, the HTML run report, runs and lineage text, Prometheus."""
