"""Generated CSV spans with blanks, and configs over them, for the schema and init tests."""

from __future__ import annotations

import csv
import datetime
import random
from collections.abc import Sequence
from pathlib import Path

import yaml

FIRST_DAY = datetime.date(2026, 3, 1)
DEVICES = ("desktop", "mobile", "tablet")
PLANS = ("basic", "pro")
COLUMNS = ("row_id", "amount", "visits", "device", "plan", "city", "note", "rating", "label")


def write_blank_spans(
    root: Path,
    days: int = 2,
    rows: int = 300,
    *,
    first_day: int = 0,
    seed: int = 11,
    new_values: bool = False,
    extra_column: bool = False,
) -> list[Path]:
    """Writes daily CSV spans with blank cells, as real exports have them.

    Columns: ``row_id`` (unique strings, ID-like), ``amount`` (float, 30% blank),
    ``visits`` (int, 30% blank, ~60 values), ``device`` (3 strings, 20% blank;
    closed), ``plan`` (2 strings; closed), ``city`` (~150 strings; open-ended),
    ``note`` (blank in every row),
    ``rating`` (int 1..5, codes), ``label`` (0/1).

    Args:
        root: The data folder; one ``YYYY-MM-DD/data.csv`` per day.
        days: How many days.
        rows: Rows per day.
        first_day: Offset of the first day from :data:`FIRST_DAY`.
        seed: Random seed.
        new_values: Give every row a device, a plan and a city never seen before
            (``watch``, ``enterprise``, ``city-new``).
        extra_column: Add a float column ``discount``.

    Returns:
        The written files, oldest first.
    """
    rng = random.Random(seed + first_day)
    written = []
    for offset in range(first_day, first_day + days):
        day = FIRST_DAY + datetime.timedelta(days=offset)
        path = root / day.isoformat() / "data.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        header = [*COLUMNS, "discount"] if extra_column else list(COLUMNS)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for row in range(rows):
                writer.writerow(_row(rng, offset, row, new_values, extra_column))
        written.append(path)
    return written


def _blank(rng: random.Random, share: float, value: object) -> object:
    return "" if rng.random() < share else value


def _row(
    rng: random.Random, day: int, row: int, new_values: bool, extra_column: bool
) -> list[object]:
    amount = rng.uniform(1, 100)
    cells: list[object] = [
        f"r{day}-{row}",
        _blank(rng, 0.3, f"{amount:.2f}"),
        _blank(rng, 0.3, rng.randint(0, 60)),
        "watch" if new_values else _blank(rng, 0.2, rng.choice(DEVICES)),
        "enterprise" if new_values else rng.choice(PLANS),
        "city-new" if new_values else f"city-{rng.randint(0, 150)}",
        "",
        rng.randint(1, 5),
        int(amount > 50),
    ]
    return [*cells, f"{rng.random():.2f}"] if extra_column else cells


def write_config(
    path: Path,
    data: Path,
    schema_file: Path,
    *,
    open_domains: Sequence[str] = (),
    max_domain_values: int | None = None,
) -> Path:
    """Writes a config over :func:`write_blank_spans` data.

    Args:
        path: The config file to write.
        data: ``data.input_base``.
        schema_file: ``schema_file``.
        open_domains: ``validation.open_domains``.
        max_domain_values: ``validation.max_domain_values`` (None: the default).

    Returns:
        ``path``.
    """
    validation: dict[str, object] = {"open_domains": list(open_domains)}
    if max_domain_values is not None:
        validation["max_domain_values"] = max_domain_values
    raw = {
        "pipeline_name": "blanks",
        "schema_file": str(schema_file),
        "data": {"input_base": str(data), "span_pattern": "{YYYY}-{MM}-{DD}/*.csv"},
        "features": {
            "label": "label",
            "numeric": ["amount", "visits"],
            "categorical": ["device", "plan", "city", "rating"],
            "ignored": ["row_id", "note"],
        },
        "evaluation": {"metrics": ["AUC"], "gate_metric": "AUC", "lower_bound": 0.5},
        "validation": validation,
        "outputs": {"root": str(path.parent / "outputs")},
    }
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path
