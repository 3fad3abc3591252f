"""components.example_gen reads CSV dialects and otherwise writes what TFX's CsvExampleGen writes.

Both executors' ``Do()`` run for real (Beam's DirectRunner) into temporary
directories; their Examples are compared as multisets per output split.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import gzip
from pathlib import Path

import pytest
import tensorflow as tf
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.components.example_gen.csv_example_gen import executor as tfx_csv_executor
from tfx.proto import example_gen_pb2
from tfx.utils import proto_utils

from components import example_gen
from pipeline import pipeline as topology
from pipeline.config import DEFAULT_CONFIG, PipelineConfig, load_config
from pipeline.nodes import EXAMPLE_GEN, SERVING_EXAMPLE_GEN
from tests.support.cli import REPO
from tests.support.config import expect_config_error, write_config
from tests.support.csv_dialects import hash_split, read_examples, rewrite

CLICKS = REPO / "data" / "clicks"
CLICKS_DAY = CLICKS / "2026-11-01"
Splits = dict[str, collections.Counter[bytes]]


def _output_config(config: PipelineConfig) -> example_gen_pb2.Output:
    return hash_split(config.data.train_buckets, config.data.eval_buckets)


def _run(
    tmp_path: Path,
    files: str,
    delimiter: str = ",",
    output_config: example_gen_pb2.Output | None = None,
    executor: BaseExampleGenExecutor | None = None,
) -> Splits:
    source = Path(files)
    properties = example_gen.exec_properties(
        str(source.parent), source.name, delimiter, output_config
    )
    out = tmp_path / f"out-{len(list(tmp_path.glob('out-*')))}"
    examples = example_gen.write_examples(properties, str(out), executor)
    splits = tuple(s.name for s in (output_config or example_gen_pb2.Output()).split_config.splits)
    return read_examples(examples.uri, splits or ("all",))


@pytest.mark.parametrize("day", sorted(p.name for p in CLICKS.iterdir()))
def test_same_examples_and_splits_as_tfx_csv_example_gen_on_the_bundled_days(
    tmp_path: Path, day: str
) -> None:
    assert example_gen.ARROW_READER  # the Arrow reader is the default
    output_config = _output_config(load_config(DEFAULT_CONFIG))
    pattern = str(CLICKS / day / "*.csv")
    ours = _run(tmp_path, pattern, output_config=output_config)
    theirs = _run(
        tmp_path, pattern, output_config=output_config, executor=tfx_csv_executor.Executor()
    )
    # The same Examples in the same split: TFX hashed the same bytes.
    assert ours == theirs
    # The same hash split: 4:1 of the day's rows.
    assert sum(ours["train"].values()) + sum(ours["eval"].values()) == 5000
    assert 800 < sum(ours["eval"].values()) < 1200


def test_the_arrow_reader_writes_deterministic_serializations(tmp_path: Path) -> None:
    # TFX's base executor hashes the bytes it is handed: they must be what it hashes
    # for its own Examples, SerializeToString(deterministic=True).
    properties = example_gen.exec_properties(str(CLICKS_DAY), "*.csv")
    examples = example_gen.write_examples(properties, str(tmp_path / "out"))
    files = [str(p) for p in Path(examples.uri, "Split-all").iterdir()]
    records = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
    assert len(records) == 5000
    for record in records:
        assert tf.train.Example.FromString(record).SerializeToString(deterministic=True) == record


def _tricky_source(directory: Path) -> Path:
    """200 click rows, some cells holding delimiters, a quote, a line break or nothing."""
    with (CLICKS_DAY / "clicks.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[:201]
    header = rows[0]
    category, rating, hour = (header.index(n) for n in ("item_category", "rating", "hour"))
    rows[1][category] = "home; garden, tools\tand more"
    rows[2][category] = 'say "cheese"\nand smile'
    rows[3][category] = ""  # an empty string cell
    rows[4][rating] = ""  # an empty float cell
    rows[5][hour] = ""  # an empty int cell
    path = directory / "comma" / "clicks.csv"
    path.parent.mkdir(parents=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    return path


@pytest.fixture(scope="module")
def comma(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Splits]:
    """The tricky file, comma-separated, and the Examples TFX's executor makes of it."""
    tmp = tmp_path_factory.mktemp("comma")
    source = _tricky_source(tmp)
    theirs = _run(tmp, str(source), executor=tfx_csv_executor.Executor())
    ours = _run(tmp, str(source))
    assert ours == theirs
    return source, ours


