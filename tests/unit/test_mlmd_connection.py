"""ML Metadata credentials from the Airflow connection ``mlmd_default``.

Real Airflow: the connection is given as ``AIRFLOW_CONN_MLMD_DEFAULT`` (URI or JSON)
or through Airflow's local-filesystem secrets backend, and parsed by Airflow itself.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from pipeline.config import DEFAULT_CONFIG, ConfigError, OutputsConfig, PipelineConfig, load_config
from pipeline.mlmd import connection as metadata
from tests.support.cli import REPO

# Every character a URI gives a meaning to, and one outside ASCII.
PASSWORD = "p@ss:w/rd#%?&=+ é"
URI = f"mysql://pipeline:{quote(PASSWORD, safe='')}@db.internal:3307/mlmd"
AS_JSON = json.dumps(
    {
        "conn_type": "mysql",
        "host": "db.internal",
        "port": 3307,
        "schema": "mlmd",
        "login": "pipeline",
        "password": PASSWORD,
    }
)
# A secrets backend Airflow ships: connections from a local JSON file.
BACKEND = "airflow.secrets.local_filesystem.LocalFilesystemBackend"
MYSQL_ENV = {
    "MLMD_MYSQL_HOST": "env.internal",
    "MLMD_MYSQL_DATABASE": "from_env",
    "MLMD_MYSQL_USER": "env_user",
    "MLMD_MYSQL_PASSWORD": "env-password",
}


@pytest.fixture()
def config(tmp_path: Path) -> PipelineConfig:
    loaded = load_config(DEFAULT_CONFIG)
    return dataclasses.replace(
        loaded,
        outputs=OutputsConfig(
            tmp_path / "root", tmp_path / "md" / "m.sqlite", tmp_path / "serving"
        ),
    )


@pytest.fixture(autouse=True)
def no_inherited_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starts each test without MLMD or Airflow connection settings from the shell."""
    for key in (*metadata.MYSQL_ENV, metadata.ENV_AIRFLOW_CONN, metadata.ENV_AIRFLOW_TASK):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.delenv("AIRFLOW__SECRETS__BACKEND", raising=False)
    monkeypatch.delenv("AIRFLOW__SECRETS__BACKEND_KWARGS", raising=False)


def _assert_from_connection(connection, password: str = PASSWORD) -> None:
    assert connection.WhichOneof("config") == "mysql"
    mysql = connection.mysql
    assert (mysql.host, mysql.port, mysql.database) == ("db.internal", 3307, "mlmd")
    assert (mysql.user, mysql.password) == ("pipeline", password)
    # What people see never carries the password.
    assert metadata.describe(connection) == "mysql://pipeline@db.internal:3307/mlmd"


