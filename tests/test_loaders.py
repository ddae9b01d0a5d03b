from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.market.loaders import load_default, load_market_data
from forecasting.market.synthetic import synthetic_panel, to_jpx_frame
from tests.conftest import assert_close_panels, write_yahoo_multiheader


def test_yahoo_classic_adjusts_by_adj_close(yahoo_csv: Path) -> None:
    raw = pd.read_csv(yahoo_csv)
    panel = load_market_data(yahoo_csv)
    assert panel.index.get_level_values("ticker").unique().tolist() == ["ACME"]
    factor = (raw["Adj Close"] / raw["Close"]).to_numpy()
    np.testing.assert_allclose(panel["open"].to_numpy(), raw["Open"].to_numpy() * factor)
    np.testing.assert_allclose(panel["close"].to_numpy(), raw["Adj Close"].to_numpy())
    np.testing.assert_allclose(panel["volume"].to_numpy(), raw["Volume"].to_numpy() / factor)
    assert panel["close"].iloc[0] == pytest.approx(raw["Close"].iloc[0] * 0.5)


def test_yahoo_three_row_header_without_adj_close(tmp_path: Path) -> None:
    p = synthetic_panel(1, 40, seed=2).xs("T0000", level="ticker")
    path = tmp_path / "download.csv"
    write_yahoo_multiheader(path, p, "7203.T")
    panel = load_market_data(path)
    assert panel.index.get_level_values("ticker").unique().tolist() == ["7203.T"]
    np.testing.assert_allclose(panel["close"].to_numpy(), p["close"].to_numpy())
    np.testing.assert_allclose(panel["high"].to_numpy(), p["high"].to_numpy())


def test_yahoo_without_adj_close_keeps_prices(yahoo_csv: Path, tmp_path: Path) -> None:
    raw = pd.read_csv(yahoo_csv).drop(columns="Adj Close")
    path = tmp_path / "PLAIN.csv"
    raw.to_csv(path, index=False)
    panel = load_market_data(path)
    np.testing.assert_allclose(panel["close"].to_numpy(), raw["Close"].to_numpy())


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_long_panel_roundtrip(panel: pd.DataFrame, tmp_path: Path, fmt: str) -> None:
    frame = panel.reset_index()
    frame.columns = ["Date", "Ticker", "OPEN", "High", "low", "Close", "Volume"]  # any case
    path = tmp_path / f"panel.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False, float_format="%.17g")
    else:
        frame.to_parquet(path)
    assert_close_panels(load_market_data(path), panel)


def test_long_panel_yyyymmdd_dates_and_symbol_column(panel: pd.DataFrame, tmp_path: Path) -> None:
    frame = panel.reset_index().rename(columns={"ticker": "Symbol"})
    frame["date"] = frame["date"].dt.strftime("%Y%m%d").astype(int)
    path = tmp_path / "panel.csv"
    frame.to_csv(path, index=False, float_format="%.17g")
    assert_close_panels(load_market_data(path), panel)


def test_ticker_selection(panel: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "panel.csv"
    panel.reset_index().to_csv(path, index=False)
    out = load_market_data(path, tickers=["T0001"])
    assert out.index.get_level_values("ticker").unique().tolist() == ["T0001"]


def test_jpx_file_is_split_adjusted(panel: pd.DataFrame, tmp_path: Path) -> None:
    split_day = panel.index.get_level_values("date").unique()[150]
    jpx = to_jpx_frame(panel, splits={"T0001": f"{split_day:%Y-%m-%d}"})
    raw_close = jpx.loc[jpx["SecuritiesCode"] == "10001", "Close"].to_numpy()
    assert raw_close[149] / raw_close[150] > 1.5  # the unadjusted file really has the jump
    path = tmp_path / "stock_prices.csv"
    jpx.to_csv(path, index=False, float_format="%.17g")
    loaded = load_market_data(path)
    expected = panel.rename(index=lambda t: t.replace("T", "1"), level="ticker")
    assert_close_panels(loaded, expected)


def test_jpx_folder_stacks_train_and_supplemental(panel: pd.DataFrame, tmp_path: Path) -> None:
    jpx = to_jpx_frame(panel)
    cut = jpx["Date"] >= "2017-09-01"
    (tmp_path / "train_files").mkdir()
    (tmp_path / "supplemental_files").mkdir()
    jpx[~cut].to_csv(tmp_path / "train_files" / "stock_prices.csv", index=False, float_format="%.17g")
    jpx[cut].to_csv(tmp_path / "supplemental_files" / "stock_prices.csv", index=False, float_format="%.17g")
    loaded = load_market_data(tmp_path)
    expected = panel.rename(index=lambda t: t.replace("T", "1"), level="ticker")
    assert_close_panels(loaded, expected)


def test_embedded_default_is_real_split_adjusted_data() -> None:
    panel = load_default()
    assert sorted(panel.index.get_level_values("ticker").unique()) == ["AAPL", "GOOG", "IBM", "MSFT"]
    aapl = panel.xs("AAPL", level="ticker")["close"]
    # AAPL split 2-for-1 on 2005-02-28; adjusted prices show no halving across it
    jump = np.log(aapl.loc["2005-02-28"] / aapl.loc["2005-02-25"])
    assert abs(jump) < 0.1
    assert panel.index.get_level_values("date").min() == pd.Timestamp("2000-03-01")
    assert not panel.isna().any().any()


@pytest.mark.parametrize(("sep", "name"), [(";", "';'"), ("\t", "tabs"), ("|", "'|'")])
def test_another_column_separator_is_named_with_the_fix(tmp_path: Path, sep: str, name: str) -> None:
    from forecasting.errors import DataError

    path = tmp_path / "p.csv"
    header = sep.join(["date", "ticker", "open", "high", "low", "close", "volume"])
    path.write_text(header + "\n" + sep.join(["2020-01-02", "A", "101.5", "102", "100", "101", "1000"]) + "\n")
    with pytest.raises(DataError, match=f"the columns are separated by {name}; save it as a comma-separated CSV"):
        load_market_data(path)


def test_jpx_file_with_semicolons_and_decimal_commas_is_named(tmp_path: Path) -> None:
    from forecasting.errors import DataError

    jpx = to_jpx_frame(synthetic_panel(1, 5, seed=0))
    path = tmp_path / "stock_prices.csv"
    jpx.to_csv(path, sep=";", decimal=",", index=False)
    with pytest.raises(DataError, match=r"separated by ';' and decimals written with a comma \(such as '\d+,\d+'\)"):
        load_market_data(path)


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("101,5", "column close writes decimals with a comma ('101,5')"),
        ("1.101,5", "column close writes decimals with a comma ('1.101,5')"),
        ("1,101.5", "column close has a comma in the number '1,101.5' (a thousands separator or a decimal comma)"),
        ("abc", "column close has a non-numeric value 'abc'; fix or blank that cell"),
    ],
)
def test_commas_in_numbers_are_named(tmp_path: Path, cell: str, message: str) -> None:
    from forecasting.errors import DataError

    path = tmp_path / "ACME.csv"
    path.write_text(f'Date,Open,High,Low,Close,Volume\n2020-01-02,100,2000,99,"{cell}",1000\n')
    with pytest.raises(DataError, match=re.escape(message)):
        load_market_data(path)


