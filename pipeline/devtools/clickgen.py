"""Deterministic, seeded generator of a synthetic e-commerce click log in daily spans.

Each row is one impression. The label ``clicked`` is drawn from a *known* logistic
model with interactions (:func:`click_probability`), so tests can compare a trained
model against the best achievable (Bayes) AUC instead of guessing what "good" is.

Determinism contract:

* Per-user and per-item latent tables depend on ``seed`` only, so the same user has
  the same propensity, region and purchase rate on every day.
* A day's rows depend on ``(day, rows, seed, drift)`` only. The day is cut into
  fixed-size chunks of :data:`CHUNK_ROWS` rows and chunk ``c`` draws from
  ``SeedSequence([seed, day.toordinal(), c, salt])``. Regenerating one day therefore
  gives identical bytes whatever other days are generated, and :func:`write_day`
  (which streams chunk by chunk, keeping memory bounded) writes exactly the rows
  :func:`generate_day` returns.

Bad inputs are injected after writing, on the CSV file itself, through the
:data:`INJECTIONS` registry: many of them (ragged rows, broken quoting, invalid
UTF-8, empty files) cannot be expressed as a DataFrame at all, and operating on the
file keeps a single, uniform signature ``(path, rng) -> None``.
"""

from __future__ import annotations

import datetime
import os
import zlib
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd

# --------------------------------------------------------------------------------------
# Schema and vocabularies
# --------------------------------------------------------------------------------------

COLUMNS: tuple[str, ...] = (
    "impression_id",
    "user_id",
    "item_id",
    "device",
    "region",
    "hour",
    "item_category",
    "price",
    "rating",
    "position",
    "user_ctr",
    "item_ctr",
    "purchase_quantity",
    "clicked",
)
LABEL = "clicked"

DEVICES: tuple[str, ...] = ("mobile", "desktop", "tablet")
REGIONS: tuple[str, ...] = ("na", "eu", "apac", "latam", "mea")
CATEGORIES: tuple[str, ...] = (
    "electronics",
    "fashion",
    "home",
    "books",
    "sports",
    "beauty",
    "toys",
    "grocery",
)

NUM_USERS = 50_000
NUM_ITEMS = 5_000
MAX_POSITION = 20
# Rows generated (and held in memory) at a time. Part of the determinism contract:
# changing it changes the bytes of every day with more rows than this.
CHUNK_ROWS = 200_000

# --------------------------------------------------------------------------------------
# Traffic distributions (before drift)
# --------------------------------------------------------------------------------------

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

# Median price and log-space spread per category (lognormal): electronics are
# expensive and widely spread, books and groceries cheap and tight.
CATEGORY_MEDIAN_PRICE: dict[str, float] = {
    "electronics": 180.0,
    "fashion": 40.0,
    "home": 55.0,
    "books": 14.0,
    "sports": 45.0,
    "beauty": 22.0,
    "toys": 25.0,
    "grocery": 7.0,
}
_CATEGORY_PRICE_SIGMA = np.array([0.8, 0.6, 0.7, 0.4, 0.7, 0.5, 0.6, 0.5])
_MEDIAN_PRICE = np.array([CATEGORY_MEDIAN_PRICE[c] for c in CATEGORIES])

# --------------------------------------------------------------------------------------
# The known click model (logit scale)
# --------------------------------------------------------------------------------------

_INTERCEPT = -1.2
# Past CTRs enter on the logit scale, centred on a 20% CTR.
_CTR_REF_LOGIT = float(np.log(0.2 / 0.8))
_W_USER_CTR = 1.0
_W_ITEM_CTR = 0.8
# device x item_category: mobile users click fashion/beauty, desktop electronics,
# tablet books/toys. Rows follow DEVICES, columns CATEGORIES.
_DEVICE_CATEGORY = np.array(
    [
        [-0.4, 0.6, -0.1, -0.2, 0.1, 0.5, 0.1, 0.2],
        [0.6, -0.4, 0.2, 0.1, 0.0, -0.4, -0.2, -0.2],
        [0.0, 0.1, 0.2, 0.5, -0.1, 0.1, 0.4, 0.0],
    ]
)
_REGION_EFFECT = np.array([0.0, -0.05, 0.1, 0.15, -0.1])
# Position effect decays as -slope * log(position); small screens punish low
# positions harder, so the slope depends on the device.
_POSITION_SLOPE = np.array([0.6, 0.3, 0.45])
# Night is sluggish, evenings are when people browse (and click).
_HOUR_EFFECT = np.array([-0.3] * 6 + [-0.1] * 6 + [0.0] * 6 + [0.35] * 5 + [0.15])
# Price relative to the category median (log scale) and rating around 4 stars.
_W_REL_PRICE = -0.3
_W_RATING = 0.35
# Cheap *and* well-rated items get an extra boost (and expensive poorly-rated
# items an extra penalty); the product of -log(relative price) and rating - 4.
_W_CHEAP_X_RATING = 0.5
_W_QUANTITY = 0.15

