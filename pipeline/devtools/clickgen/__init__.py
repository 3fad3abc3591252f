"""Deterministic, seeded generator of a synthetic e-commerce click log in daily spans.

Each row is one impression. The label ``clicked`` is drawn from a *known* logistic
model with interactions (:func:`click_probability`), so tests can compare a trained
model against the best achievable (Bayes) AUC instead of guessing what "good" is.

The package, by what each part is for:

- :mod:`~pipeline.devtools.clickgen.schema`: the columns, vocabularies and sizes;
- :mod:`~pipeline.devtools.clickgen.click_model`: the known click model;
- :mod:`~pipeline.devtools.clickgen.days`: generating and writing days (traffic,
  drift, latent users and items; the determinism contract);
- :mod:`~pipeline.devtools.clickgen.injections`: named bad-input injections, on
  top of :mod:`~pipeline.devtools.clickgen.csv_edit` (byte-level CSV rewrites).

Callers use this module's names (``from pipeline.devtools import clickgen``).
``CHUNK_ROWS`` and ``INJECTIONS`` are read from their own modules at call time, so
patch them there (``clickgen.days.CHUNK_ROWS``, ``clickgen.injections.INJECTIONS``).
"""

from __future__ import annotations

from pipeline.devtools.clickgen import days, injections
from pipeline.devtools.clickgen.click_model import click_probability
from pipeline.devtools.clickgen.days import CHUNK_ROWS, generate_day, write_day, write_spans
from pipeline.devtools.clickgen.injections import (
    EXTRA_COLUMN,
    HUGE_LINE_BYTES,
    INJECTIONS,
    MISSING_COLUMN,
    NON_NUMERIC_TEXT,
    NULL_FEATURE_COLUMN,
    ROW_FRACTION,
    TEXT_IN_NUMERIC_COLUMN,
    UNSEEN_CATEGORIES,
    UNSEEN_DEVICES,
    UNSEEN_FRACTION,
    Injection,
    apply_injection,
    register_injection,
)
from pipeline.devtools.clickgen.schema import (
    CATEGORIES,
    CATEGORY_MEDIAN_PRICE,
    COLUMNS,
    DEVICES,
    LABEL,
    MAX_POSITION,
    NUM_ITEMS,
    NUM_USERS,
    REGIONS,
)

__all__ = [
    "CATEGORIES",
    "CATEGORY_MEDIAN_PRICE",
    "CHUNK_ROWS",
    "COLUMNS",
    "DEVICES",
    "EXTRA_COLUMN",
    "HUGE_LINE_BYTES",
    "INJECTIONS",
    "Injection",
    "LABEL",
    "MAX_POSITION",
    "MISSING_COLUMN",
    "NON_NUMERIC_TEXT",
    "NULL_FEATURE_COLUMN",
    "NUM_ITEMS",
    "NUM_USERS",
    "REGIONS",
    "ROW_FRACTION",
    "TEXT_IN_NUMERIC_COLUMN",
    "UNSEEN_CATEGORIES",
    "UNSEEN_DEVICES",
    "UNSEEN_FRACTION",
    "apply_injection",
    "click_probability",
    "days",
    "generate_day",
    "injections",
    "register_injection",
    "write_day",
    "write_spans",
]
