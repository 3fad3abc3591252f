"""A semicolon-separated, gzipped day with a byte-order mark runs through the real pipeline.

One generated day (1,500 rows) is rewritten as ``clicks.csv.gz``: ``;`` between
fields and a UTF-8 byte-order mark first. ``python -m pipeline run`` with
``data.delimiter: ";"`` and a ``*.csv.gz`` span pattern must ingest it, pass the data
gate (the first column under its real name, no "new column") and push a model; the
ExampleGen's Examples are exactly what the executor makes of the plain comma file.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from components import example_gen
from pipeline import nodes
from pipeline.config import load_config, with_env_overrides
from pipeline.devtools import clickgen
from pipeline.mlmd import connection as metadata
from pipeline.mlmd import queries
from tests.support.cli import REPO, run_cli
from tests.support.csv_dialects import hash_split, read_examples, rewrite

DAY = datetime.date(2026, 11, 1)


def test_a_semicolon_bom_gzip_day_is_trained_on_and_pushed(tmp_path: Path) -> None:
    plain = clickgen.write_day(tmp_path / "plain", DAY, rows=1500, seed=5)
    data = tmp_path / "data"
    rewrite(plain, data / DAY.isoformat() / "clicks.csv.gz", delimiter=";", bom=True)
    assert (data / DAY.isoformat() / "clicks.csv.gz").read_bytes()[:2] == b"\x1f\x8b"
    text = (
        (REPO / "pipeline" / "configs" / "clicks.yaml")
        .read_text()
        .replace("schema_file: schemas/", f"schema_file: {REPO}/schemas/")
        .replace("input_base: data/clicks", f"input_base: {data}")
        .replace("root: outputs", f"root: {tmp_path / 'out'}")
        .replace(
            'span_pattern: "{YYYY}-{MM}-{DD}/*.csv"', 'span_pattern: "{YYYY}-{MM}-{DD}/*.csv.gz"'
        )
        .replace('delimiter: ","', 'delimiter: ";"')
        .replace("train_steps: 300", "train_steps: 100")
    )
    config_path = tmp_path / "clicks.yaml"
    config_path.write_text(text)
    config = with_env_overrides(load_config(config_path), {})
    assert config.data.delimiter == ";"

    result = run_cli(["run", "--config", str(config_path)])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Pushed to:" in result.stdout

    # What the pipeline's ExampleGen wrote equals the executor's reading of the plain
    # comma file with the same hash split: delimiter, BOM and gzip made no difference.
    store = metadata.open_store(config, {})
    (ingested,) = queries.node_artifacts(store, config.pipeline_name, nodes.EXAMPLE_GEN, "Examples")
    output_config = hash_split(config.data.train_buckets, config.data.eval_buckets)
    properties = example_gen.exec_properties(
        str(plain.parent), plain.name, output_config=output_config
    )
    expected = example_gen.write_examples(properties, str(tmp_path / "expected"))
    splits = ("train", "eval")
    assert read_examples(ingested.uri, splits) == read_examples(expected.uri, splits)
