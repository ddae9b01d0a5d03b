"""Dates: one format per column, inferred only when the column decides it, never guessed cell by cell.

Every fixture writes known dates with ``strftime`` in the format under test and gives each row a close that
encodes its intended date, so that a row carrying another day's prices cannot go unnoticed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecasting.errors import DataError
from forecasting.market.loaders import load_market_data
from qtrade.cli import app

runner = CliRunner()


def _days(start: str = "1999-01-04", n: int = 300) -> pd.DatetimeIndex:
    return pd.bdate_range(start, periods=n)


def _price_of(days: pd.DatetimeIndex) -> np.ndarray:
    """A close that names its day: days since 1900 plus 1,000 (so every price is distinct and positive)."""
    return (days - pd.Timestamp("1900-01-01")).days.to_numpy() + 1000.0


def _write_yahoo(path: Path, dates: list[str], days: pd.DatetimeIndex) -> Path:
    close = _price_of(days)
    frame = pd.DataFrame(
        {"Date": dates, "Open": close, "High": close + 1, "Low": close - 1, "Close": close, "Volume": 1000.0}
    )
    frame.to_csv(path, index=False)
    return path


def _assert_every_row_on_its_day(panel: pd.DataFrame, days: pd.DatetimeIndex) -> None:
    loaded = panel.index.get_level_values("date")
    assert len(loaded) == len(days)
    expected = pd.DatetimeIndex(sorted(days))
    assert (loaded == expected).all()
    # each loaded row carries the prices written for its own day
    np.testing.assert_array_equal(panel["close"].to_numpy(), _price_of(expected))


@pytest.mark.parametrize(
    "fmt",
    [
        "%Y-%m-%d",
        "%Y%m%d",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%d/%m/%Y",
        "%d-%m-%Y",
        "%d.%m.%Y",
        "%m/%d/%Y",
        "%m-%d-%Y",
        "%m.%d.%Y",
        "%d/%m/%Y %H:%M:%S",
    ],
)
def test_each_format_loads_every_row_on_its_own_day(tmp_path: Path, fmt: str) -> None:
    days = _days("1999-01-04", 4444)  # 1999-2016, as a long Yahoo download
    path = _write_yahoo(tmp_path / "ACME.csv", [d.strftime(fmt) for d in days], days)
    _assert_every_row_on_its_day(load_market_data(path), days)


def test_day_first_file_in_the_wrong_order_still_loads_each_row_on_its_day(tmp_path: Path) -> None:
    days = _days("2003-05-01", 120)
    order = np.random.default_rng(3).permutation(len(days))
    shuffled = days[order]
    path = _write_yahoo(tmp_path / "ACME.csv", [d.strftime("%d/%m/%Y") for d in shuffled], shuffled)
    _assert_every_row_on_its_day(load_market_data(path), days)


def _ambiguous_days() -> pd.DatetimeIndex:
    """Business days whose day of the month is at most 12: each could be read day-first or month-first."""
    days = _days("2010-01-01", 400)
    return days[days.day <= 12]


@pytest.mark.parametrize("sep", ["/", "-", "."])
def test_ambiguous_column_is_refused_with_one_line_naming_the_option(tmp_path: Path, sep: str) -> None:
    days = _ambiguous_days()
    path = _write_yahoo(tmp_path / "ACME.csv", [d.strftime(f"%d{sep}%m{sep}%Y") for d in days], days)
    with pytest.raises(DataError) as err:
        load_market_data(path)
    message = str(err.value)
    assert "\n" not in message and "--date-format" in message and "ACME.csv" in message
    assert f"%d{sep}%m{sep}%Y" in message


@pytest.mark.parametrize("fmt", ["%d/%m/%Y", "%m/%d/%Y"])
def test_date_format_settles_an_ambiguous_column(tmp_path: Path, fmt: str) -> None:
    days = _ambiguous_days()
    path = _write_yahoo(tmp_path / "ACME.csv", [d.strftime(fmt) for d in days], days)
    _assert_every_row_on_its_day(load_market_data(path, date_format=fmt), days)


def test_date_format_that_does_not_fit_is_refused(tmp_path: Path) -> None:
    days = _days("2010-01-01", 30)
    path = _write_yahoo(tmp_path / "ACME.csv", [d.strftime("%Y-%m-%d") for d in days], days)
    with pytest.raises(DataError, match=r"does not match --date-format '%d/%m/%Y'"):
        load_market_data(path, date_format="%d/%m/%Y")


def test_a_column_that_is_day_first_and_month_first_at_once_is_refused(tmp_path: Path) -> None:
    days = pd.DatetimeIndex(["2020-01-13", "2020-01-14"])
    dates = [days[0].strftime("%d/%m/%Y"), days[1].strftime("%m/%d/%Y")]
    with pytest.raises(DataError, match="one date format"):
        load_market_data(_write_yahoo(tmp_path / "ACME.csv", dates, days))


def test_mixed_formats_in_one_column_are_refused(tmp_path: Path) -> None:
    days = _days("2020-01-01", 4)
    dates = [d.strftime("%Y-%m-%d") for d in days[:2]] + [d.strftime("%Y%m%d") for d in days[2:]]
    with pytest.raises(DataError, match="mix formats"):
        load_market_data(_write_yahoo(tmp_path / "ACME.csv", dates, days))


def test_impossible_date_is_refused(tmp_path: Path) -> None:
    days = _days("2020-01-01", 3)
    dates = ["2020-01-01", "2020-02-30", "2020-01-03"]
    with pytest.raises(DataError, match="'2020-02-30'"):
        load_market_data(_write_yahoo(tmp_path / "ACME.csv", dates, days))


@pytest.mark.parametrize("tz", ["America/New_York", "Asia/Tokyo", "Europe/London"])
def test_time_zone_aware_dates_keep_the_local_date(tmp_path: Path, tz: str) -> None:
    days = _days("2020-02-24", 60)  # across the March daylight-saving changes
    written = [pd.Timestamp(d, tz=tz).isoformat(sep=" ") for d in days]  # 2020-03-06 00:00:00-05:00
    if tz == "America/New_York":
        assert "2020-03-06 00:00:00-05:00" in written and "2020-03-09 00:00:00-04:00" in written
    path = _write_yahoo(tmp_path / "ACME.csv", written, days)
    _assert_every_row_on_its_day(load_market_data(path), days)


def test_time_zone_aware_dates_with_a_date_format(tmp_path: Path) -> None:
    days = _days("2020-02-24", 60)
    written = [pd.Timestamp(d, tz="America/New_York").strftime("%d/%m/%Y %H:%M:%S%z") for d in days]
    path = _write_yahoo(tmp_path / "ACME.csv", written, days)
    _assert_every_row_on_its_day(load_market_data(path, date_format="%d/%m/%Y %H:%M:%S%z"), days)


def test_long_panel_takes_the_date_format(tmp_path: Path) -> None:
    days = _ambiguous_days()
    close = _price_of(days)
    frame = pd.DataFrame(
        {
            "date": [d.strftime("%m/%d/%Y") for d in days],
            "ticker": "X",
            "open": close,
            "high": close,
            "low": close,
            "close": close,
            "volume": 1.0,
        }
    )
    path = tmp_path / "panel.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match="--date-format"):
        load_market_data(path)
    _assert_every_row_on_its_day(load_market_data(path, date_format="%m/%d/%Y"), days)


def test_qtrade_data_refuses_ambiguous_dates_and_takes_date_format(tmp_path: Path) -> None:
    days = _ambiguous_days()
    path = _write_yahoo(tmp_path / "ACME.csv", [d.strftime("%d/%m/%Y") for d in days], days)
    refused = runner.invoke(app, ["data", str(path)])
    assert refused.exit_code == 1
    assert len(refused.output.strip().splitlines()) == 1 and "--date-format" in refused.output
    result = runner.invoke(app, ["data", str(path), "--date-format", "%d/%m/%Y", "--window", "5"])
    assert result.exit_code == 0, result.output
    assert f"{days[0]:%Y-%m-%d} to {days[-1]:%Y-%m-%d}" in result.output