@dataclasses.dataclass(frozen=True)
class Dialect:
    delimiter: str
    bom: bool
    name: str


DIALECTS = {
    "bom": Dialect(",", True, "clicks.csv"),
    "semicolon": Dialect(";", False, "clicks.csv"),
    "tab": Dialect("\t", False, "clicks.tsv"),
    "gzip": Dialect(",", False, "clicks.csv.gz"),
    "semicolon_bom_gzip": Dialect(";", True, "clicks.csv.gz"),
}


@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_a_dialect_gives_the_same_examples_as_the_comma_file(
    tmp_path: Path, comma: tuple[Path, Splits], dialect: str
) -> None:
    source, expected = comma
    spec = DIALECTS[dialect]
    target = rewrite(source, tmp_path / dialect / spec.name, spec.delimiter, spec.bom)
    examples = _run(tmp_path, str(target), delimiter=spec.delimiter)
    assert examples == expected
    # Every row, and the first column under its real name (no byte-order mark in it).
    (example,) = (tf.train.Example.FromString(e) for e in list(examples["all"])[:1])
    assert "impression_id" in example.features.feature
    assert sum(examples["all"].values()) == 200


def test_tfx_csv_example_gen_keeps_the_bom_in_the_first_column_name(tmp_path: Path) -> None:
    # What this executor fixes: TFX reads a BOM file's first column as a new name.
    source = _tricky_source(tmp_path)
    target = rewrite(source, tmp_path / "bom" / "clicks.csv", bom=True)
    theirs = _run(tmp_path, str(target), executor=tfx_csv_executor.Executor())
    example = tf.train.Example.FromString(next(iter(theirs["all"])))
    assert "\ufeffimpression_id" in example.features.feature
    assert example_gen.read_header(str(target))[0] == "impression_id"


def test_the_wrong_delimiter_is_refused_naming_the_file_and_the_fix(tmp_path: Path) -> None:
    source = _tricky_source(tmp_path)
    target = rewrite(source, tmp_path / "semi" / "clicks.csv", delimiter=";")
    with pytest.raises(ValueError, match='set data.delimiter: ";"') as error:
        _run(tmp_path, str(target), delimiter=",")
    assert str(target) in str(error.value)


def test_read_header(tmp_path: Path) -> None:
    path = tmp_path / "h.csv.gz"
    path.write_bytes(gzip.compress(b'\xef\xbb\xbf"a;1";b;c\r\n1;2;3\r\n'))
    assert example_gen.read_header(str(path), ";") == ["a;1", "b", "c"]
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert example_gen.read_header(str(empty)) == [""]  # as TFX reads it
    latin = tmp_path / "latin.csv"
    latin.write_bytes("prénom,âge\n".encode("latin-1"))
    with pytest.raises(ValueError, match=f"{latin}: the header line is not UTF-8"):
        example_gen.read_header(str(latin))


def test_delimiter_of_defaults_to_a_comma() -> None:
    assert example_gen.delimiter_of({}) == ","
    config = proto_utils.proto_to_json(example_gen.custom_config("\t"))
    assert example_gen.delimiter_of({"custom_config": config}) == "\t"


def test_both_example_gens_carry_the_delimiter_in_their_exec_properties(tmp_path: Path) -> None:
    def semicolon_with_serving_logs(raw: dict) -> None:
        raw["data"]["delimiter"] = ";"
        raw["validation"]["skew"] = {**(raw["validation"]["skew"] or {}), "serving_data": "logs"}

    config = load_config(write_config(tmp_path, semicolon_with_serving_logs))
    nodes = {node.id: node for node in topology.create_pipeline(config).components}
    for node_id in (EXAMPLE_GEN, SERVING_EXAMPLE_GEN):
        node = nodes[node_id]
        assert node.executor_spec.executor_class is example_gen.Executor
        # The component holds the proto as the JSON its executor receives.
        assert example_gen.delimiter_of(node.exec_properties) == ";"
    # An exec property: another delimiter is another cache key.
    default = topology.create_pipeline(load_config(DEFAULT_CONFIG)).components[0]
    assert default.id == EXAMPLE_GEN
    assert (
        default.exec_properties["custom_config"]
        != nodes[EXAMPLE_GEN].exec_properties["custom_config"]
    )


