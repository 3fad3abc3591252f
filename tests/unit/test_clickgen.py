"""Tests for the synthetic click-log generator (pipeline.devtools.clickgen)."""

from __future__ import annotations

import datetime
import io
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from pipeline.devtools import clickgen as cg

DAY = datetime.date(2026, 11, 1)
SEED = 7


def _device_share(frame: pd.DataFrame) -> pd.Series:
    return frame["device"].value_counts(normalize=True).reindex(cg.DEVICES, fill_value=0.0)


@pytest.fixture(scope="module")
def day_20k() -> pd.DataFrame:
    return cg.generate_day(DAY, 20_000, SEED)


@pytest.fixture()
def small_csv(tmp_path: Path) -> Path:
    return cg.write_day(tmp_path, DAY, 1_000, SEED)


# --- determinism -----------------------------------------------------------------------


def test_same_arguments_give_identical_bytes(tmp_path: Path) -> None:
    first = cg.write_day(tmp_path / "a", DAY, 3_000, SEED, drift=0.3)
    second = cg.write_day(tmp_path / "b", DAY, 3_000, SEED, drift=0.3)
    assert first.read_bytes() == second.read_bytes()


def test_different_seed_or_drift_gives_different_bytes(tmp_path: Path) -> None:
    base = cg.write_day(tmp_path / "a", DAY, 1_000, SEED).read_bytes()
    assert cg.write_day(tmp_path / "b", DAY, 1_000, SEED + 1).read_bytes() != base
    assert cg.write_day(tmp_path / "c", DAY, 1_000, SEED, drift=0.5).read_bytes() != base


def test_day_regenerated_alone_equals_day_from_multi_day_run(tmp_path: Path) -> None:
    paths = cg.write_spans(tmp_path / "run", DAY, days=3, rows=2_000, seed=SEED)
    assert [p.parent.name for p in paths] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert all(p.name == "clicks.csv" for p in paths)
    alone = cg.write_day(tmp_path / "alone", DAY + datetime.timedelta(days=1), 2_000, SEED)
    assert alone.read_bytes() == paths[1].read_bytes()
    # Different days differ, but share the same user/item latent tables.
    assert paths[0].read_bytes() != paths[1].read_bytes()


def test_generate_day_matches_written_file_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small chunks so the day spans several of them, including a partial last one.
    monkeypatch.setattr(cg.days, "CHUNK_ROWS", 700)
    path = cg.write_day(tmp_path, DAY, 2_500, SEED)
    written = pd.read_csv(path)
    generated = cg.generate_day(DAY, 2_500, SEED)
    pd.testing.assert_frame_equal(written, generated)
    assert generated["impression_id"].is_unique
    assert generated["impression_id"].iloc[-1] == "2026-11-01-000002499"


# --- schema and value ranges -----------------------------------------------------------


def test_header_dtypes_and_ranges(small_csv: Path) -> None:
    assert small_csv == small_csv.parent.parent / "2026-11-01" / "clicks.csv"
    assert small_csv.read_text().splitlines()[0] == ",".join(cg.COLUMNS)
    frame = pd.read_csv(small_csv)
    assert tuple(frame.columns) == cg.COLUMNS
    assert len(frame) == 1_000
    for column in ("hour", "position", "purchase_quantity", "clicked"):
        assert frame[column].dtype == np.int64, column
    for column in ("price", "rating", "user_ctr", "item_ctr"):
        assert frame[column].dtype == np.float64, column
    assert frame["impression_id"].is_unique
    assert frame["impression_id"].str.fullmatch(r"2026-11-01-\d{9}").all()
    assert frame["user_id"].str.fullmatch(r"u\d{6}").all()
    assert frame["item_id"].str.fullmatch(r"i\d{5}").all()
    assert set(frame["device"]) <= set(cg.DEVICES)
    assert set(frame["region"]) <= set(cg.REGIONS)
    assert set(frame["item_category"]) <= set(cg.CATEGORIES)
    assert frame["hour"].between(0, 23).all()
    assert frame["position"].between(1, cg.MAX_POSITION).all()
    assert frame["user_ctr"].between(0, 1).all() and frame["item_ctr"].between(0, 1).all()
    assert frame["rating"].between(1, 5).all()
    assert (frame["price"] > 0).all()
    assert np.allclose(frame["price"], frame["price"].round(2))
    assert np.allclose(frame["user_ctr"], frame["user_ctr"].round(4))
    assert (frame["purchase_quantity"] >= 0).all()
    assert set(frame["clicked"]) <= {0, 1}


