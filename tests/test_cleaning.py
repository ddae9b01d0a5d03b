from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.market.cleaning import clean_panel
from forecasting.market.synthetic import synthetic_panel


def _blank(panel: pd.DataFrame, ticker: str, days: list[int], cols=("open", "high", "low", "close")) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    out = panel.copy()
    dates = out.index.get_level_values("date").unique()
    for d in days:
        out.loc[(dates[d], ticker), list(cols)] = np.nan
    return out


def test_short_gap_is_interpolated_linearly_and_counted() -> None:
    panel = synthetic_panel(2, 50, seed=0)
    holed = _blank(panel, "T0001", [10, 11], cols=("close",))
    clean = clean_panel(holed, max_gap=5)
    j = list(clean.tickers).index("T0001")
    close = clean.values["close"][:, j]
    a, b = close[9], close[12]
    np.testing.assert_allclose(close[10:12], [a + (b - a) / 3, a + 2 * (b - a) / 3])
    assert clean.repaired == 2 and clean.unbridged == 0
    assert clean.filled[10:12, j].all() and clean.filled.sum() == 2


def test_long_gap_is_not_bridged() -> None:
    panel = synthetic_panel(2, 50, seed=0)
    holed = _blank(panel, "T0000", list(range(20, 27)))
    clean = clean_panel(holed, max_gap=5)
    assert np.isnan(clean.values["close"][20:27, 0]).all()
    assert clean.repaired == 0 and clean.unbridged == 7 * 4


def test_missing_dates_are_gaps_on_the_shared_calendar() -> None:
    panel = synthetic_panel(2, 30, seed=0)
    day = panel.index.get_level_values("date").unique()[15]
    dropped = panel.drop(index=(day, "T0001"))
    clean = clean_panel(dropped)
    assert len(clean.dates) == 30
    assert clean.repaired == 5 and clean.filled[15, 1] and not clean.filled[15, 0]


def test_market_wide_empty_day_is_dropped_not_filled() -> None:
    panel = synthetic_panel(3, 30, seed=0)
    day = panel.index.get_level_values("date").unique()[12]
    panel.loc[day, :] = np.nan
    clean = clean_panel(panel)
    assert day not in clean.dates and list(clean.closed_dates) == [day]
    assert clean.repaired == 0


def test_ticker_life_is_not_extended() -> None:
    panel = synthetic_panel(2, 40, seed=0)
    late = panel.drop(index=panel.index[(panel.index.get_level_values("ticker") == "T0001")][:10])
    clean = clean_panel(late)
    assert np.isnan(clean.values["close"][:10, 1]).all()
    assert len(clean.to_frame()) == 70
