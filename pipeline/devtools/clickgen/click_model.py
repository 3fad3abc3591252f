"""The known click model: how the label ``clicked`` is drawn from the features.

A logistic model with interactions (device x category, position x device, price x
rating, hour of day). Generated labels are ``Bernoulli(click_probability(frame))``,
so tests can compare a trained model against the best achievable (Bayes) AUC.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.devtools.clickgen.schema import CATEGORIES, DEVICES, MEDIAN_PRICE, REGIONS

_INTERCEPT = -1.2
# Past CTRs enter on the logit scale, centred on a 20% CTR.
CTR_REF_LOGIT = float(np.log(0.2 / 0.8))
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


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, elementwise.

    Args:
        x: Logits.

    Returns:
        Probabilities in (0, 1).
    """
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
    median_price = np.append(MEDIAN_PRICE, np.median(MEDIAN_PRICE))[category]
    rel_price = np.log(np.clip(price, 0.01, None) / median_price)
    stars = rating - 4.0

    logit = (
        _INTERCEPT
        + _W_USER_CTR * (_logit(frame["user_ctr"].to_numpy(dtype=np.float64)) - CTR_REF_LOGIT)
        + _W_ITEM_CTR * (_logit(frame["item_ctr"].to_numpy(dtype=np.float64)) - CTR_REF_LOGIT)
        + _with_zero_row(_with_zero_row(_DEVICE_CATEGORY, 0), 1)[device, category]
        + _with_zero_row(_REGION_EFFECT)[region]
        - np.append(_POSITION_SLOPE, _POSITION_SLOPE.mean())[device] * np.log(position)
        + _HOUR_EFFECT[hour]
        + _W_REL_PRICE * rel_price
        + _W_RATING * stars
        + _W_CHEAP_X_RATING * (-rel_price) * stars
        + _W_QUANTITY * np.log1p(quantity)
    )
    return sigmoid(logit)
