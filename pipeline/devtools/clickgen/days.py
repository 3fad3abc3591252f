"""Generating days of impressions: traffic, drift, latent users and items, and the CSV.

Determinism contract:

* Per-user and per-item latent tables depend on ``seed`` only, so the same user has
  the same propensity, region and purchase rate on every day.
* A day's rows depend on ``(day, rows, seed, drift)`` only. The day is cut into
  fixed-size chunks of :data:`CHUNK_ROWS` rows and chunk ``c`` draws from
  ``SeedSequence([seed, day.toordinal(), c, salt])``. Regenerating one day therefore
  gives identical bytes whatever other days are generated, and :func:`write_day`
  (which streams chunk by chunk, keeping memory bounded) writes exactly the rows
  :func:`generate_day` returns.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.devtools.clickgen import injections
from pipeline.devtools.clickgen.click_model import CTR_REF_LOGIT, click_probability, sigmoid
from pipeline.devtools.clickgen.csv_edit import write_atomically
from pipeline.devtools.clickgen.schema import (
    CATEGORIES,
    COLUMNS,
    DEVICES,
    LABEL,
    MAX_POSITION,
    MEDIAN_PRICE,
    NUM_ITEMS,
    NUM_USERS,
    REGIONS,
)

# Rows generated (and held in memory) at a time. Part of the determinism contract:
# changing it changes the bytes of every day with more rows than this.
CHUNK_ROWS = 200_000

# Traffic distributions (before drift).
_DEVICE_P = np.array([0.55, 0.35, 0.10])
# At drift=1 the mix has moved toward tablet: L-infinity distance 0.40 from the base.
_DEVICE_P_DRIFTED = np.array([0.30, 0.20, 0.50])
_REGION_P = np.array([0.35, 0.30, 0.20, 0.10, 0.05])
# Share of the item catalogue per category (impression share also depends on
# item popularity, which is independent of category).
_CATEGORY_P = np.array([0.15, 0.20, 0.15, 0.12, 0.10, 0.10, 0.08, 0.10])
# Under drift this category's items become up to (1 + _DRIFT_CATEGORY_BOOST) times
# more popular, so it visibly gains share.
_DRIFT_CATEGORY = CATEGORIES.index("toys")
_DRIFT_CATEGORY_BOOST = 4.0
# Prices scale by (1 + _DRIFT_PRICE_SCALE * drift): inflation / a premium catalogue.
_DRIFT_PRICE_SCALE = 0.6
# The evening traffic peak moves this many hours earlier at drift=1.
_DRIFT_HOUR_SHIFT = 6.0

# Log-space spread of an item's price around its category's median.
_CATEGORY_PRICE_SIGMA = np.array([0.8, 0.6, 0.7, 0.4, 0.7, 0.5, 0.6, 0.5])

# Salts keep the latent and chunk seed streams apart (and from the injections').
_LATENT_SALT = 0x6C61_7465
_CHUNK_SALT = 0x6368_756E


class _Latents:
    """Per-user and per-item attributes shared by every day of one seed."""

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(np.random.SeedSequence([seed, _LATENT_SALT]))
        # Zipf-ish popularity: weight 1/(rank + offset)^a over a random ranking, so
        # a few users/items dominate without one of them taking most of the traffic.
        user_rank = rng.permutation(NUM_USERS)
        self.user_cdf = _cdf(1.0 / (user_rank + 20.0) ** 1.0)
        self.user_ids = np.array([f"u{i:06d}" for i in range(NUM_USERS)], dtype=object)
        self.user_region = rng.choice(len(REGIONS), size=NUM_USERS, p=_REGION_P)
        self.user_logit = rng.normal(CTR_REF_LOGIT, 1.0, size=NUM_USERS)
        # Gamma-distributed purchase rate -> overdispersed (negative binomial) counts.
        self.user_purchase_rate = rng.gamma(shape=1.2, scale=1.5, size=NUM_USERS)

        item_rank = rng.permutation(NUM_ITEMS)
        self.item_popularity = 1.0 / (item_rank + 10.0) ** 0.9
        self.item_ids = np.array([f"i{i:05d}" for i in range(NUM_ITEMS)], dtype=object)
        self.item_category = rng.choice(len(CATEGORIES), size=NUM_ITEMS, p=_CATEGORY_P)
        self.item_price = MEDIAN_PRICE[self.item_category] * np.exp(
            rng.normal(0.0, 1.0, size=NUM_ITEMS) * _CATEGORY_PRICE_SIGMA[self.item_category]
        )
        self.item_rating = np.round(np.clip(rng.normal(4.0, 0.6, size=NUM_ITEMS), 1.0, 5.0), 1)
        # Better-rated items tend to have a higher CTR history too.
        self.item_logit = rng.normal(CTR_REF_LOGIT, 0.7, size=NUM_ITEMS) + 0.3 * (
            self.item_rating - 4.0
        )
        for array in vars(self).values():
            array.setflags(write=False)


def _cdf(weights: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(weights)
    return cdf / cdf[-1]


@lru_cache(maxsize=8)
def _latents(seed: int) -> _Latents:
    return _Latents(seed)


def _hour_probabilities(drift: float) -> np.ndarray:
    """Daily traffic curve: a night trough, a lunch bump and an evening peak."""
    hours = np.arange(24, dtype=np.float64)
    peak = 20.0 - _DRIFT_HOUR_SHIFT * drift
    # Circular distance so a peak near midnight wraps around.
    to_peak = np.minimum(np.abs(hours - peak), 24.0 - np.abs(hours - peak))
    weights = (
        0.15
        + 1.0 * np.exp(-(to_peak**2) / (2 * 2.5**2))
        + 0.4 * np.exp(-((hours - 12.5) ** 2) / (2 * 1.5**2))
        + 0.3 * np.exp(-((hours - 9.0) ** 2) / (2 * 3.0**2))
    )
    return weights / weights.sum()


# --------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------


def _check_args(rows: int, seed: int, drift: float) -> None:
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if not 0.0 <= drift <= 1.0:
        raise ValueError(f"drift must be in [0, 1], got {drift}")


def _generate_chunk(
    day: datetime.date, start: int, rows: int, seed: int, drift: float, chunk: int
) -> pd.DataFrame:
    """Rows ``start .. start + rows - 1`` of ``day``, from chunk ``chunk``'s own seed."""
    latent = _latents(seed)
    rng = np.random.default_rng(np.random.SeedSequence([seed, day.toordinal(), chunk, _CHUNK_SALT]))

    # Inverse-CDF sampling on precomputed tables: O(rows log n), no per-row Python.
    users = np.minimum(np.searchsorted(latent.user_cdf, rng.random(rows)), NUM_USERS - 1)
    item_weights = latent.item_popularity * np.where(
        latent.item_category == _DRIFT_CATEGORY, 1.0 + _DRIFT_CATEGORY_BOOST * drift, 1.0
    )
    items = np.minimum(np.searchsorted(_cdf(item_weights), rng.random(rows)), NUM_ITEMS - 1)

    device_p = (1.0 - drift) * _DEVICE_P + drift * _DEVICE_P_DRIFTED
    device = rng.choice(len(DEVICES), size=rows, p=device_p)
    hour = rng.choice(24, size=rows, p=_hour_probabilities(drift))
    category = latent.item_category[items]
    # Small per-impression price jitter (discounts, dynamic pricing) around the item's price.
    price = latent.item_price[items] * np.exp(rng.normal(0.0, 0.08, size=rows))
    price = np.round(np.maximum(price * (1.0 + _DRIFT_PRICE_SCALE * drift), 0.5), 2)
    # Top slots are shown more often (infinite scroll: not everyone reaches slot 20).
    position_p = np.arange(1, MAX_POSITION + 1, dtype=np.float64) ** -0.3
    position = rng.choice(MAX_POSITION, size=rows, p=position_p / position_p.sum()) + 1
    # Past CTRs are noisy estimates of the latent propensities: the model sees the
    # estimate, never the latent itself.
    user_ctr = np.round(sigmoid(latent.user_logit[users] + rng.normal(0.0, 0.3, rows)), 4)
    item_ctr = np.round(sigmoid(latent.item_logit[items] + rng.normal(0.0, 0.3, rows)), 4)
    quantity = rng.poisson(latent.user_purchase_rate[users])

    ids = np.arange(start, start + rows)
    frame = pd.DataFrame(
        {
            "impression_id": pd.Series(ids, dtype=np.int64).map(
                f"{day.isoformat()}-{{:09d}}".format
            ),
            "user_id": latent.user_ids[users],
            "item_id": latent.item_ids[items],
            "device": np.asarray(DEVICES, dtype=object)[device],
            "region": np.asarray(REGIONS, dtype=object)[latent.user_region[users]],
            "hour": hour.astype(np.int64),
            "item_category": np.asarray(CATEGORIES, dtype=object)[category],
            "price": price,
            "rating": latent.item_rating[items].copy(),
            "position": position.astype(np.int64),
            "user_ctr": user_ctr,
            "item_ctr": item_ctr,
            "purchase_quantity": quantity.astype(np.int64),
        }
    )
    # Label from the already-rounded features, so click_probability(frame) is exact.
    frame[LABEL] = (rng.random(rows) < click_probability(frame)).astype(np.int64)
    return frame


