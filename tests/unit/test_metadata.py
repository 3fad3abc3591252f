"""The ML Metadata connection: SQLite by default, MySQL from the runner's environment."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pipeline.config import DEFAULT_CONFIG, ConfigError, OutputsConfig, load_config
from pipeline.mlmd import connection as metadata

MYSQL = {
    "MLMD_MYSQL_HOST": "db.internal",
    "MLMD_MYSQL_PORT": "3307",
    "MLMD_MYSQL_DATABASE": "mlmd",
    "MLMD_MYSQL_USER": "pipeline",
    "MLMD_MYSQL_PASSWORD": "s3cret",
}


@pytest.fixture()
def config(tmp_path: Path):
    loaded = load_config(DEFAULT_CONFIG)
    return dataclasses.replace(
        loaded,
        outputs=OutputsConfig(
            tmp_path / "root", tmp_path / "md" / "m.sqlite", tmp_path / "serving"
        ),
    )


def test_sqlite_by_default(config, tmp_path: Path) -> None:
    connection = metadata.connection_config(config, {})
    assert connection.WhichOneof("config") == "sqlite"
    assert connection.sqlite.filename_uri == str(tmp_path / "md" / "m.sqlite")
    assert (tmp_path / "md").is_dir()
    assert metadata.describe(connection) == str(tmp_path / "md" / "m.sqlite")


def test_mysql_from_the_environment(config) -> None:
    connection = metadata.connection_config(config, MYSQL)
    assert connection.WhichOneof("config") == "mysql"
    assert (connection.mysql.host, connection.mysql.port) == ("db.internal", 3307)
    assert (connection.mysql.database, connection.mysql.user) == ("mlmd", "pipeline")
    assert connection.mysql.password == "s3cret"
    # What people see never carries the password.
    assert metadata.describe(connection) == "mysql://pipeline@db.internal:3307/mlmd"


def test_mysql_port_defaults_to_3306(config) -> None:
    env = {k: v for k, v in MYSQL.items() if k != "MLMD_MYSQL_PORT"}
    assert metadata.connection_config(config, env).mysql.port == 3306


@pytest.mark.parametrize("missing", ["MLMD_MYSQL_DATABASE", "MLMD_MYSQL_USER"])
def test_incomplete_mysql_settings_are_a_clear_error(config, missing: str) -> None:
    env = {k: v for k, v in MYSQL.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        metadata.connection_config(config, env)


def test_bad_port_is_a_clear_error(config) -> None:
    with pytest.raises(ConfigError, match="MLMD_MYSQL_PORT"):
        metadata.connection_config(config, {**MYSQL, "MLMD_MYSQL_PORT": "three"})