@pytest.mark.parametrize("form", [URI, AS_JSON], ids=["uri", "json"])
def test_airflow_connection_from_the_environment(
    config, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MLMD_DEFAULT", form)
    _assert_from_connection(metadata.connection_config(config))
    assert not (config.outputs.metadata_path.parent).exists()


def test_a_uri_airflow_wrote_round_trips_the_password(config, monkeypatch) -> None:
    from airflow.models.connection import Connection

    uri = Connection(
        conn_id="mlmd_default",
        conn_type="mysql",
        host="db.internal",
        port=3307,
        schema="mlmd",
        login="pipeline",
        password=PASSWORD,
    ).get_uri()
    assert PASSWORD not in uri  # URL-encoded
    monkeypatch.setenv("AIRFLOW_CONN_MLMD_DEFAULT", uri)
    _assert_from_connection(metadata.connection_config(config))


def test_mlmd_mysql_variables_win_over_the_airflow_connection(config, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MLMD_DEFAULT", URI)
    connection = metadata.connection_config(config, {**os.environ, **MYSQL_ENV})
    assert (connection.mysql.host, connection.mysql.database) == ("env.internal", "from_env")
    assert (connection.mysql.user, connection.mysql.password) == ("env_user", "env-password")


def test_sqlite_without_mysql_variables_or_airflow_connection(config) -> None:
    connection = metadata.connection_config(config, dict(os.environ))
    assert connection.sqlite.filename_uri == str(config.outputs.metadata_path)


def test_port_defaults_to_3306(config, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MLMD_DEFAULT", "mysql://pipeline:pw@db.internal/mlmd")
    assert metadata.connection_config(config).mysql.port == 3306


def test_a_connection_of_another_type_is_a_clear_error(config, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MLMD_DEFAULT", "postgres://pipeline:s3cret@db/mlmd")
    with pytest.raises(ConfigError, match="mlmd_default is of type 'postgres'") as raised:
        metadata.connection_config(config)
    assert "'mysql'" in str(raised.value)
    assert "s3cret" not in str(raised.value)


def test_a_connection_without_database_names_what_is_missing(config, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MLMD_DEFAULT", "mysql://pipeline:s3cret@db.internal:3306")
    with pytest.raises(ConfigError, match=r"mlmd_default has no schema \(the database\)"):
        metadata.connection_config(config)


def test_an_unparseable_uri_is_an_error_without_the_password(config, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MLMD_DEFAULT", "mysql://pipeline:s3cret@db:port/mlmd")
    with pytest.raises(ConfigError, match="AIRFLOW_CONN_MLMD_DEFAULT is not a connection") as e:
        metadata.connection_config(config)
    assert "s3cret" not in str(e.value)
    assert e.value.__cause__ is None and e.value.__suppress_context__


def test_a_secrets_backend_is_asked_before_the_variable(
    config, monkeypatch, tmp_path: Path
) -> None:
    # Airflow's own order: a configured backend first, then AIRFLOW_CONN_*.
    connections = tmp_path / "connections.json"
    connections.write_text(json.dumps({"mlmd_default": json.loads(AS_JSON)}))
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND", BACKEND)
    monkeypatch.setenv(
        "AIRFLOW__SECRETS__BACKEND_KWARGS",
        json.dumps({"connections_file_path": str(connections)}),
    )
    _assert_from_connection(metadata.connection_config(config))
    monkeypatch.setenv("AIRFLOW_CONN_MLMD_DEFAULT", "mysql://other:pw@elsewhere/other")
    _assert_from_connection(metadata.connection_config(config))


def test_a_failing_secrets_backend_is_a_clear_error(config, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND", BACKEND)
    monkeypatch.setenv(
        "AIRFLOW__SECRETS__BACKEND_KWARGS",
        json.dumps({"connections_file_path": str(tmp_path / "absent.json")}),
    )
    with pytest.raises(ConfigError, match="secrets backend LocalFilesystemBackend"):
        metadata.connection_config(config)


def test_inside_a_task_airflow_looks_the_connection_up(config, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MLMD_DEFAULT", URI)
    task_env = {**os.environ, "AIRFLOW_CTX_DAG_ID": "clicks_pipeline"}
    _assert_from_connection(metadata.connection_config(config, task_env))


@pytest.fixture()
def metastore(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Airflow's metastore for this test: a SQLite database with its connection table.

    Yields:
        A session factory over it; Airflow's MetastoreBackend reads through it.
    """
    import sqlalchemy
    from airflow import settings
    from airflow.models.connection import Connection
    from sqlalchemy.orm import sessionmaker

    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'airflow.db'}")
    Connection.__table__.create(engine)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    monkeypatch.setattr(settings, "Session", factory)
    yield factory
    engine.dispose()


def test_inside_a_task_the_metastore_is_asked(config, metastore) -> None:
    from airflow.models.connection import Connection

    with metastore() as session:
        session.add(Connection(conn_id="mlmd_default", uri=URI))
        session.commit()
    task_env = {**os.environ, "AIRFLOW_CTX_DAG_ID": "clicks_pipeline"}
    _assert_from_connection(metadata.connection_config(config, task_env))
    # Outside a task the same metastore is never read.
    outside = metadata.connection_config(config, dict(os.environ))
    assert outside.sqlite.filename_uri == str(config.outputs.metadata_path)


def test_inside_a_task_without_the_connection_sqlite(config, metastore) -> None:
    task_env = {**os.environ, "AIRFLOW_CTX_DAG_ID": "clicks_pipeline"}
    connection = metadata.connection_config(config, task_env)
    assert connection.sqlite.filename_uri == str(config.outputs.metadata_path)


def test_outside_airflow_nothing_of_airflow_is_touched(tmp_path: Path) -> None:
    # A fresh interpreter: this one may have imported Airflow for other tests.
    airflow_home = tmp_path / "airflow-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLMD_"))}
    code = (
        "import sys\n"
        "from pipeline.config import DEFAULT_CONFIG, load_config\n"
        "from pipeline.mlmd import connection\n"
        "c = connection.connection_config(load_config(DEFAULT_CONFIG), {})\n"
        "assert c.WhichOneof('config') == 'sqlite', c\n"
        "assert 'airflow' not in sys.modules\n"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**env, "AIRFLOW_HOME": str(airflow_home), "PYTHONPATH": str(REPO)},
        check=True,
    )
    assert not airflow_home.exists()
