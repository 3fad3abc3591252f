"""Bad-input injections: named rewrites of a written day's CSV file.

Bad inputs are injected after writing, on the CSV file itself, through the
:data:`INJECTIONS` registry: many of them (ragged rows, broken quoting, invalid
UTF-8, empty files) cannot be expressed as a DataFrame at all, and operating on the
file keeps a single, uniform signature ``(path, rng) -> None``.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pipeline.devtools.clickgen.csv_edit import (
    column_index,
    header_line,
    rewrite_rows,
    set_field,
    write_atomically,
)
from pipeline.devtools.clickgen.schema import LABEL

# Keeps the injections' seed stream apart from the generator's.
_INJECT_SALT = 0x696E_6A65

Injection = Callable[[Path, np.random.Generator], None]
"""Rewrites a CSV written by ``write_day`` in place, drawing choices from the rng."""

INJECTIONS: dict[str, Injection] = {}
"""Named injections. Add one with :func:`register_injection` or plain assignment."""

# Fraction of data rows a row-level injection touches (at least one row).
ROW_FRACTION = 0.01
# Fraction of rows that get unseen categorical values ("a flood").
UNSEEN_FRACTION = 0.3
UNSEEN_DEVICES: tuple[str, ...] = ("smartwatch", "smart_tv", "console")
UNSEEN_CATEGORIES: tuple[str, ...] = ("automotive", "garden", "pets", "music")
NON_NUMERIC_TEXT: tuple[str, ...] = ("n/a", "abc", "-", "1.2.3")
TEXT_IN_NUMERIC_COLUMN = "price"
NULL_FEATURE_COLUMN = "rating"
MISSING_COLUMN = "user_ctr"
EXTRA_COLUMN = "promo_code"
HUGE_LINE_BYTES = 6 * 1024 * 1024


def register_injection(name: str) -> Callable[[Injection], Injection]:
    """Decorator adding an injection to :data:`INJECTIONS` under ``name``.

    Args:
        name: Registry key; must be new.

    Returns:
        A decorator that registers and returns the function unchanged.
    """

    def decorator(function: Injection) -> Injection:
        if name in INJECTIONS:
            raise ValueError(f"injection {name!r} is already registered")
        INJECTIONS[name] = function
        return function

    return decorator


def apply_injection(path: Path, kind: str, seed: int) -> None:
    """Applies the named injection to the CSV at ``path``, rewriting it in place.

    Args:
        path: A CSV written by :func:`~pipeline.devtools.clickgen.days.write_day`.
        kind: A key of :data:`INJECTIONS`.
        seed: Non-negative seed for the injection's random choices (which rows).

    Raises:
        ValueError: If ``kind`` is unknown or a column it needs is missing.
    """
    if kind not in INJECTIONS:
        raise ValueError(f"unknown injection {kind!r}; known: {sorted(INJECTIONS)}")
    rng = np.random.default_rng(
        np.random.SeedSequence([seed, zlib.crc32(kind.encode()), _INJECT_SALT])
    )
    INJECTIONS[kind](Path(path), rng)


@register_injection("negative_quantity")
def _negative_quantity(path: Path, rng: np.random.Generator) -> None:
    """~1% of rows get ``purchase_quantity = -(q + 1)``, i.e. always negative."""
    index = column_index(header_line(path), "purchase_quantity")
    rewrite_rows(path, rng, ROW_FRACTION, set_field(index, lambda v, _: b"-%d" % (int(v) + 1)))


@register_injection("text_in_numeric")
def _text_in_numeric(path: Path, rng: np.random.Generator) -> None:
    """~1% of rows get text from :data:`NON_NUMERIC_TEXT` in the price column."""
    index = column_index(header_line(path), TEXT_IN_NUMERIC_COLUMN)
    choices = [text.encode() for text in NON_NUMERIC_TEXT]
    rewrite_rows(
        path,
        rng,
        ROW_FRACTION,
        set_field(index, lambda _, r: choices[int(r.integers(len(choices)))]),
    )


@register_injection("missing_label")
def _missing_label(path: Path, rng: np.random.Generator) -> None:
    """~1% of rows get an empty ``clicked`` field."""
    index = column_index(header_line(path), LABEL)
    rewrite_rows(path, rng, ROW_FRACTION, set_field(index, lambda _v, _r: b""))


@register_injection("shuffled_labels")
def _shuffled_labels(path: Path, rng: np.random.Generator) -> None:
    """The ``clicked`` column is permuted across all rows of the file.

    Features and the label's marginal distribution (its mean) are unchanged, so the
    data gate sees nothing wrong, but the label no longer depends on the features:
    a model trained or evaluated on the span is no better than chance. Rows too
    short to have the column are left alone.
    """
    index = column_index(header_line(path), LABEL)
    labels: list[bytes] = []
    with open(path, "rb") as handle:
        handle.readline()
        for line in handle:
            fields = line.rstrip(b"\r\n").split(b",")
            if index < len(fields):
                labels.append(fields[index])
    shuffled = iter([labels[i] for i in rng.permutation(len(labels))])
    # fraction=1 visits every row in file order, the order the labels were read in.
    rewrite_rows(path, rng, 1.0, set_field(index, lambda _v, _r: next(shuffled)))


@register_injection("unseen_categories")
def _unseen_categories(path: Path, rng: np.random.Generator) -> None:
    """~30% of rows get an unseen device and an unseen category (in the same rows).

    The values come from :data:`UNSEEN_DEVICES` and :data:`UNSEEN_CATEGORIES`.
    """
    header = header_line(path)
    device = column_index(header, "device")
    category = column_index(header, "item_category")
    devices = [value.encode() for value in UNSEEN_DEVICES]
    categories = [value.encode() for value in UNSEEN_CATEGORIES]

    def edit(fields: list[bytes], r: np.random.Generator) -> list[bytes]:
        if device < len(fields):
            fields[device] = devices[int(r.integers(len(devices)))]
        if category < len(fields):
            fields[category] = categories[int(r.integers(len(categories)))]
        return fields

    rewrite_rows(path, rng, UNSEEN_FRACTION, edit)


@register_injection("null_feature")
def _null_feature(path: Path, rng: np.random.Generator) -> None:
    """Every row gets an empty :data:`NULL_FEATURE_COLUMN` (the column stays in the header)."""
    index = column_index(header_line(path), NULL_FEATURE_COLUMN)
    rewrite_rows(path, rng, 1.0, set_field(index, lambda _v, _r: b""))


@register_injection("missing_column")
def _missing_column(path: Path, rng: np.random.Generator) -> None:
    """:data:`MISSING_COLUMN` is removed from the header and every row."""
    index = column_index(header_line(path), MISSING_COLUMN)

    def drop(fields: list[bytes], _r: np.random.Generator | None = None) -> list[bytes]:
        return fields[:index] + fields[index + 1 :]

    rewrite_rows(path, rng, 1.0, drop, edit_header=drop)


@register_injection("extra_column")
def _extra_column(path: Path, rng: np.random.Generator) -> None:
    """Every row gets a trailing :data:`EXTRA_COLUMN` (values like ``P042``)."""
    codes = [b"P%03d" % i for i in range(100)]

    def add(fields: list[bytes], r: np.random.Generator) -> list[bytes]:
        return fields + [codes[int(r.integers(len(codes)))]]

    rewrite_rows(path, rng, 1.0, add, edit_header=lambda names: names + [EXTRA_COLUMN.encode()])


@register_injection("ragged_rows")
def _ragged_rows(path: Path, rng: np.random.Generator) -> None:
    """~1% of rows lose their last field or gain an extra one (coin flip per row)."""

    def edit(fields: list[bytes], r: np.random.Generator) -> list[bytes]:
        return fields[:-1] if r.random() < 0.5 else fields + [b"surplus"]

    rewrite_rows(path, rng, ROW_FRACTION, edit)


@register_injection("unterminated_quote")
def _unterminated_quote(path: Path, rng: np.random.Generator) -> None:
    """One random row's ``item_id`` opens a double quote that is never closed.

    A CSV parser then swallows the rest of the file into that field.
    """
    index = column_index(header_line(path), "item_id")
    rewrite_rows(path, rng, 0.0, set_field(index, lambda v, _: b'"' + v))


@register_injection("non_utf8")
def _non_utf8(path: Path, rng: np.random.Generator) -> None:
    """~1% of rows get the invalid UTF-8 bytes ``0xFF 0xFE`` appended to ``user_id``."""
    index = column_index(header_line(path), "user_id")
    rewrite_rows(path, rng, ROW_FRACTION, set_field(index, lambda v, _: v + b"\xff\xfe"))


@register_injection("huge_line")
def _huge_line(path: Path, rng: np.random.Generator) -> None:
    """One random row's ``item_id`` is padded with :data:`HUGE_LINE_BYTES` of ``x``.

    The row keeps the right number of fields; only its size is abnormal.
    """
    index = column_index(header_line(path), "item_id")
    rewrite_rows(path, rng, 0.0, set_field(index, lambda v, _: v + b"x" * HUGE_LINE_BYTES))


@register_injection("empty_file")
def _empty_file(path: Path, rng: np.random.Generator) -> None:
    """The file is truncated to zero bytes (not even a header)."""
    path.write_bytes(b"")


@register_injection("header_only")
def _header_only(path: Path, rng: np.random.Generator) -> None:
    """Only the header line is kept."""
    header = header_line(path)
    write_atomically(path, lambda target: target.write_bytes(header))
