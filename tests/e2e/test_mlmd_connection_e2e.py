"""ML Metadata in a real MariaDB, reached only through the Airflow connection.

The server's user has a password full of URI delimiters; the test gives the
connection as ``AIRFLOW_CONN_MLMD_DEFAULT`` (URI, password URL-encoded), with no
``MLMD_MYSQL_*`` variable, and checks the store it opens is the server's database.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from urllib.parse import quote

import pytest
from ml_metadata.proto import metadata_store_pb2

from pipeline.config import DEFAULT_CONFIG, OutputsConfig, load_config
from pipeline.devtools.services import MariaDB
from pipeline.mlmd import connection as metadata

pytestmark = pytest.mark.requires_root("starts MariaDB as root, installed with apt-get")

# URI delimiters, a percent sign and a non-ASCII letter (no quote: the server's
# CREATE USER statement quotes it with single quotes).
PASSWORD = "p@ss:w/rd#%?&=+ é"


def test_a_real_mariadb_store_opens_through_the_airflow_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mariadb = MariaDB(tmp_path / "mariadb")
    mariadb.password = PASSWORD
    mariadb.start()
    try:
        config = dataclasses.replace(
            load_config(DEFAULT_CONFIG),
            outputs=OutputsConfig(
                tmp_path / "root", tmp_path / "md" / "m.sqlite", tmp_path / "serving"
            ),
        )
        for key in metadata.MYSQL_ENV:
            monkeypatch.delenv(key, raising=False)
        monkeypatch.setenv(
            "AIRFLOW_CONN_MLMD_DEFAULT",
            f"mysql://{mariadb.user}:{quote(PASSWORD, safe='')}@127.0.0.1:{mariadb.port}/"
            f"{mariadb.database}",
        )
        store = metadata.open_store(config)
        type_id = store.put_artifact_type(metadata_store_pb2.ArtifactType(name="Probe"))
        [artifact_id] = store.put_artifacts(
            [metadata_store_pb2.Artifact(type_id=type_id, uri="probe://written")]
        )

        # The same rows, read through the MLMD_MYSQL_* variables: the server's database,
        # not a SQLite file.
        direct = metadata.open_store(config, mariadb.environ())
        [read] = direct.get_artifacts_by_id([artifact_id])
        assert read.uri == "probe://written"
        assert not config.outputs.metadata_path.exists()
    finally:
        mariadb.stop()
