"""CSV dialects for tests: rewrite a file with another delimiter, a BOM or gzip; read Examples."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
from collections import Counter
from pathlib import Path

from tfx.proto import example_gen_pb2


def rewrite(source: Path, target: Path, delimiter: str = ",", bom: bool = False) -> Path:
    """Writes the rows of ``source`` to ``target`` in a dialect, the same cells exactly.

    Python's csv quotes a cell that holds the new delimiter, a quote or a line break,
    so every cell reads back the same.

    Args:
        source: A comma-separated UTF-8 file.
        target: Where to write; a ``.gz`` name is gzipped.
        delimiter: The new field separator.
        bom: Whether to start the file with a UTF-8 byte-order mark.

    Returns:
        ``target``.
    """
    with source.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter, lineterminator="\n").writerows(rows)
    data = (codecs.BOM_UTF8 if bom else b"") + text.getvalue().encode("utf-8")
    if target.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


def hash_split(train_buckets: int, eval_buckets: int) -> example_gen_pb2.Output:
    """The pipeline's ExampleGen output config: ``train`` and ``eval`` hash buckets.

    Args:
        train_buckets: ``data.train_buckets``.
        eval_buckets: ``data.eval_buckets``.

    Returns:
        The ``Output`` proto.
    """
    split = example_gen_pb2.SplitConfig.Split
    return example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(
            splits=[
                split(name="train", hash_buckets=train_buckets),
                split(name="eval", hash_buckets=eval_buckets),
            ]
        )
    )


def read_examples(uri: str, splits: tuple[str, ...]) -> dict[str, Counter[bytes]]:
    """An Examples artifact's splits as multisets of deterministically serialized Examples.

    Args:
        uri: The artifact's directory (``Split-<name>/`` gzipped TFRecords).
        splits: The split names to read.

    Returns:
        Split name to a Counter of serialized ``tf.train.Example``.
    """
    import tensorflow as tf

    found = {}
    for split in splits:
        files = sorted(str(p) for p in Path(uri, f"Split-{split}").iterdir())
        found[split] = Counter(
            tf.train.Example.FromString(record.numpy()).SerializeToString(deterministic=True)
            for record in tf.data.TFRecordDataset(files, compression_type="GZIP")
        )
    return found
