"""Operations over ML Metadata: run history, lineage, diffs, promote and rollback.

Each module works on an ``ml_metadata.MetadataStore`` (SQLite locally, MySQL in
production; see :mod:`pipeline.mlmd.connection`) and returns frozen dataclasses that the
CLI renders as tables or JSON.
"""