# Salts keep the latent, chunk and injection seed streams apart.
_LATENT_SALT = 0x6C61_7465
_CHUNK_SALT = 0x6368_756E
_INJECT_SALT = 0x696E_6A65


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: np.ndarray) -> np.ndarray:
    # Clip so CTRs of exactly 0 or 1 (possible after rounding) stay finite.
    p = np.clip(p, 1e-4, 1.0 - 1e-4)
    return np.log(p / (1.0 - p))


def _codes(values: pd.Series, vocabulary: tuple[str, ...]) -> np.ndarray:
    """Vocabulary indices of ``values``; unseen values map to ``len(vocabulary)``."""
    codes = pd.Categorical(values, categories=vocabulary).codes.astype(np.int64)
    codes[codes < 0] = len(vocabulary)
    return codes


def _with_zero_row(table: np.ndarray, axis: int = 0) -> np.ndarray:
    """Appends a zero effect for the out-of-vocabulary code."""
    pad = [(0, 0)] * table.ndim
    pad[axis] = (0, 1)
    return np.pad(table, pad)


def click_probability(frame: pd.DataFrame) -> np.ndarray:
    """The true click probability of each impression under the generating model.

    The labels in generated data are ``Bernoulli(click_probability(frame))`` of the
    very same (already rounded) feature values, so ``roc_auc_score(frame.clicked,
    click_probability(frame))`` is the Bayes-optimal AUC a model can hope for.

    Values outside a vocabulary (e.g. injected unseen categories) get a zero effect
    rather than an error, so the function also works on perturbed frames.

    Args:
        frame: Rows with at least the columns device, region, hour, item_category,
            price, rating, position, user_ctr, item_ctr and purchase_quantity.

    Returns:
        A float64 array of probabilities in (0, 1), one per row.
    """
    device = _codes(frame["device"], DEVICES)
    region = _codes(frame["region"], REGIONS)
    category = _codes(frame["item_category"], CATEGORIES)
    hour = frame["hour"].to_numpy(dtype=np.int64) % 24
    price = frame["price"].to_numpy(dtype=np.float64)
    rating = frame["rating"].to_numpy(dtype=np.float64)
    position = np.clip(frame["position"].to_numpy(dtype=np.float64), 1.0, None)
    quantity = np.clip(frame["purchase_quantity"].to_numpy(dtype=np.float64), 0.0, None)

    # Unseen categories fall back to the overall median price.
    median_price = np.append(_MEDIAN_PRICE, np.median(_MEDIAN_PRICE))[category]
    rel_price = np.log(np.clip(price, 0.01, None) / median_price)
    stars = rating - 4.0

    logit = (
        _INTERCEPT
        + _W_USER_CTR * (_logit(frame["user_ctr"].to_numpy(dtype=np.float64)) - _CTR_REF_LOGIT)
        + _W_ITEM_CTR * (_logit(frame["item_ctr"].to_numpy(dtype=np.float64)) - _CTR_REF_LOGIT)
        + _with_zero_row(_with_zero_row(_DEVICE_CATEGORY, 0), 1)[device, category]
        + _with_zero_row(_REGION_EFFECT)[region]
        - np.append(_POSITION_SLOPE, _POSITION_SLOPE.mean())[device] * np.log(position)
        + _HOUR_EFFECT[hour]
        + _W_REL_PRICE * rel_price
        + _W_RATING * stars
        + _W_CHEAP_X_RATING * (-rel_price) * stars
        + _W_QUANTITY * np.log1p(quantity)
    )
    return _sigmoid(logit)


