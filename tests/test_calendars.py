"""Exchange calendars, checked against the exchanges' own holiday lists, not against what the code assumes.

NYSE 2020 holidays (nyse.com): 1 Jan, 20 Jan (Martin Luther King), 17 Feb (Washington's Birthday), 10 Apr (Good
Friday), 25 May (Memorial Day), 3 Jul (Independence Day, observed: 4 Jul was a Saturday), 7 Sep (Labor Day),
26 Nov (Thanksgiving), 25 Dec. TSE (jpx.co.jp): closed 31 Dec to 3 Jan, and on 13 Jan 2020 (Coming of Age Day);
on 1 Oct 2020 a system failure stopped all trading for the day.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.errors import ConfigError, DataError
from forecasting.market.calendars import calendar_name, resolve_calendar, sessions
from forecasting.market.cleaning import clean_panel
from forecasting.market.loaders import load_market_data
from forecasting.market.synthetic import synthetic_panel, to_jpx_frame
from forecasting.pipeline import ForecastConfig

NYSE_2020_HOLIDAYS = [
    "2020-01-01",
    "2020-01-20",
    "2020-02-17",
    "2020-04-10",
    "2020-05-25",
    "2020-07-03",
    "2020-09-07",
    "2020-11-26",
    "2020-12-25",
]
TSE_NEW_YEAR = ["2019-12-31", "2020-01-01", "2020-01-02", "2020-01-03", "2020-01-13"]


def _on_days(days: pd.DatetimeIndex, n_tickers: int = 1, seed: int = 0) -> pd.DataFrame:
    """A synthetic panel whose rows fall on ``days`` (the synthetic prices moved onto them, in order)."""
    panel = synthetic_panel(n_tickers, len(days), seed=seed)
    dates = panel.index.get_level_values("date").unique()
    return panel.rename(index=dict(zip(dates, days, strict=False)), level="date")


def _weekdays(first: str, last: str, *, without: list[str]) -> pd.DatetimeIndex:
    days = pd.bdate_range(first, last, name="date").as_unit("ns")
    return days[~days.isin(pd.DatetimeIndex(without))]


def _quiet_clean(panel: pd.DataFrame, **kwargs: object):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning is expected where this is used
        return clean_panel(panel, **kwargs)  # type: ignore[arg-type]


def test_nyse_2020_sessions_are_the_weekdays_without_its_holidays() -> None:
    got = sessions("XNYS", pd.Timestamp("2020-01-01"), pd.Timestamp("2020-12-31"))
    expected = _weekdays("2020-01-01", "2020-12-31", without=NYSE_2020_HOLIDAYS)
    assert len(expected) == 253
    pd.testing.assert_index_equal(got, expected)


def test_tse_new_year_and_the_2020_outage_are_not_sessions() -> None:
    got = sessions("XTKS", pd.Timestamp("2019-12-27"), pd.Timestamp("2020-01-17"))
    pd.testing.assert_index_equal(got, _weekdays("2019-12-27", "2020-01-17", without=TSE_NEW_YEAR))
    assert pd.Timestamp("2020-10-01") not in sessions("XTKS", pd.Timestamp("2020-09-28"), pd.Timestamp("2020-10-02"))


@pytest.mark.parametrize(
    ("given", "expected"), [("XNYS", "XNYS"), ("xtks", "XTKS"), ("NYSE", "NYSE"), ("Auto", "auto"), ("NONE", "none")]
)
def test_calendar_names_are_checked_and_spelled_as_the_package_spells_them(given: str, expected: str) -> None:
    assert calendar_name(given) == expected


def test_an_unknown_calendar_is_one_line_naming_the_option_and_some_valid_names() -> None:
    with pytest.raises(ConfigError, match=r"^--calendar 'NOPE' is not an exchange calendar; use auto, none") as err:
        calendar_name("NOPE")
    assert "XNYS" in str(err.value) and "XTKS" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="--calendar 'NOPE'"):
        ForecastConfig(calendar="NOPE")
    assert ForecastConfig(calendar="xnys").calendar == "XNYS" and ForecastConfig().calendar == "auto"


def test_a_calendar_that_does_not_reach_the_data_is_a_data_error() -> None:
    panel = _on_days(pd.bdate_range("1990-01-02", periods=10, name="date"))
    with pytest.raises(DataError, match=r"calendar XTKS does not cover the data's dates 1990-01-02.*--calendar none"):
        clean_panel(panel, calendar="XTKS")


def test_a_session_missing_from_a_single_ticker_file_is_a_gap_and_is_interpolated() -> None:
    sessions_ = _weekdays("2020-06-22", "2020-07-10", without=["2020-07-03"])
    file_days = sessions_[sessions_ != pd.Timestamp("2020-07-01")]
    panel = _on_days(file_days)
    clean = _quiet_clean(panel, calendar="XNYS", max_gap=5)
    pd.testing.assert_index_equal(clean.dates, sessions_)
    assert list(clean.missing_sessions) == [pd.Timestamp("2020-07-01")]
    i = clean.dates.get_loc(pd.Timestamp("2020-07-01"))
    close = clean.values["close"][:, 0]
    assert close[i] == pytest.approx((close[i - 1] + close[i + 1]) / 2)  # linear, one day between two real closes
    assert clean.filled[i, 0] and clean.filled.sum() == 1 and clean.repaired == 5
    assert int(clean.rows.sum()) == len(file_days) == len(sessions_) - 1
    # without a calendar the day does not exist: exactly the behaviour before calendars
    none = _quiet_clean(panel, calendar="none", max_gap=5)
    pd.testing.assert_index_equal(none.dates, pd.DatetimeIndex(file_days, name="date"))
    assert none.repaired == 0 and none.calendar is None and len(none.missing_sessions) == 0


def test_missing_sessions_longer_than_max_gap_stay_missing() -> None:
    sessions_ = _weekdays("2020-06-01", "2020-07-31", without=["2020-07-03"])
    hole = sessions_[10:14]  # four sessions in a row
    panel = _on_days(sessions_[~sessions_.isin(hole)], n_tickers=2)
    short = _quiet_clean(panel, calendar="XNYS", max_gap=4)
    long_ = _quiet_clean(panel, calendar="XNYS", max_gap=3)
    assert list(short.missing_sessions) == list(hole) == list(long_.missing_sessions)
    assert short.filled[10:14].all() and short.unbridged == 0 and short.repaired == 4 * 2 * 5
    assert np.isnan(long_.values["close"][10:14]).all() and long_.unbridged == 4 * 2 * 5 and long_.repaired == 0
    assert len(long_.closed_dates) == 0  # a missing session is never dropped as a closed day


def test_a_holiday_is_never_made_a_gap() -> None:
    days = _weekdays("2020-06-22", "2020-07-10", without=["2020-07-03"])
    clean = _quiet_clean(_on_days(days, n_tickers=2), calendar="XNYS")
    assert pd.Timestamp("2020-07-03") not in clean.dates
    assert clean.repaired == 0 and not clean.filled.any() and len(clean.missing_sessions) == 0


def test_a_row_on_a_holiday_is_left_out_with_a_warning_not_kept() -> None:
    days = _weekdays("2020-06-22", "2020-07-10", without=[])  # 3 July, a NYSE holiday, has a row
    panel = _on_days(days, n_tickers=2)
    with pytest.warns(
        UserWarning,
        match=r"2 row\(s\) on 1 day\(s\) that are not XNYS sessions were left out "
        r"\(2020-07-03\); check --calendar, or pass --calendar none",
    ):
        clean = clean_panel(panel, calendar="XNYS")
    assert pd.Timestamp("2020-07-03") not in clean.dates and len(clean.dates) == len(days) - 1
    assert list(clean.off_calendar) == [pd.Timestamp("2020-07-03")] and clean.off_calendar_rows == 2
    assert clean.repaired == 0 and list(clean.rows) == [len(days), len(days)]
    kept = _quiet_clean(panel, calendar="none")
    assert pd.Timestamp("2020-07-03") in kept.dates


def test_an_empty_row_on_a_closed_day_is_dropped_silently() -> None:
    days = _weekdays("2020-09-23", "2020-10-09", without=[])  # 1 Oct: TSE outage, XTKS closed
    panel = _on_days(days, n_tickers=2)
    panel.loc[pd.Timestamp("2020-10-01"), :] = np.nan
    clean = _quiet_clean(panel, calendar="XTKS")
    assert list(clean.closed_dates) == [pd.Timestamp("2020-10-01")] and clean.off_calendar_rows == 0
    assert pd.Timestamp("2020-10-01") not in clean.dates and clean.repaired == 0


def test_a_session_missing_from_every_ticker_is_a_gap_with_a_calendar_and_dropped_without() -> None:
    days = _weekdays("2020-06-22", "2020-07-10", without=["2020-07-03"])
    panel = _on_days(days, n_tickers=3)
    panel = panel[panel.index.get_level_values("date") != pd.Timestamp("2020-06-30")]
    clean = _quiet_clean(panel, calendar="XNYS")
    i = clean.dates.get_loc(pd.Timestamp("2020-06-30"))
    assert clean.filled[i].all() and list(clean.missing_sessions) == [pd.Timestamp("2020-06-30")]
    assert pd.Timestamp("2020-06-30") not in _quiet_clean(panel, calendar="none").dates


def _jpx_folder(root: Path, panel: pd.DataFrame) -> Path:
    jpx = to_jpx_frame(panel)
    cut = jpx["Date"] >= "2020-01-20"
    for sub, part in (("train_files", jpx[~cut]), ("supplemental_files", jpx[cut])):
        (root / sub).mkdir(parents=True)
        part.to_csv(root / sub / "stock_prices.csv", index=False, float_format="%.17g")
    return root


def test_auto_is_xtks_for_a_jpx_folder_and_none_for_other_files(tmp_path: Path) -> None:
    tse = _weekdays("2019-12-23", "2020-02-07", without=TSE_NEW_YEAR)
    panel = _on_days(tse[tse != pd.Timestamp("2020-01-08")], n_tickers=2)
    loaded = load_market_data(_jpx_folder(tmp_path / "jpx", panel))
    assert resolve_calendar("auto", loaded) == "XTKS"
    assert resolve_calendar("auto", load_market_data(tmp_path / "jpx", tickers=["10001"])) == "XTKS"
    clean = _quiet_clean(loaded)  # the default is auto
    assert clean.calendar == "XTKS" and list(clean.missing_sessions) == [pd.Timestamp("2020-01-08")]
    pd.testing.assert_index_equal(clean.dates, pd.DatetimeIndex(tse, name="date"))
    path = tmp_path / "p.csv"
    panel.reset_index().to_csv(path, index=False)
    assert resolve_calendar("auto", load_market_data(path)) is None
    assert _quiet_clean(load_market_data(path)).calendar is None
