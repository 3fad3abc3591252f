"""Config files for tests: the bundled clicks config, rewritten with absolute paths.

The bundled config's relative paths name the working directory; a copy written
elsewhere resolves them against its own folder, so it names the repository's schema
and data absolutely to mean the same.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cli import REPO

Raw = dict[str, Any]


def default_raw() -> Raw:
    """The bundled clicks config as parsed YAML (a fresh copy on every call).

    Returns:
        The mapping ``yaml.safe_load`` reads from ``DEFAULT_CONFIG``.
    """
    from pipeline.config import DEFAULT_CONFIG

    return yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))


def write_config(
    directory: Path,
    mutate: Callable[[Raw], None] | None = None,
    name: str = "pipeline.yaml",
) -> Path:
    """Writes the clicks config to ``directory/name`` with absolute inputs, after ``mutate``.

    Args:
        directory: Where the file is written.
        mutate: Changes the parsed YAML in place before it is written.
        name: The file name (error messages name it).

    Returns:
        The config file's path.
    """
    raw = default_raw()
    raw["schema_file"] = str(REPO / "schemas" / "clicks" / "schema.pbtxt")
    raw["data"]["input_base"] = str(REPO / "data" / "clicks")
    if mutate is not None:
        mutate(raw)
    path = directory / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def write_clicks_config(directory: Path, **outputs: object) -> Path:
    """Writes ``directory/clicks.yaml``: data under ``directory/data`` and these ``outputs``.

    Args:
        directory: Where the file is written; its data root is ``directory/data``.
        **outputs: The whole ``outputs:`` section (paths are written as strings).

    Returns:
        The config file's path.
    """

    def point_at(raw: Raw) -> None:
        raw["data"]["input_base"] = str(directory / "data")
        raw["outputs"] = {
            key: str(value) if isinstance(value, Path) else value for key, value in outputs.items()
        }

    return write_config(directory, point_at, name="clicks.yaml")


def expect_config_error(path: Path, *fragments: str) -> str:
    """Loads ``path``, expecting a ConfigError that names the file and every fragment.

    Args:
        path: The config file.
        *fragments: Texts the message must contain (keys, values, hints).

    Returns:
        The error message.
    """
    from pipeline.config import ConfigError, load_config

    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path.resolve()) in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message
