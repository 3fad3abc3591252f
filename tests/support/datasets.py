"""Datasets nobody here generated, written as daily CSV spans for the onboarding tests.

scikit-learn's bundled tables (no download) and a deliberately messy CSV: blanks in
several columns, a near-unique string column, a semicolon delimiter and a UTF-8 BOM.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pandas as pd

FIRST_DAY = datetime.date(2026, 11, 1)


def _write_spans(
    frame: pd.DataFrame,
    root: Path,
    spans: int,
    *,
    sep: str = ",",
    bom: bool = False,
    name: str = "data.csv",
) -> list[Path]:
    """Splits rows into ``spans`` consecutive days under ``root/<YYYY-MM-DD>/``."""
    written = []
    for index, part in enumerate(np.array_split(frame, spans)):
        day = FIRST_DAY + datetime.timedelta(days=index)
        path = root / day.isoformat() / name
        path.parent.mkdir(parents=True, exist_ok=True)
        text = part.to_csv(index=False, sep=sep, lineterminator="\n")
        path.write_bytes(("\ufeff" if bom else "").encode("utf-8") + text.encode("utf-8"))
        written.append(path)
    return written


def _sklearn_table(frame: pd.DataFrame, root: Path, spans: int) -> list[Path]:
    # Column names as a CSV user would have them (no spaces), rows in a fixed shuffle
    # so each day is a fair sample.
    frame = frame.rename(columns=lambda c: c.replace(" ", "_"))
    return _write_spans(frame.sample(frac=1.0, random_state=7).reset_index(drop=True), root, spans)


def breast_cancer(root: Path, spans: int = 2) -> list[Path]:
    """Writes scikit-learn's breast-cancer table (binary label ``target``).

    Args:
        root: The data directory (one folder per day).
        spans: How many days to split the rows into.

    Returns:
        The written files, oldest day first.
    """
    from sklearn.datasets import load_breast_cancer

    return _sklearn_table(load_breast_cancer(as_frame=True).frame, root, spans)


def diabetes(root: Path, spans: int = 2) -> list[Path]:
    """Writes scikit-learn's diabetes table (float label ``target``, regression).

    Args:
        root: The data directory (one folder per day).
        spans: How many days to split the rows into.

    Returns:
        The written files, oldest day first.
    """
    from sklearn.datasets import load_diabetes

    return _sklearn_table(load_diabetes(as_frame=True, scaled=False).frame, root, spans)


def messy(root: Path, spans: int = 2, rows_per_span: int = 1500) -> list[Path]:
    """Writes a generated table the way real exports look.

    20-40 % blanks in several columns (float, integer and string), a near-unique
    ``customer`` string, a semicolon delimiter and a UTF-8 byte-order mark. The
    binary label ``churned`` depends on the other columns, so a model can learn it.

    Args:
        root: The data directory (one folder per day).
        spans: How many days.
        rows_per_span: Rows per day.

    Returns:
        The written files, oldest day first.
    """
    rng = np.random.default_rng(11)
    rows = spans * rows_per_span
    tenure = rng.integers(1, 72, rows)
    monthly = rng.normal(60.0, 20.0, rows).round(2)
    plan = rng.choice(["basic", "plus", "premium"], rows, p=[0.5, 0.3, 0.2])
    city = rng.choice([f"city_{i}" for i in range(40)], rows)
    support_calls = rng.poisson(1.5, rows)
    logit = -1.0 - 0.04 * tenure + 0.02 * (monthly - 60) + 0.5 * support_calls
    logit += np.where(plan == "basic", 0.8, 0.0)
    churned = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(
        {
            "customer": [f"C{n:07d}" for n in rng.permutation(rows)],
            "tenure_months": tenure.astype(object),
            "monthly_charge": monthly.astype(object),
            "plan": plan.astype(object),
            "city": city.astype(object),
            "support_calls": support_calls.astype(object),
            "churned": churned,
        }
    )
    for column, share in (
        ("tenure_months", 0.2),
        ("monthly_charge", 0.3),
        ("city", 0.4),
        ("support_calls", 0.25),
        ("plan", 0.2),
    ):
        frame.loc[rng.random(rows) < share, column] = None
    return _write_spans(frame, root, spans, sep=";", bom=True)
