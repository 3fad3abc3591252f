"""The ML Metadata connection a runner hands to the pipeline.

Three sources, first match wins:

1. ``MLMD_MYSQL_*`` variables in the runner's environment (when ``MLMD_MYSQL_HOST``
   is set): MySQL.
2. The Airflow connection ``mlmd_default`` (type ``mysql``), read through Airflow's
   own API, so credentials can live in a secrets backend. Airflow is consulted only
   where it can answer without side effects; see :func:`airflow_connection`.
3. SQLite at the config's ``outputs.metadata_path``.

Credentials only ever come from the environment or from Airflow (see
``.env.example`` and ``docs/production.md``).
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from pipeline.config import ConfigError, PipelineConfig

if TYPE_CHECKING:
    from airflow.models.connection import Connection

ENV_MYSQL_HOST = "MLMD_MYSQL_HOST"
ENV_MYSQL_PORT = "MLMD_MYSQL_PORT"
ENV_MYSQL_DATABASE = "MLMD_MYSQL_DATABASE"
ENV_MYSQL_USER = "MLMD_MYSQL_USER"
ENV_MYSQL_PASSWORD = "MLMD_MYSQL_PASSWORD"
MYSQL_ENV = (ENV_MYSQL_HOST, ENV_MYSQL_PORT, ENV_MYSQL_DATABASE, ENV_MYSQL_USER, ENV_MYSQL_PASSWORD)
MYSQL_DEFAULT_PORT = 3306
# The Airflow connection holding ML Metadata's MySQL credentials, and the variable
# Airflow's environment-variable secrets backend reads it from (URI or JSON form).
AIRFLOW_CONN_ID = "mlmd_default"
ENV_AIRFLOW_CONN = "AIRFLOW_CONN_MLMD_DEFAULT"
# Airflow exports the task context (AIRFLOW_CTX_DAG_ID, ...) into the environment
# of every task it runs: its metastore is configured and reachable there.
ENV_AIRFLOW_TASK = "AIRFLOW_CTX_DAG_ID"
# A secrets backend configured through the environment (Airflow's [secrets] backend).
ENV_AIRFLOW_SECRETS_BACKEND = "AIRFLOW__SECRETS__BACKEND"
# Attempts at a first connection (TFX's own Metadata retries as often).
CONNECT_ATTEMPTS = 10


def connection_config(
    config: PipelineConfig, environ: Mapping[str, str] | None = None
) -> metadata_store_pb2.ConnectionConfig:
    """Returns the MLMD connection for a run.

    The first source that is set wins: the ``MLMD_MYSQL_*`` variables, then the
    Airflow connection ``mlmd_default`` (see :func:`airflow_connection` for when
    Airflow is asked), then SQLite.

    Args:
        config: The pipeline config (``outputs.metadata_path`` for SQLite).
        environ: The runner's environment (default ``os.environ``); ``MLMD_MYSQL_HOST``
            switches to MySQL with ``MLMD_MYSQL_PORT`` (default 3306),
            ``MLMD_MYSQL_DATABASE``, ``MLMD_MYSQL_USER`` and ``MLMD_MYSQL_PASSWORD``.

    Returns:
        A connection config; MLMD creates the SQLite file or MySQL schema on first use.

    Raises:
        ConfigError: If MySQL is selected but the database or user is missing, or the
            port is not a number; or if the Airflow connection cannot be read or is
            not a complete ``mysql`` connection.
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
        port = env.get(ENV_MYSQL_PORT) or str(MYSQL_DEFAULT_PORT)
        if not port.isdigit():
            raise ConfigError(f"{ENV_MYSQL_PORT} must be a port number, got {port!r}")
        connection.mysql.host = env[ENV_MYSQL_HOST]
        connection.mysql.port = int(port)
        connection.mysql.database = env[ENV_MYSQL_DATABASE]
        connection.mysql.user = env[ENV_MYSQL_USER]
        connection.mysql.password = env.get(ENV_MYSQL_PASSWORD, "")
        return connection
    from_airflow = airflow_connection(env)
    if from_airflow is not None:
        connection.mysql.CopyFrom(mysql_config(from_airflow))
        logging.info(
            "ML Metadata: %s, from the Airflow connection %s",
            describe(connection),
            AIRFLOW_CONN_ID,
        )
        return connection
    path = Path(config.outputs.metadata_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    connection.sqlite.filename_uri = str(path)
    connection.sqlite.connection_mode = (
        metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    )
    return connection


def airflow_connection(environ: Mapping[str, str]) -> Connection | None:
    """Reads the Airflow connection ``mlmd_default``, where Airflow can answer.

    Airflow's full lookup (a configured secrets backend, then
    ``AIRFLOW_CONN_MLMD_DEFAULT``, then Airflow's metastore) needs Airflow's database.
    Outside Airflow (``python -m pipeline run`` on a laptop) that lookup would create
    an empty SQLite ``airflow.db`` or log a traceback, so Airflow is asked only when:

    - the run is an Airflow task (Airflow put ``AIRFLOW_CTX_DAG_ID`` in its
      environment): Airflow's full lookup, metastore included;
    - elsewhere, ``AIRFLOW_CONN_MLMD_DEFAULT`` or ``AIRFLOW__SECRETS__BACKEND`` is
      set: the configured secrets backend, then ``AIRFLOW_CONN_MLMD_DEFAULT`` from
      ``environ`` (Airflow parses both forms), never the metastore.

    Without any of these variables Airflow is not imported at all.

    Args:
        environ: The runner's environment.

    Returns:
        The connection, or None when Airflow is not asked or has no ``mlmd_default``.

    Raises:
        ConfigError: If ``AIRFLOW_CONN_MLMD_DEFAULT`` is set but Airflow is not
            installed or cannot parse it, or a secrets backend fails.
    """
    in_task = bool(environ.get(ENV_AIRFLOW_TASK))
    serialized = environ.get(ENV_AIRFLOW_CONN, "").strip()
    if not (in_task or serialized or environ.get(ENV_AIRFLOW_SECRETS_BACKEND)):
        return None
    try:
        # Lazily: importing Airflow costs ~1.5 s and creates $AIRFLOW_HOME/logs.
        from airflow.configuration import get_custom_secret_backend
        from airflow.exceptions import AirflowNotFoundException
        from airflow.models.connection import Connection
        from airflow.secrets.environment_variables import EnvironmentVariablesBackend
    except ImportError:
        if serialized:
            raise ConfigError(
                f"{ENV_AIRFLOW_CONN} is set, but Airflow, which reads it, is not "
                "installed: install the project's 'airflow' extra, or give ML Metadata's "
                f"MySQL server through {ENV_MYSQL_HOST} and the other MLMD_MYSQL_* "
                "variables instead"
            ) from None
        return None
    if in_task:
        try:
            return Connection.get_connection_from_secrets(AIRFLOW_CONN_ID)
        except AirflowNotFoundException:
            if serialized:
                # Airflow logged why it could not read the variable, and fell through.
                raise ConfigError(
                    f"{ENV_AIRFLOW_CONN} is set, but Airflow could not read the "
                    f"connection {AIRFLOW_CONN_ID} from it (see Airflow's message above "
                    "in the task log); expected a URI such as "
                    "mysql://user:password@host:3306/database or Airflow's JSON form"
                ) from None
            return None
    backend = get_custom_secret_backend()
    if backend is not None:
        try:
            found = backend.get_connection(conn_id=AIRFLOW_CONN_ID)
        except Exception as err:  # any backend's client error: say which backend
            raise ConfigError(
                f"Reading the Airflow connection {AIRFLOW_CONN_ID} from the secrets "
                f"backend {type(backend).__name__} ({ENV_AIRFLOW_SECRETS_BACKEND}) "
                f"failed: {err}"
            ) from err
        if found is not None:
            return found
    if not serialized:
        return None
    try:
        return EnvironmentVariablesBackend().deserialize_connection(AIRFLOW_CONN_ID, serialized)
    except Exception:
        # Not chained, nor Airflow's message quoted: both can carry the password.
        raise ConfigError(
            f"{ENV_AIRFLOW_CONN} is not a connection Airflow can parse: expected a URI "
            "such as mysql://user:password@host:3306/database (user and password "
            "URL-encoded) or Airflow's JSON form, e.g. "
            '{"conn_type": "mysql", "host": ..., "schema": ..., "login": ..., "password": ...}'
        ) from None


def mysql_config(airflow: Connection) -> metadata_store_pb2.MySQLDatabaseConfig:
    """Maps an Airflow ``mysql`` connection onto ML Metadata's MySQL config.

    Args:
        airflow: The Airflow connection: ``host``, ``port`` (default 3306),
            ``schema`` (the database), ``login`` and ``password``.

    Returns:
        ML Metadata's MySQL settings.

    Raises:
        ConfigError: If the connection is not of type ``mysql`` or lacks its host,
            schema or login.
    """
    if airflow.conn_type != "mysql":
        raise ConfigError(
            f"The Airflow connection {airflow.conn_id} is of type {airflow.conn_type!r}, "
            "but ML Metadata needs a 'mysql' connection (MySQL or MariaDB), e.g. "
            f"{ENV_AIRFLOW_CONN}=mysql://user:password@host:3306/database"
        )
    fields = (
        ("host", airflow.host),
        ("schema (the database)", airflow.schema),
        ("login", airflow.login),
    )
    missing = [name for name, value in fields if not value]
    if missing:
        raise ConfigError(
            f"The Airflow connection {airflow.conn_id} has no {' and no '.join(missing)}; "
            "ML Metadata needs all three, e.g. mysql://user:password@host:3306/database"
        )
    return metadata_store_pb2.MySQLDatabaseConfig(
        host=airflow.host,
        port=airflow.port or MYSQL_DEFAULT_PORT,
        database=airflow.schema,
        user=airflow.login,
        password=airflow.password or "",
    )


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
