"""The ML Metadata connection a runner hands to the pipeline."""

from __future__ import annotations

from pathlib import Path

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from pipeline.config import PipelineConfig


def connection_config(config: PipelineConfig) -> metadata_store_pb2.ConnectionConfig:
    """Returns the MLMD connection for ``config``: a SQLite file for local runs.

    Args:
        config: The pipeline config (``outputs.metadata_path``).

    Returns:
        A connection config; the database file is created on first use.
    """
    path = Path(config.outputs.metadata_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = str(path)
    connection.sqlite.connection_mode = (
        metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    )
    return connection


def open_store(config: PipelineConfig) -> mlmd.MetadataStore:
    """Opens the pipeline's metadata store.

    Args:
        config: The pipeline config.

    Returns:
        A store over the same connection the runners use.
    """
    return mlmd.MetadataStore(connection_config(config))