def _iter_chunks(day: datetime.date, rows: int, seed: int, drift: float) -> Iterator[pd.DataFrame]:
    _check_args(rows, seed, drift)
    for chunk, start in enumerate(range(0, rows, CHUNK_ROWS)):
        yield _generate_chunk(day, start, min(CHUNK_ROWS, rows - start), seed, drift, chunk)


def generate_day(day: datetime.date, rows: int, seed: int, drift: float = 0.0) -> pd.DataFrame:
    """Generates one day of impressions in memory.

    Deterministic in ``(day, rows, seed, drift)``; equals what :func:`write_day`
    writes for the same arguments (before any injection).

    Args:
        day: The day; it seeds the day's randomness and prefixes impression ids.
        rows: Number of impressions (>= 0).
        seed: Non-negative base seed; also fixes the user and item tables.
        drift: 0 for the reference distributions; towards 1 the device mix moves
            to tablet, prices rise, ``toys`` gains share and the evening peak moves
            earlier. drift=1 is obvious to a distribution-distance check.

    Returns:
        A DataFrame with columns :data:`COLUMNS` in order: object dtype for ids and
        categories, int64 for hour, position, purchase_quantity and clicked,
        float64 for price, rating and the CTRs.

    Raises:
        ValueError: If rows or seed is negative or drift is outside [0, 1].
    """
    chunks = list(_iter_chunks(day, rows, seed, drift))
    if not chunks:
        return _generate_chunk(day, 0, 0, seed, drift, 0)
    if len(chunks) == 1:
        return chunks[0]
    return pd.concat(chunks, ignore_index=True)