def test_distributions_look_as_documented(day_20k: pd.DataFrame) -> None:
    share = _device_share(day_20k)
    assert abs(share["mobile"] - 0.55) < 0.03 and abs(share["tablet"] - 0.10) < 0.03
    medians = day_20k.groupby("item_category")["price"].median()
    assert medians["electronics"] > 5 * medians["books"]
    by_hour = day_20k["hour"].value_counts()
    assert by_hour.loc[18:22].mean() > 2 * by_hour.loc[1:5].mean()
    # Zipf-ish: the busiest user has many impressions, most users have few.
    assert day_20k["user_id"].value_counts().iloc[0] >= 20


def test_zero_rows_writes_header_only(tmp_path: Path) -> None:
    path = cg.write_day(tmp_path, DAY, 0, SEED)
    assert path.read_text() == ",".join(cg.COLUMNS) + "\n"
    assert tuple(cg.generate_day(DAY, 0, SEED).columns) == cg.COLUMNS


@pytest.mark.parametrize("kwargs", [{"rows": -1}, {"drift": 1.5}, {"drift": -0.1}, {"seed": -1}])
def test_invalid_arguments_raise(kwargs: dict) -> None:
    args = {"day": DAY, "rows": 10, "seed": SEED, **kwargs}
    with pytest.raises(ValueError):
        cg.generate_day(**args)


# --- the known model -------------------------------------------------------------------


def test_base_rate_and_bayes_auc(day_20k: pd.DataFrame) -> None:
    base_rate = day_20k[cg.LABEL].mean()
    assert 0.15 <= base_rate <= 0.30
    probability = cg.click_probability(day_20k)
    assert abs(probability.mean() - base_rate) < 0.01
    assert roc_auc_score(day_20k[cg.LABEL], probability) >= 0.75


def test_simple_model_learns_signal_on_another_day(day_20k: pd.DataFrame) -> None:
    train = day_20k.iloc[:10_000]
    test = cg.generate_day(DAY + datetime.timedelta(days=1), 10_000, SEED)
    categorical = ["device", "region", "item_category"]
    numeric = ["hour", "price", "rating", "position", "user_ctr", "item_ctr", "purchase_quantity"]
    model = make_pipeline(
        ColumnTransformer(
            [
                ("onehot", OneHotEncoder(handle_unknown="ignore"), categorical),
                ("scale", StandardScaler(), numeric),
            ]
        ),
        LogisticRegression(max_iter=1_000),
    )
    model.fit(train[categorical + numeric], train[cg.LABEL])
    scores = model.predict_proba(test[categorical + numeric])[:, 1]
    assert roc_auc_score(test[cg.LABEL], scores) >= 0.65


def test_device_category_interaction_matters() -> None:
    row = {
        "device": "mobile",
        "region": "na",
        "hour": 12,
        "item_category": "fashion",
        "price": 40.0,
        "rating": 4.0,
        "position": 1,
        "user_ctr": 0.2,
        "item_ctr": 0.2,
        "purchase_quantity": 1,
    }
    grid = pd.DataFrame(
        [
            {**row, "device": device, "item_category": category}
            for device in ("mobile", "desktop")
            for category in ("fashion", "electronics")
        ]
    )
    grid["price"] = np.where(grid["item_category"] == "electronics", 180.0, 40.0)
    cells = zip(grid["device"], grid["item_category"], strict=True)
    p = dict(zip(cells, cg.click_probability(grid), strict=True))
    assert p["mobile", "fashion"] > p["desktop", "fashion"] + 0.05
    assert p["desktop", "electronics"] > p["mobile", "electronics"] + 0.05


def test_position_effect_decays_faster_on_mobile() -> None:
    frame = pd.DataFrame(
        {
            "device": ["mobile", "mobile", "desktop", "desktop"],
            "region": "eu",
            "hour": 20,
            "item_category": "home",
            "price": 55.0,
            "rating": 4.2,
            "position": [1, 20, 1, 20],
            "user_ctr": 0.3,
            "item_ctr": 0.25,
            "purchase_quantity": 2,
        }
    )
    p = cg.click_probability(frame)
    assert p[1] < p[0] and p[3] < p[2]
    assert p[0] / p[1] > p[2] / p[3]


def test_unseen_categories_get_neutral_effect() -> None:
    frame = pd.DataFrame(
        {
            "device": ["smartwatch"],
            "region": ["mars"],
            "hour": [3],
            "item_category": ["garden"],
            "price": [10.0],
            "rating": [3.0],
            "position": [2],
            "user_ctr": [0.1],
            "item_ctr": [0.1],
            "purchase_quantity": [0],
        }
    )
    probability = cg.click_probability(frame)
    assert np.isfinite(probability).all() and 0 < probability[0] < 1


# --- drift -----------------------------------------------------------------------------