@pytest.mark.parametrize(
    ("value", "expected"), [(";", ";"), ("\t", "\t"), ("\\t", "\t"), ("|", "|")]
)
def test_the_delimiter_key(tmp_path: Path, value: str, expected: str) -> None:
    assert load_config(DEFAULT_CONFIG).data.delimiter == ","

    def set_delimiter(raw: dict) -> None:
        raw["data"]["delimiter"] = value

    assert load_config(write_config(tmp_path, set_delimiter)).data.delimiter == expected


@pytest.mark.parametrize("value", [",,", "", '"', "\n", 1])
def test_a_bad_delimiter_is_refused(tmp_path: Path, value: object) -> None:
    def set_delimiter(raw: dict) -> None:
        raw["data"]["delimiter"] = value

    expect_config_error(
        write_config(tmp_path, set_delimiter),
        "data.delimiter must be one character other than a quote or a line break",
    )


# -- Column types and cells: the Arrow reader against TFX's executor ---------------

TYPES_CSV = (
    "ints,mixed,empty,flags,day,stamp,odd_ints,odd_floats,big,text,sparse_int,sparse_float\n"
    "1,1,,true,2026-11-01,2026-11-01T10:00:00,+5,nan,9223372036854775807,a,,\n"
    "-2,2.5,,false,2026-11-02,2026-11-01T11:00:00, 7 ,-inf,1,NA,3,\n"
    "003,1e3,,TRUE,2026-11-03,2026-11-01 12:00,1_000,1_0.5,9223372036854775808,null,,0.1\n"
    "4,-.5,,False,2026-11-04,2026-11-01,-0,+1E-2,2,,4,1e39\n"
)


def test_column_types_and_cells_match_tfx_csv_example_gen(tmp_path: Path) -> None:
    # ColumnTypeInferrer's types over the whole file (int, float, else bytes; an
    # all-empty column has no type), never Arrow's own bool/date/timestamp/null
    # inference, and Python's int()/float() for the cells Arrow would not parse alike.
    source = tmp_path / "types" / "types.csv"
    source.parent.mkdir()
    source.write_text(TYPES_CSV)
    ours = _run(tmp_path, str(source))
    assert ours == _run(tmp_path, str(source), executor=tfx_csv_executor.Executor())
    examples = [tf.train.Example.FromString(e) for e in ours["all"]]
    first = next(e for e in examples if e.features.feature["ints"].int64_list.value == [1])
    features = first.features.feature
    assert features["ints"].WhichOneof("kind") == "int64_list"
    assert features["mixed"].WhichOneof("kind") == "float_list"  # ints mixed with floats
    assert features["odd_ints"].int64_list.value == [5]  # int(b"+5")
    assert features["odd_floats"].WhichOneof("kind") == "float_list"
    for name in ("flags", "day", "stamp", "big", "text"):
        assert features[name].WhichOneof("kind") == "bytes_list", name
    # An empty cell: the feature is there with no values of the column's type; in
    # a column with no value at all, there with no type.
    assert features["sparse_int"].WhichOneof("kind") == "int64_list"
    assert list(features["sparse_int"].int64_list.value) == []
    assert "empty" in features
    assert features["empty"].WhichOneof("kind") is None