# --- open and close within the day's range (issue 18, item 11) ------------------------------------------------


def _one_day_changed(tmp_path: Path, changes: dict[str, float], *, day: int = 17) -> tuple[Path, str]:
    """The synthetic panel as a long CSV, with T0001's prices on one day changed; returns the path and the day."""
    frame = synthetic_panel(2, 40, seed=4).reset_index()
    row = int(np.flatnonzero(frame["ticker"] == "T0001")[day])
    for column, value in changes.items():
        frame.loc[row, column] = value
    path = tmp_path / "prices.csv"
    frame.to_csv(path, index=False, float_format="%.17g")
    return path, f"{frame.loc[row, 'date']:%Y-%m-%d}"


@pytest.mark.parametrize(
    ("column", "scale", "side"),
    [
        ("close", None, "above high"),
        ("close", 1.5, "above high"),
        ("close", 0.5, "below low"),
        ("open", 1.01, "above high"),
        ("open", 0.99, "below low"),
    ],
)
def test_an_open_or_close_outside_the_days_range_is_refused_naming_ticker_and_date(
    tmp_path: Path, column: str, scale: float | None, side: str
) -> None:
    from forecasting.errors import DataError

    frame = synthetic_panel(2, 40, seed=4)
    high, low = frame.xs("T0001", level="ticker")[["high", "low"]].iloc[17]
    value = 1e9 if scale is None else (high * scale if side == "above high" else low * scale)
    path, day = _one_day_changed(tmp_path, {column: value})
    message = (
        f"{path}: {column} {side} for T0001 on {day} (1 row(s) with open or close outside [low, high]); "
        "check the column order and the units, or fix those rows"
    )
    with pytest.raises(DataError, match=re.escape(message)):
        load_market_data(path)


def test_a_price_a_rounding_error_outside_the_range_loads_and_only_real_values_are_checked(tmp_path: Path) -> None:
    from forecasting.errors import DataError

    high = synthetic_panel(2, 40, seed=4).xs("T0001", level="ticker")["high"].iloc[17]
    path, _ = _one_day_changed(tmp_path, {"close": high * (1 + 2e-6)})  # a rounding error: inside the tolerance
    assert load_market_data(path).xs("T0001", level="ticker")["close"].iloc[17] == pytest.approx(high * (1 + 2e-6))
    path, _ = _one_day_changed(tmp_path, {"close": high * (1 + 1e-4)})  # a hundredth of a percent: a real error
    with pytest.raises(DataError, match="close above high for T0001"):
        load_market_data(path)
    path, _ = _one_day_changed(tmp_path, {"close": high * 1.5, "high": np.nan})  # no high to compare with
    assert np.isnan(load_market_data(path).xs("T0001", level="ticker")["high"].iloc[17])
    path, day = _one_day_changed(tmp_path, {"close": high * 1.5, "low": np.nan})  # the high is still there
    with pytest.raises(DataError, match=f"close above high for T0001 on {day}"):
        load_market_data(path)


def test_the_shipped_panel_and_arch_sp500_satisfy_the_range_rule(tmp_path: Path) -> None:
    from arch.data import sp500

    assert len(load_default()) == 11958
    raw = sp500.load()
    path = tmp_path / "SPX.csv"
    raw.to_csv(path, index_label="Date")  # Yahoo's classic layout, with Adj Close
    panel = load_market_data(path)
    assert len(panel) == 5031 and panel.index.get_level_values("ticker").unique().tolist() == ["SPX"]
    assert (panel["close"] <= panel["high"]).all() and (panel["open"] >= panel["low"]).all()