def test_drift_shifts_distributions(day_20k: pd.DataFrame) -> None:
    other_day = cg.generate_day(DAY + datetime.timedelta(days=1), 20_000, SEED)
    drifted = cg.generate_day(DAY + datetime.timedelta(days=1), 20_000, SEED, drift=1.0)
    baseline = (_device_share(day_20k) - _device_share(other_day)).abs().max()
    shifted = (_device_share(day_20k) - _device_share(drifted)).abs().max()
    assert baseline < 0.03
    assert shifted > 0.1
    assert drifted["price"].median() > 1.3 * day_20k["price"].median()
    toys = (drifted["item_category"] == "toys").mean() - (day_20k["item_category"] == "toys").mean()
    assert toys > 0.1
    assert drifted["hour"].mean() < day_20k["hour"].mean() - 1


# --- injections ------------------------------------------------------------------------

REQUIRED_INJECTIONS = {
    "negative_quantity",
    "text_in_numeric",
    "missing_label",
    "unseen_categories",
    "null_feature",
    "missing_column",
    "extra_column",
    "ragged_rows",
    "unterminated_quote",
    "non_utf8",
    "huge_line",
    "empty_file",
    "header_only",
    "shuffled_labels",
}


def _changed_lines(before: bytes, after: bytes) -> int:
    old, new = before.split(b"\n"), after.split(b"\n")
    assert len(old) == len(new)
    return sum(a != b for a, b in zip(old, new, strict=True))


def test_registry_has_required_injections() -> None:
    assert REQUIRED_INJECTIONS <= set(cg.INJECTIONS)


def test_unknown_injection_raises(tmp_path: Path, small_csv: Path) -> None:
    with pytest.raises(ValueError, match="unknown injection"):
        cg.apply_injection(small_csv, "no_such_thing", 0)
    with pytest.raises(ValueError, match="unknown injections"):
        cg.write_day(tmp_path / "x", DAY, 10, SEED, inject=["no_such_thing"])


@pytest.mark.parametrize("kind", sorted(REQUIRED_INJECTIONS))
def test_injection_is_deterministic(tmp_path: Path, kind: str) -> None:
    first = cg.write_day(tmp_path / "a", DAY, 500, SEED, inject=[kind]).read_bytes()
    second = cg.write_day(tmp_path / "b", DAY, 500, SEED, inject=[kind]).read_bytes()
    assert first == second


def test_negative_quantity(small_csv: Path) -> None:
    before = small_csv.read_bytes()
    cg.apply_injection(small_csv, "negative_quantity", 1)
    frame = pd.read_csv(small_csv)
    assert (frame["purchase_quantity"] < 0).sum() == 10
    assert _changed_lines(before, small_csv.read_bytes()) == 10


def test_text_in_numeric(small_csv: Path) -> None:
    cg.apply_injection(small_csv, "text_in_numeric", 1)
    price = pd.read_csv(small_csv, dtype=str, keep_default_na=False)["price"]
    bad = price[pd.to_numeric(price, errors="coerce").isna()]
    assert len(bad) == 10 and set(bad) <= set(cg.NON_NUMERIC_TEXT)
    assert pd.read_csv(small_csv)["price"].dtype == object


def test_missing_label(small_csv: Path) -> None:
    cg.apply_injection(small_csv, "missing_label", 1)
    assert pd.read_csv(small_csv)[cg.LABEL].isna().sum() == 10


def test_shuffled_labels_keep_features_and_base_rate_but_lose_the_signal(
    tmp_path: Path,
) -> None:
    path = cg.write_day(tmp_path, DAY, 5_000, SEED)
    before = pd.read_csv(path)
    cg.apply_injection(path, "shuffled_labels", 1)
    after = pd.read_csv(path)
    features = [column for column in cg.COLUMNS if column != cg.LABEL]
    pd.testing.assert_frame_equal(after[features], before[features])
    # A permutation: the same labels (so the same mean), in other rows.
    assert sorted(after[cg.LABEL]) == sorted(before[cg.LABEL])
    assert after[cg.LABEL].mean() == before[cg.LABEL].mean()
    assert (after[cg.LABEL] != before[cg.LABEL]).sum() > 500
    truth = cg.click_probability(before)
    assert roc_auc_score(before[cg.LABEL], truth) > 0.75
    assert abs(roc_auc_score(after[cg.LABEL], truth) - 0.5) < 0.03


def test_unseen_categories(small_csv: Path) -> None:
    cg.apply_injection(small_csv, "unseen_categories", 1)
    frame = pd.read_csv(small_csv)
    unseen = ~frame["device"].isin(cg.DEVICES)
    assert unseen.mean() == pytest.approx(cg.UNSEEN_FRACTION, abs=0.01)
    assert set(frame.loc[unseen, "device"]) <= set(cg.UNSEEN_DEVICES)
    assert (~frame["item_category"].isin(cg.CATEGORIES)).sum() == unseen.sum()