def test_the_row_by_row_switch_gives_the_same_examples(
    tmp_path: Path, comma: tuple[Path, Splits], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, expected = comma
    monkeypatch.setattr(example_gen, "ARROW_READER", False)
    assert example_gen.Executor().GetInputSourceToExamplePTransform() is (
        example_gen.csv_to_example
    )
    assert _run(tmp_path, str(source)) == expected


@pytest.mark.parametrize("content", [b"", b"a,b\n", b"a,b"], ids=["empty", "header", "no_newline"])
def test_a_file_without_rows_gives_no_examples_as_tfx(tmp_path: Path, content: bytes) -> None:
    source = tmp_path / "rows" / "none.csv"
    source.parent.mkdir()
    source.write_bytes(content)
    assert _run(tmp_path, str(source)) == {"all": collections.Counter()}
    assert _run(tmp_path, str(source), executor=tfx_csv_executor.Executor()) == {
        "all": collections.Counter()
    }


BAD_ROWS = {
    "ragged": (b"a,b\n1,2\n3\n", "Expected 2 columns, got 1"),
    "not_utf8": (b"a,b\n1,\xff\xfe\n", "invalid UTF8 data"),
    "unclosed_quote": (b'a,b\n1,"2\n3,4\n', "a double quote opens a field that is never closed"),
    "runaway_field": (
        b"a,b\n1," + b"x" * (csv.field_size_limit() + 1) + b"\n",
        "a field is longer than the CSV reader's limit",
    ),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_a_file_tfx_cannot_read_fails_naming_the_file(tmp_path: Path, case: str) -> None:
    content, message = BAD_ROWS[case]
    source = tmp_path / case / "bad.csv"
    source.parent.mkdir()
    source.write_bytes(content)
    with pytest.raises(Exception) as theirs:  # noqa: PT011 - TFX's errors vary
        _run(tmp_path, str(source), executor=tfx_csv_executor.Executor())
    assert theirs.value is not None
    with pytest.raises(ValueError, match=message) as ours:
        _run(tmp_path, str(source))
    assert str(source) in str(ours.value)


def test_hash_split_indices_is_tfx_partition_rule(comma: tuple[Path, Splits]) -> None:
    from tfx.components.example_gen.base_example_gen_executor import _PartitionFn

    _, expected = comma
    records = list(expected["all"])
    config = hash_split(4, 1).split_config
    theirs = [_PartitionFn(r, 2, [4, 5], config) for r in records]
    assert example_gen.hash_split_indices(records, [4, 5]).tolist() == theirs
    assert set(theirs) == {0, 1}


def test_each_file_is_written_per_split_in_a_seeded_random_order(tmp_path: Path) -> None:
    # Two input files (one day cut in two), hashed into train and eval.
    rows = (CLICKS_DAY / "clicks.csv").read_text().splitlines(keepends=True)
    day = tmp_path / "day"
    day.mkdir()
    (day / "a.csv").write_text("".join(rows[:2001]))
    (day / "b.csv").write_text(rows[0] + "".join(rows[2001:]))
    properties = example_gen.exec_properties(str(day), "*.csv", output_config=hash_split(4, 1))

    def written(out: str) -> dict[str, bytes]:
        example_gen.write_examples(dict(properties), str(tmp_path / out))
        return {
            str(p.relative_to(tmp_path / out)): p.read_bytes()
            for p in sorted((tmp_path / out).glob("Split-*/*"))
        }

    first = written("first")
    # TFX's names, one file per input file and split.
    assert sorted(first) == [
        f"Split-{split}/data_tfrecord-0000{i}-of-00002.gz"
        for split in ("eval", "train")
        for i in (0, 1)
    ]
    # A rerun writes the same bytes.
    assert written("second") == first
    # Not the file's order (time order, here): TFX reshuffles, and the Trainer's
    # shuffle buffer is far smaller than a day.
    ids = [
        tf.train.Example.FromString(r.numpy()).features.feature["impression_id"].bytes_list.value[0]
        for r in tf.data.TFRecordDataset(
            str(tmp_path / "first" / "Split-train" / "data_tfrecord-00000-of-00002.gz"),
            compression_type="GZIP",
        )
    ]
    assert 1500 < len(ids) < 1700 and ids != sorted(ids)


def test_the_write_switch_gives_the_same_examples(
    tmp_path: Path, comma: tuple[Path, Splits], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, expected = comma
    output_config = hash_split(4, 1)
    ours = _run(tmp_path, str(source), output_config=output_config)
    monkeypatch.setattr(example_gen, "DIRECT_WRITE", False)
    assert _run(tmp_path, str(source), output_config=output_config) == ours
    assert ours["train"] + ours["eval"] == expected["all"]
