"""The ML Metadata connection a runner hands to the pipeline.

SQLite (the config's ``outputs.metadata_path``) by default; MySQL when
``MLMD_MYSQL_HOST`` is set in the runner's environment. Credentials only ever come
from the environment (see ``.env.example``).
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Mapping
from pathlib import Path

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from pipeline.config import ConfigError, PipelineConfig

ENV_MYSQL_HOST = "MLMD_MYSQL_HOST"
ENV_MYSQL_PORT = "MLMD_MYSQL_PORT"
ENV_MYSQL_DATABASE = "MLMD_MYSQL_DATABASE"
ENV_MYSQL_USER = "MLMD_MYSQL_USER"
ENV_MYSQL_PASSWORD = "MLMD_MYSQL_PASSWORD"
MYSQL_ENV = (ENV_MYSQL_HOST, ENV_MYSQL_PORT, ENV_MYSQL_DATABASE, ENV_MYSQL_USER, ENV_MYSQL_PASSWORD)
# Attempts at a first connection (TFX's own Metadata retries as often).
CONNECT_ATTEMPTS = 10


def connection_config(
    config: PipelineConfig, environ: Mapping[str, str] | None = None
) -> metadata_store_pb2.ConnectionConfig:
    """Returns the MLMD connection for a run.

    Args:
        config: The pipeline config (``outputs.metadata_path`` for SQLite).
        environ: The runner's environment (default ``os.environ``); ``MLMD_MYSQL_HOST``
            switches to MySQL with ``MLMD_MYSQL_PORT`` (default 3306),
            ``MLMD_MYSQL_DATABASE``, ``MLMD_MYSQL_USER`` and ``MLMD_MYSQL_PASSWORD``.

    Returns:
        A connection config; MLMD creates the SQLite file or MySQL schema on first use.

    Raises:
        ConfigError: If MySQL is selected but the database or user is missing, or the
            port is not a number.
    """
    env = os.environ if environ is None else environ
    connection = metadata_store_pb2.ConnectionConfig()
    if env.get(ENV_MYSQL_HOST):
        missing = [key for key in (ENV_MYSQL_DATABASE, ENV_MYSQL_USER) if not env.get(key)]
        if missing:
            raise ConfigError(
                f"{ENV_MYSQL_HOST} is set, so ML Metadata goes to MySQL, but "
                f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set"
            )
        port = env.get(ENV_MYSQL_PORT) or "3306"
        if not port.isdigit():
            raise ConfigError(f"{ENV_MYSQL_PORT} must be a port number, got {port!r}")
        connection.mysql.host = env[ENV_MYSQL_HOST]
        connection.mysql.port = int(port)
        connection.mysql.database = env[ENV_MYSQL_DATABASE]
        connection.mysql.user = env[ENV_MYSQL_USER]
        connection.mysql.password = env.get(ENV_MYSQL_PASSWORD, "")
        return connection
    path = Path(config.outputs.metadata_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    connection.sqlite.filename_uri = str(path)
    connection.sqlite.connection_mode = (
        metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    )
    return connection


def describe(connection: metadata_store_pb2.ConnectionConfig) -> str:
    """Names a connection for people, without its password.

    Args:
        connection: An MLMD connection config.

    Returns:
        ``mysql://user@host:port/database`` or the SQLite file path.
    """
    if connection.HasField("mysql"):
        mysql = connection.mysql
        return f"mysql://{mysql.user}@{mysql.host}:{mysql.port}/{mysql.database}"
    return connection.sqlite.filename_uri


def open_store(
    config: PipelineConfig, environ: Mapping[str, str] | None = None
) -> mlmd.MetadataStore:
    """Opens the pipeline's metadata store.

    Args:
        config: The pipeline config.
        environ: The runner's environment (see :func:`connection_config`).

    Returns:
        A store over the same connection the runners use.
    """
    return connect(connection_config(config, environ))


def connect(connection: metadata_store_pb2.ConnectionConfig) -> mlmd.MetadataStore:
    """Opens a store, retrying while another process creates its schema.

    MLMD creates its tables on the first connection to an empty database. Two runs
    starting at once against a new MySQL database both do, and the slower one fails
    with "MLMDEnv table exists but no schema_version can be found. This may be due
    to concurrent connection to the empty database. Please retry connection." TFX's
    own connections retry (up to 10 times, a random pause of up to 1 s between);
    this does the same for the pipeline's own reads and writes.

    Args:
        connection: The ML Metadata connection.

    Returns:
        The open store.

    Raises:
        RuntimeError: If the last attempt still fails (MLMD's message).
    """
    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        try:
            return mlmd.MetadataStore(connection)
        except RuntimeError as err:
            if attempt == CONNECT_ATTEMPTS:
                raise
            logging.warning("Connecting to ML Metadata failed (%s); retrying", err)
            time.sleep(random.random())
    raise AssertionError("unreachable")