def test_null_feature(small_csv: Path) -> None:
    cg.apply_injection(small_csv, "null_feature", 1)
    frame = pd.read_csv(small_csv)
    assert tuple(frame.columns) == cg.COLUMNS
    assert frame[cg.NULL_FEATURE_COLUMN].isna().all()
    assert frame.drop(columns=cg.NULL_FEATURE_COLUMN).notna().all().all()


def test_missing_column(small_csv: Path) -> None:
    cg.apply_injection(small_csv, "missing_column", 1)
    frame = pd.read_csv(small_csv)
    assert cg.MISSING_COLUMN not in frame.columns
    assert list(frame.columns) == [c for c in cg.COLUMNS if c != cg.MISSING_COLUMN]
    assert len(frame) == 1_000 and frame.notna().all().all()


def test_extra_column(small_csv: Path) -> None:
    cg.apply_injection(small_csv, "extra_column", 1)
    frame = pd.read_csv(small_csv)
    assert list(frame.columns) == [*cg.COLUMNS, cg.EXTRA_COLUMN]
    assert frame[cg.EXTRA_COLUMN].notna().all()


def test_ragged_rows(small_csv: Path) -> None:
    before = small_csv.read_bytes()
    cg.apply_injection(small_csv, "ragged_rows", 1)
    after = small_csv.read_bytes()
    counts = [line.count(b",") + 1 for line in after.splitlines()]
    assert sum(c != len(cg.COLUMNS) for c in counts) == 10
    assert {c for c in counts} <= {len(cg.COLUMNS) - 1, len(cg.COLUMNS), len(cg.COLUMNS) + 1}
    assert _changed_lines(before, after) == 10


def test_unterminated_quote(small_csv: Path) -> None:
    cg.apply_injection(small_csv, "unterminated_quote", 1)
    text = small_csv.read_text()
    assert text.count('"') == 1
    with pytest.raises(pd.errors.ParserError):
        pd.read_csv(small_csv)


def test_non_utf8(small_csv: Path) -> None:
    cg.apply_injection(small_csv, "non_utf8", 1)
    data = small_csv.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert sum(b"\xff" in line for line in data.splitlines()) == 10


def test_huge_line(small_csv: Path) -> None:
    cg.apply_injection(small_csv, "huge_line", 1)
    lines = small_csv.read_bytes().splitlines()
    lengths = sorted(len(line) for line in lines)
    assert len(lines) == 1_001
    assert lengths[-1] > 5_000_000 and lengths[-2] < 1_000
    # Still the right number of fields: only the size is abnormal.
    assert max(lines, key=len).count(b",") == len(cg.COLUMNS) - 1


def test_empty_file(small_csv: Path) -> None:
    cg.apply_injection(small_csv, "empty_file", 1)
    assert small_csv.stat().st_size == 0


def test_header_only(small_csv: Path) -> None:
    cg.apply_injection(small_csv, "header_only", 1)
    assert small_csv.read_text() == ",".join(cg.COLUMNS) + "\n"
    assert pd.read_csv(small_csv).empty


def test_write_day_applies_injections_in_order(tmp_path: Path) -> None:
    path = cg.write_day(
        tmp_path, DAY, 1_000, SEED, inject=["negative_quantity", "missing_column", "non_utf8"]
    )
    frame = pd.read_csv(io.BytesIO(path.read_bytes()), encoding="latin-1")
    assert cg.MISSING_COLUMN not in frame.columns
    assert (frame["purchase_quantity"] < 0).sum() == 10
    assert not list(path.parent.glob(".*"))  # no temp files left behind


def test_custom_injection_can_be_registered(
    small_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cg.injections, "INJECTIONS", dict(cg.INJECTIONS))

    @cg.register_injection("shout")
    def _shout(path: Path, rng: np.random.Generator) -> None:
        path.write_bytes(path.read_bytes().upper())

    cg.apply_injection(small_csv, "shout", 0)
    assert small_csv.read_text().startswith("IMPRESSION_ID")
    with pytest.raises(ValueError, match="already registered"):
        cg.register_injection("shout")(_shout)
    assert "shout" not in cg.INJECTIONS  # the shipped registry is untouched


# --- scale -----------------------------------------------------------------------------


def test_scale_300k_rows_in_chunks(tmp_path: Path) -> None:
    assert cg.CHUNK_ROWS < 300_000  # the day really is written in several chunks
    started = time.perf_counter()
    path = cg.write_day(tmp_path, DAY, 300_000, SEED)
    elapsed = time.perf_counter() - started
    with open(path, "rb") as handle:
        lines = sum(1 for _ in handle)
    assert lines == 300_001
    frame = pd.read_csv(path, usecols=["impression_id", "clicked"])
    assert frame["impression_id"].is_unique
    assert frame["impression_id"].iloc[-1] == "2026-11-01-000299999"
    assert 0.15 <= frame["clicked"].mean() <= 0.30
    assert elapsed < 10
