"""JPX AdjustmentFactor: both sources' conventions, written from their own definitions, load to the true series.

A split with factor ``f`` (0.5 for 2-for-1) on its split day ``d`` means: the raw (unadjusted) prices before ``d``
are the adjusted ones divided by ``f`` and the raw volumes multiplied by ``f``; from ``d`` on the raw prices are
the adjusted ones. The competition's files put ``f`` on the last trading day before ``d``; J-Quants puts it on
``d`` itself. The fixtures below are built from those definitions, not from the loader's code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.errors import DataError
from forecasting.market.loaders import load_market_data
from forecasting.market.synthetic import synthetic_panel
from tests.conftest import assert_close_panels

# ticker -> [(index of the split day in the ticker's dates, factor)]
SPLITS = {"T0000": [(100, 2.0)], "T0001": [(150, 0.5)], "T0002": [(60, 1 / 3), (220, 0.5)]}


def _true_panel() -> pd.DataFrame:
    return synthetic_panel(3, 300, seed=7)


def _write_jpx(path: Path, adjusted: pd.DataFrame, convention: str, splits: dict = SPLITS) -> pd.DataFrame:
    """The raw file of ``adjusted`` with ``splits``, the factor placed as ``convention`` defines it."""
    rows = []
    for ticker, group in adjusted.groupby(level="ticker"):
        one = group.droplevel("ticker")
        dates = one.index
        later = np.ones(len(dates))  # product of the factors of the splits after each row
        factor = np.ones(len(dates))
        for day, f in splits.get(ticker, []):
            later[:day] *= f
            if convention == "competition":
                factor[day - 1] = f  # the last day before the split
            else:
                factor[day] = f  # the split (ex-rights) day
        raw = pd.DataFrame({c: one[c].to_numpy() / later for c in ("open", "high", "low", "close")})
        raw["volume"] = one["volume"].to_numpy() * later
        raw.insert(0, "Date", dates.strftime("%Y-%m-%d"))
        raw.insert(1, "SecuritiesCode", ticker.replace("T", "1"))
        raw["AdjustmentFactor"] = factor
        rows.append(raw)
    frame = pd.concat(rows, ignore_index=True).rename(columns=str.title)
    frame = frame.rename(columns={"Securitiescode": "SecuritiesCode", "Adjustmentfactor": "AdjustmentFactor"})
    frame.insert(0, "RowId", frame["Date"].str.replace("-", "") + "_" + frame["SecuritiesCode"])
    frame["ExpectedDividend"] = np.nan
    frame["SupervisionFlag"] = False
    frame.to_csv(path, index=False, float_format="%.17g")
    return frame


def _codes(panel: pd.DataFrame) -> pd.DataFrame:
    return panel.rename(index=lambda t: t.replace("T", "1"), level="ticker")


@pytest.mark.parametrize("convention", ["competition", "jquants"])
def test_both_conventions_load_to_the_true_adjusted_series(tmp_path: Path, convention: str) -> None:
    true = _true_panel()
    raw = _write_jpx(tmp_path / "stock_prices.csv", true, convention)
    one = raw[raw["SecuritiesCode"] == "10001"]["Close"].to_numpy()
    assert one[149] / one[150] == pytest.approx(
        2.0 * true.xs("T0001", level="ticker")["close"].iloc[149] / true.xs("T0001", level="ticker")["close"].iloc[150]
    )
    loaded = load_market_data(tmp_path / "stock_prices.csv")
    assert_close_panels(loaded, _codes(true))
    close = loaded["close"].unstack("ticker")
    for ticker, splits in SPLITS.items():
        r = np.log(close[ticker.replace("T", "1")]).diff()
        for day, f in splits:
            # no split left in the adjusted series: the return into the split day is an ordinary one
            assert abs(r.iloc[day] - np.log(f)) > 0.05 and abs(r.iloc[day] + np.log(f)) > 0.05


@pytest.mark.parametrize("convention", ["competition", "jquants"])
def test_factor_with_no_price_jump_is_refused_with_code_and_date(tmp_path: Path, convention: str) -> None:
    true = _true_panel()
    path = tmp_path / "stock_prices.csv"
    raw = _write_jpx(path, true, convention)
    bogus = (raw["SecuritiesCode"] == "10000") & (raw["Date"] == f"{true.index.levels[0][40]:%Y-%m-%d}")
    raw.loc[bogus, "AdjustmentFactor"] = 0.5
    raw.to_csv(path, index=False, float_format="%.17g")
    with pytest.raises(DataError) as err:
        load_market_data(path)
    message = str(err.value)
    assert "\n" not in message and "10000" in message and f"{true.index.levels[0][40]:%Y-%m-%d}" in message


def test_a_factor_on_the_other_convention_row_is_refused(tmp_path: Path) -> None:
    true = _true_panel()
    path = tmp_path / "stock_prices.csv"
    raw = _write_jpx(path, true, "jquants")  # three split-day factors
    odd = _write_jpx(tmp_path / "other.csv", true, "competition")
    t1 = raw["SecuritiesCode"] == "10001"
    raw.loc[t1, "AdjustmentFactor"] = odd.loc[t1, "AdjustmentFactor"]  # one stock written the other way
    raw.to_csv(path, index=False, float_format="%.17g")
    with pytest.raises(DataError, match=r"10001 on \d{4}-\d{2}-\d{2} shows on the other row"):
        load_market_data(path)


def test_split_after_the_data_ends_and_missing_closes_around_a_split(tmp_path: Path) -> None:
    true = _true_panel()
    last = len(true.index.levels[0])
    # competition: a split on the first day after the file ends leaves its factor on the stock's last row
    splits = {"T0000": [(last, 0.5)], "T0001": [(150, 0.5)], "T0002": [(220, 0.5)]}
    path = tmp_path / "stock_prices.csv"
    raw = _write_jpx(path, true, "competition", splits)
    after = (raw["SecuritiesCode"] == "10001") & (raw["Date"] == f"{true.index.levels[0][150]:%Y-%m-%d}")
    raw.loc[after, ["Open", "High", "Low", "Close"]] = np.nan  # the split day's prices are missing
    raw.to_csv(path, index=False, float_format="%.17g")
    loaded = load_market_data(path)
    expected = _codes(true).copy()  # 10000's whole raw history is on the pre-split scale and still adjusted
    expected.loc[(true.index.levels[0][150], "10001"), ["open", "high", "low", "close"]] = np.nan
    np.testing.assert_allclose(loaded.to_numpy(), expected.to_numpy(), rtol=1e-9)