def write_day(
    out_dir: Path,
    day: datetime.date,
    rows: int,
    seed: int,
    drift: float = 0.0,
    inject: Sequence[str] = (),
) -> Path:
    """Writes one day to ``<out_dir>/<YYYY-MM-DD>/clicks.csv``.

    The layout matches CsvExampleGen's span pattern ``{YYYY}-{MM}-{DD}/*.csv``.
    Rows are generated and written :data:`CHUNK_ROWS` at a time, so memory stays
    bounded whatever ``rows`` is.

    Args:
        out_dir: Root directory of the spans; created if missing.
        day: The day to write.
        rows: Number of impressions.
        seed: Base seed (see :func:`generate_day`).
        drift: Distribution drift in [0, 1] (see :func:`generate_day`).
        inject: Names from the injections registry (``injections.INJECTIONS``)
            applied to the written file, in order. Field-level injections need
            the file still parseable, so list file-breaking ones (``empty_file``,
            ``header_only``, ``ragged_rows``, ``unterminated_quote``,
            ``non_utf8``, ``huge_line``) last.

    Returns:
        Path of the written CSV.

    Raises:
        ValueError: On invalid arguments or an unknown injection name.
    """
    # Looked up at call time, so a registry swapped in by a caller (a test) counts.
    known = injections.INJECTIONS
    unknown = [name for name in inject if name not in known]
    if unknown:
        raise ValueError(f"unknown injections {unknown}; known: {sorted(known)}")
    path = Path(out_dir) / day.isoformat() / "clicks.csv"
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(target: Path) -> None:
        with open(target, "w", encoding="utf-8", newline="") as handle:
            header_written = False
            for frame in _iter_chunks(day, rows, seed, drift):
                # Floats are already rounded, so pandas' shortest repr is compact
                # ("12.5", "0.1234") without a float_format.
                frame.to_csv(handle, header=not header_written, index=False, lineterminator="\n")
                header_written = True
            if not header_written:
                handle.write(",".join(COLUMNS) + "\n")

    write_atomically(path, write)
    for position, name in enumerate(inject):
        # Each injection gets its own stream, stable across days and list positions.
        sub_seed = int(
            np.random.SeedSequence([seed, day.toordinal(), position]).generate_state(1)[0]
        )
        injections.apply_injection(path, name, sub_seed)
    return path


def write_spans(
    out_dir: Path,
    start: datetime.date,
    days: int,
    rows: int,
    seed: int,
    drift: float = 0.0,
) -> list[Path]:
    """Writes ``days`` consecutive daily spans starting at ``start``.

    Args:
        out_dir: Root directory of the spans.
        start: First day.
        days: Number of days (>= 0).
        rows: Impressions per day.
        seed: Base seed; each day derives its own stream from it and the date.
        drift: Drift applied to every day (see :func:`generate_day`).

    Returns:
        The written CSV paths, oldest first.
    """
    return [
        write_day(out_dir, start + datetime.timedelta(days=offset), rows, seed, drift)
        for offset in range(days)
    ]