# --------------------------------------------------------------------------------------
# Latent user / item tables (depend on the seed only)
# --------------------------------------------------------------------------------------


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
        self.user_logit = rng.normal(_CTR_REF_LOGIT, 1.0, size=NUM_USERS)
        # Gamma-distributed purchase rate -> overdispersed (negative binomial) counts.
        self.user_purchase_rate = rng.gamma(shape=1.2, scale=1.5, size=NUM_USERS)

        item_rank = rng.permutation(NUM_ITEMS)
        self.item_popularity = 1.0 / (item_rank + 10.0) ** 0.9
        self.item_ids = np.array([f"i{i:05d}" for i in range(NUM_ITEMS)], dtype=object)
        self.item_category = rng.choice(len(CATEGORIES), size=NUM_ITEMS, p=_CATEGORY_P)
        self.item_price = _MEDIAN_PRICE[self.item_category] * np.exp(
            rng.normal(0.0, 1.0, size=NUM_ITEMS) * _CATEGORY_PRICE_SIGMA[self.item_category]
        )
        self.item_rating = np.round(np.clip(rng.normal(4.0, 0.6, size=NUM_ITEMS), 1.0, 5.0), 1)
        # Better-rated items tend to have a higher CTR history too.
        self.item_logit = (
            rng.normal(_CTR_REF_LOGIT, 0.7, size=NUM_ITEMS) + 0.3 * (self.item_rating - 4.0)
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
    rng = np.random.default_rng(
        np.random.SeedSequence([seed, day.toordinal(), chunk, _CHUNK_SALT])
    )

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
    user_ctr = np.round(_sigmoid(latent.user_logit[users] + rng.normal(0.0, 0.3, rows)), 4)
    item_ctr = np.round(_sigmoid(latent.item_logit[items] + rng.normal(0.0, 0.3, rows)), 4)
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


def _iter_chunks(
    day: datetime.date, rows: int, seed: int, drift: float
) -> Iterator[pd.DataFrame]:
    _check_args(rows, seed, drift)
    for chunk, start in enumerate(range(0, rows, CHUNK_ROWS)):
        yield _generate_chunk(day, start, min(CHUNK_ROWS, rows - start), seed, drift, chunk)


def generate_day(
    day: datetime.date, rows: int, seed: int, drift: float = 0.0
) -> pd.DataFrame:
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


def _write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Writes via a hidden temp file and renames it into place.

    A reader (e.g. CsvExampleGen's ``*.csv`` glob) never sees a half-written file,
    and the temp name does not match that glob.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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
        inject: Names from :data:`INJECTIONS` applied to the written file, in
            order. Field-level injections need the file still parseable, so list
            file-breaking ones (``empty_file``, ``header_only``, ``ragged_rows``,
            ``unterminated_quote``, ``non_utf8``, ``huge_line``) last.

    Returns:
        Path of the written CSV.

    Raises:
        ValueError: On invalid arguments or an unknown injection name.
    """
    unknown = [name for name in inject if name not in INJECTIONS]
    if unknown:
        raise ValueError(f"unknown injections {unknown}; known: {sorted(INJECTIONS)}")
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

    _write_atomically(path, write)
    for position, name in enumerate(inject):
        # Each injection gets its own stream, stable across days and list positions.
        sub_seed = int(
            np.random.SeedSequence([seed, day.toordinal(), position]).generate_state(1)[0]
        )
        apply_injection(path, name, sub_seed)
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


# --------------------------------------------------------------------------------------
# Bad-input injections
# --------------------------------------------------------------------------------------

Injection = Callable[[Path, np.random.Generator], None]
"""Rewrites a CSV written by :func:`write_day` in place, drawing choices from the rng."""

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
        path: A CSV written by :func:`write_day`.
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


RowEdit = Callable[[list[bytes], np.random.Generator], list[bytes]]


def _count_data_rows(path: Path) -> int:
    count = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            count += block.count(b"\n")
    return max(count - 1, 0)


def _column_index(header: bytes, column: str) -> int:
    names = header.rstrip(b"\r\n").split(b",")
    try:
        return names.index(column.encode())
    except ValueError:
        raise ValueError(f"injection needs column {column!r}, header has {names}") from None


def _rewrite_rows(
    path: Path,
    rng: np.random.Generator,
    fraction: float,
    edit_row: RowEdit,
    edit_header: Callable[[list[bytes]], list[bytes]] | None = None,
) -> None:
    """Streams the file, editing a random ``fraction`` of data rows (at least one).

    Lines are handled as bytes split on commas, which is exact for generated files
    (no value contains a comma or a quote) and survives earlier invalid UTF-8.
    ``fraction=1`` edits every row without drawing from ``rng``.
    """
    total = _count_data_rows(path)
    selected = np.ones(total, dtype=bool)
    if fraction < 1.0 and total:
        selected[:] = False
        count = min(total, max(1, int(round(fraction * total))))
        selected[rng.choice(total, size=count, replace=False)] = True

    def write(target: Path) -> None:
        with open(path, "rb") as source, open(target, "wb") as sink:
            header = source.readline()
            if edit_header is not None and header:
                header = b",".join(edit_header(header.rstrip(b"\r\n").split(b","))) + b"\n"
            sink.write(header)
            for index, line in enumerate(source):
                if index < total and selected[index]:
                    fields = line.rstrip(b"\r\n").split(b",")
                    line = b",".join(edit_row(fields, rng)) + b"\n"
                sink.write(line)

    _write_atomically(path, write)


def _header(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.readline()


def _set_field(index: int, value: Callable[[bytes, np.random.Generator], bytes]) -> RowEdit:
    """A row edit replacing field ``index`` (rows too short to have it are left alone)."""

    def edit(fields: list[bytes], rng: np.random.Generator) -> list[bytes]:
        if index < len(fields):
            fields[index] = value(fields[index], rng)
        return fields

    return edit


@register_injection("negative_quantity")
def _negative_quantity(path: Path, rng: np.random.Generator) -> None:
    """~1% of rows get ``purchase_quantity = -(q + 1)``, i.e. always negative."""
    index = _column_index(_header(path), "purchase_quantity")
    _rewrite_rows(path, rng, ROW_FRACTION, _set_field(index, lambda v, _: b"-%d" % (int(v) + 1)))


@register_injection("text_in_numeric")
def _text_in_numeric(path: Path, rng: np.random.Generator) -> None:
    """~1% of rows get text from :data:`NON_NUMERIC_TEXT` in the price column."""
    index = _column_index(_header(path), TEXT_IN_NUMERIC_COLUMN)
    choices = [text.encode() for text in NON_NUMERIC_TEXT]
    _rewrite_rows(
        path,
        rng,
        ROW_FRACTION,
        _set_field(index, lambda _, r: choices[int(r.integers(len(choices)))]),
    )


@register_injection("missing_label")
def _missing_label(path: Path, rng: np.random.Generator) -> None:
    """~1% of rows get an empty ``clicked`` field."""
    index = _column_index(_header(path), LABEL)
    _rewrite_rows(path, rng, ROW_FRACTION, _set_field(index, lambda _v, _r: b""))


@register_injection("shuffled_labels")
def _shuffled_labels(path: Path, rng: np.random.Generator) -> None:
    """The ``clicked`` column is permuted across all rows of the file.

    Features and the label's marginal distribution (its mean) are unchanged, so the
    data gate sees nothing wrong, but the label no longer depends on the features:
    a model trained or evaluated on the span is no better than chance. Rows too
    short to have the column are left alone.
    """
    index = _column_index(_header(path), LABEL)
    labels: list[bytes] = []
    with open(path, "rb") as handle:
        handle.readline()
        for line in handle:
            fields = line.rstrip(b"\r\n").split(b",")
            if index < len(fields):
                labels.append(fields[index])
    shuffled = iter([labels[i] for i in rng.permutation(len(labels))])
    # fraction=1 visits every row in file order, the order the labels were read in.
    _rewrite_rows(path, rng, 1.0, _set_field(index, lambda _v, _r: next(shuffled)))


@register_injection("unseen_categories")
def _unseen_categories(path: Path, rng: np.random.Generator) -> None:
    """~30% of rows get a device from :data:`UNSEEN_DEVICES` and a category from
    :data:`UNSEEN_CATEGORIES` (both in the same rows)."""
    header = _header(path)
    device = _column_index(header, "device")
    category = _column_index(header, "item_category")
    devices = [value.encode() for value in UNSEEN_DEVICES]
    categories = [value.encode() for value in UNSEEN_CATEGORIES]

    def edit(fields: list[bytes], r: np.random.Generator) -> list[bytes]:
        if device < len(fields):
            fields[device] = devices[int(r.integers(len(devices)))]
        if category < len(fields):
            fields[category] = categories[int(r.integers(len(categories)))]
        return fields

    _rewrite_rows(path, rng, UNSEEN_FRACTION, edit)


@register_injection("null_feature")
def _null_feature(path: Path, rng: np.random.Generator) -> None:
    """Every row gets an empty :data:`NULL_FEATURE_COLUMN` (the column stays in the header)."""
    index = _column_index(_header(path), NULL_FEATURE_COLUMN)
    _rewrite_rows(path, rng, 1.0, _set_field(index, lambda _v, _r: b""))


@register_injection("missing_column")
def _missing_column(path: Path, rng: np.random.Generator) -> None:
    """:data:`MISSING_COLUMN` is removed from the header and every row."""
    index = _column_index(_header(path), MISSING_COLUMN)

    def drop(fields: list[bytes], _r: np.random.Generator | None = None) -> list[bytes]:
        return fields[:index] + fields[index + 1 :]

    _rewrite_rows(path, rng, 1.0, drop, edit_header=drop)


@register_injection("extra_column")
def _extra_column(path: Path, rng: np.random.Generator) -> None:
    """Every row gets a trailing :data:`EXTRA_COLUMN` (values like ``P042``)."""
    codes = [b"P%03d" % i for i in range(100)]

    def add(fields: list[bytes], r: np.random.Generator) -> list[bytes]:
        return fields + [codes[int(r.integers(len(codes)))]]

    _rewrite_rows(path, rng, 1.0, add, edit_header=lambda names: names + [EXTRA_COLUMN.encode()])


@register_injection("ragged_rows")
def _ragged_rows(path: Path, rng: np.random.Generator) -> None:
    """~1% of rows lose their last field or gain an extra one (coin flip per row)."""

    def edit(fields: list[bytes], r: np.random.Generator) -> list[bytes]:
        return fields[:-1] if r.random() < 0.5 else fields + [b"surplus"]

    _rewrite_rows(path, rng, ROW_FRACTION, edit)


@register_injection("unterminated_quote")
def _unterminated_quote(path: Path, rng: np.random.Generator) -> None:
    """One random row's ``item_id`` opens a double quote that is never closed, so a
    CSV parser swallows the rest of the file into that field."""
    index = _column_index(_header(path), "item_id")
    _rewrite_rows(path, rng, 0.0, _set_field(index, lambda v, _: b'"' + v))


@register_injection("non_utf8")
def _non_utf8(path: Path, rng: np.random.Generator) -> None:
    """~1% of rows get the invalid UTF-8 bytes ``0xFF 0xFE`` appended to ``user_id``."""
    index = _column_index(_header(path), "user_id")
    _rewrite_rows(path, rng, ROW_FRACTION, _set_field(index, lambda v, _: v + b"\xff\xfe"))


@register_injection("huge_line")
def _huge_line(path: Path, rng: np.random.Generator) -> None:
    """One random row's ``item_id`` is padded with :data:`HUGE_LINE_BYTES` of ``x``
    (the row keeps the right number of fields; only its size is abnormal)."""
    index = _column_index(_header(path), "item_id")
    _rewrite_rows(path, rng, 0.0, _set_field(index, lambda v, _: v + b"x" * HUGE_LINE_BYTES))


@register_injection("empty_file")
def _empty_file(path: Path, rng: np.random.Generator) -> None:
    """The file is truncated to zero bytes (not even a header)."""
    path.write_bytes(b"")


@register_injection("header_only")
def _header_only(path: Path, rng: np.random.Generator) -> None:
    """Only the header line is kept."""
    header = _header(path)
    _write_atomically(path, lambda target: target.write_bytes(header))
