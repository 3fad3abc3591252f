"""What a generated click log holds: its columns, vocabularies and catalogue sizes."""

from __future__ import annotations

import numpy as np

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

# Median price per category (lognormal prices around it): electronics are
# expensive, books and groceries cheap.
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
# The same, as an array in CATEGORIES order (indexed by category code).
MEDIAN_PRICE = np.array([CATEGORY_MEDIAN_PRICE[c] for c in CATEGORIES])
