"""Data as people have it (issue 18, item 14): each vendor's layout, written here from the vendor's own definition
of its files, loads into the canonical panel with the tickers named cleanly.

The layouts:

- yfinance ``yf.download([...]).to_csv()``: ``group_by='column'`` (the default) writes the header rows ``Price`` (the
  fields), ``Ticker`` and ``Date``; ``group_by='ticker'`` swaps the first two. Earlier versions wrote the same
  rows with the first cells blank (unnamed column levels), and with ``Adj Close`` (``auto_adjust=False``).
- Kaggle's "Huge Stock Market Dataset" (Boris Marjanovic): folders ``Stocks/`` and ``ETFs/`` of files ``aapl.us.txt``
  with the header ``Date,Open,High,Low,Close,Volume,OpenInt``.
- stooq's bulk daily files: ``data/daily/us/nasdaq stocks/1/aapl.us.txt`` with the header
  ``<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>,<OPENINT>`` and dates ``YYYYMMDD``.
- Alpha Vantage ``TIME_SERIES_DAILY`` (``datatype=csv``): ``timestamp,open,high,low,close,volume``, newest row first;
  ``TIME_SERIES_DAILY_ADJUSTED`` adds ``adjusted_close`` (and dividend and split columns).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecasting.errors import DataError
from forecasting.market.loaders import load_market_data, ticker_from_filename
from forecasting.market.synthetic import synthetic_panel
from qtrade.cli import app

runner = CliRunner()
FIELDS = {"Open": "open", "High": "high", "Low": "low", "Close": "close", "Volume": "volume"}


def _prices(tickers: list[str], n_days: int = 40, seed: int = 21) -> pd.DataFrame:
    """A synthetic panel under real-looking tickers."""
    panel = synthetic_panel(len(tickers), n_days, seed=seed)
    return panel.rename(
        index=dict(zip(sorted(panel.index.get_level_values("ticker").unique()), tickers, strict=True)), level="ticker"
    )


def _cell(value: float) -> str:
    return "" if np.isnan(value) else repr(float(value))


def _yf_download_csv(
    panel: pd.DataFrame, *, group_by: str = "column", named_levels: bool = True, adj: pd.DataFrame | None = None
) -> str:
    """What ``yf.download(tickers, group_by=...).to_csv()`` writes (auto_adjust=True: no Adj Close, fields sorted)."""
    tickers = sorted(panel.index.get_level_values("ticker").unique())
    fields = (
        ["Close", "High", "Low", "Open", "Volume"]
        if adj is None
        else ["Adj Close", "Close", "High", "Low", "Open", "Volume"]
    )
    if group_by == "column":
        columns = [(f, t) for f in fields for t in tickers]
        top, second = ("Price", "Ticker") if named_levels else ("", "")
        rows = [[top, *[f for f, _ in columns]], [second, *[t for _, t in columns]]]
    else:
        columns = [
            (f, t)
            for t in tickers
            for f in ["Open", "High", "Low", "Close", *(["Adj Close"] if adj is not None else []), "Volume"]
        ]
        top, second = ("Ticker", "Price") if named_levels else ("", "")
        rows = [[top, *[t for _, t in columns]], [second, *[f for f, _ in columns]]]
    rows.append(["Date"] + [""] * len(columns))
    wide = panel.unstack("ticker")
    for day in wide.index:
        values = []
        for f, t in columns:
            source = adj if f == "Adj Close" else wide
            key = "close" if f == "Adj Close" else FIELDS[f]
            values.append(_cell(source.loc[day, (key, t)]))
        rows.append([f"{day:%Y-%m-%d}", *values])
    return "\n".join(",".join(r) for r in rows) + "\n"


@pytest.mark.parametrize("group_by", ["column", "ticker"])
@pytest.mark.parametrize("named_levels", [True, False])
def test_a_yfinance_multi_ticker_download_loads(tmp_path: Path, group_by: str, named_levels: bool) -> None:
    panel = _prices(["AAPL", "MSFT", "7203.T"])
    path = tmp_path / "download.csv"
    path.write_text(_yf_download_csv(panel, group_by=group_by, named_levels=named_levels))
    loaded = load_market_data(path)
    assert sorted(loaded.index.get_level_values("ticker").unique()) == ["7203.T", "AAPL", "MSFT"]
    expected = panel.sort_index()
    np.testing.assert_allclose(loaded.to_numpy(), expected.to_numpy(), rtol=1e-12)
    assert (loaded.index == expected.index).all()


def test_a_yfinance_download_with_adj_close_and_a_later_listing(tmp_path: Path) -> None:
    panel = _prices(["AAPL", "MSFT"])
    dates = panel.index.get_level_values("date").unique()
    late = (panel.index.get_level_values("ticker") == "MSFT") & (panel.index.get_level_values("date") < dates[10])
    panel.loc[late] = np.nan  # MSFT listed on the 11th day: yfinance leaves its cells blank before
    adj = panel.unstack("ticker").copy()
    adj.loc[:, ("close", "AAPL")] = adj[("close", "AAPL")] * np.where(np.arange(len(dates)) < 20, 0.5, 1.0)
    path = tmp_path / "download.csv"
    path.write_text(_yf_download_csv(panel, adj=adj, named_levels=False))
    loaded = load_market_data(path)
    msft = loaded.xs("MSFT", level="ticker")
    assert len(msft) == 30 and msft.index[0] == dates[10]  # no empty rows before the listing
    aapl = loaded.xs("AAPL", level="ticker")
    np.testing.assert_allclose(aapl["open"].iloc[:20], panel.xs("AAPL", level="ticker")["open"].iloc[:20] * 0.5)
    np.testing.assert_allclose(aapl["volume"].iloc[20:], panel.xs("AAPL", level="ticker")["volume"].iloc[20:])


def test_a_yfinance_download_is_summarised_by_qtrade_data(tmp_path: Path) -> None:
    path = tmp_path / "download.csv"
    path.write_text(_yf_download_csv(_prices(["AAPL", "MSFT"], n_days=45)))
    result = runner.invoke(app, ["data", str(path)])
    assert result.exit_code == 0, result.output
    assert "2 tickers" in result.output and "45 trading days" in result.output
    assert "delimiter" not in result.output


def _kaggle_file(path: Path, one: pd.DataFrame) -> None:
    """One file of the Huge Stock Market Dataset: Date,Open,High,Low,Close,Volume,OpenInt."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["Date,Open,High,Low,Close,Volume,OpenInt"]
    lines += [
        f"{d:%Y-%m-%d},{_cell(r.open)},{_cell(r.high)},{_cell(r.low)},{_cell(r.close)},{int(r.volume)},0"
        for d, r in one.iterrows()
    ]
    path.write_text("\n".join(lines) + "\n")


def _stooq_file(path: Path, symbol: str, one: pd.DataFrame, period: str = "D") -> None:
    """One stooq bulk file: <TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>,<OPENINT>."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>,<OPENINT>"]
    lines += [
        f"{symbol},{period},{d:%Y%m%d},000000,{_cell(r.open)},{_cell(r.high)},{_cell(r.low)},{_cell(r.close)},"
        f"{_cell(r.volume)},0"
        for d, r in one.iterrows()
    ]
    path.write_text("\n".join(lines) + "\n")


def test_a_kaggle_huge_stock_market_folder_loads_with_clean_tickers(tmp_path: Path) -> None:
    panel = _prices(["AAPL", "BRK-B", "SPY"])
    for ticker, sub in (("AAPL", "Stocks"), ("BRK-B", "Stocks"), ("SPY", "ETFs")):
        _kaggle_file(tmp_path / sub / f"{ticker.lower()}.us.txt", panel.xs(ticker, level="ticker"))
    loaded = load_market_data(tmp_path)
    assert loaded.index.get_level_values("ticker").unique().tolist() == ["AAPL", "BRK-B", "SPY"]
    np.testing.assert_allclose(loaded.to_numpy(), panel.sort_index().to_numpy(), rtol=1e-12)
    stocks = load_market_data(tmp_path / "Stocks")
    assert stocks.index.get_level_values("ticker").unique().tolist() == ["AAPL", "BRK-B"]


def test_a_stooq_folder_loads_and_the_real_first_row_of_aapl_reads(tmp_path: Path) -> None:
    root = tmp_path / "data" / "daily" / "us"
    (root / "nasdaq stocks" / "1").mkdir(parents=True)
    (root / "nasdaq stocks" / "1" / "aapl.us.txt").write_text(
        "<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>,<OPENINT>\n"
        "AAPL.US,D,19840907,000000,0.100763,0.101999,0.0995229,0.100763,97676041.878,0\n"
        "AAPL.US,D,19840910,000000,0.100763,0.101071,0.0982878,0.100144,75812543.732,0\n"
    )
    msft = _prices(["MSFT"], n_days=2).xs("MSFT", level="ticker")
    msft.index = pd.DatetimeIndex(["1986-03-13", "1986-03-14"], name="date")
    _stooq_file(root / "nasdaq stocks" / "2" / "msft.us.txt", "MSFT.US", msft)
    loaded = load_market_data(tmp_path / "data")
    assert loaded.index.get_level_values("ticker").unique().tolist() == ["AAPL", "MSFT"]
    first = loaded.loc[(pd.Timestamp("1984-09-07"), "AAPL")]
    assert first.tolist() == [0.100763, 0.101999, 0.0995229, 0.100763, 97676041.878]
    np.testing.assert_allclose(loaded.xs("MSFT", level="ticker").to_numpy(), msft.to_numpy(), rtol=1e-12)


def test_a_stooq_file_alone_and_a_stooq_file_of_other_bars(tmp_path: Path) -> None:
    one = _prices(["X"]).xs("X", level="ticker")
    path = tmp_path / "brk-b.us.txt"
    _stooq_file(path, "BRK-B.US", one)
    loaded = load_market_data(path)
    assert loaded.index.get_level_values("ticker").unique().tolist() == ["BRK-B"]
    np.testing.assert_allclose(loaded.to_numpy(), one.to_numpy(), rtol=1e-12)
    _stooq_file(path, "BRK-B.US", one, period="W")
    with pytest.raises(
        DataError,
        match=re.escape(
            f"{path}: bars of period 'W' (<PER>); qtrade reads daily bars (<PER> D): take stooq's daily files"
        ),
    ):
        load_market_data(path)


def _alpha_vantage(panel: pd.DataFrame, *, adjusted: pd.Series | None = None) -> str:
    one = panel.iloc[::-1]  # newest row first, as Alpha Vantage sends it
    if adjusted is None:
        lines = ["timestamp,open,high,low,close,volume"]
        lines += [
            f"{d:%Y-%m-%d},{r.open:.4f},{r.high:.4f},{r.low:.4f},{r.close:.4f},{int(r.volume)}"
            for d, r in one.iterrows()
        ]
    else:
        lines = ["timestamp,open,high,low,close,adjusted_close,volume,dividend_amount,split_coefficient"]
        lines += [
            f"{d:%Y-%m-%d},{r.open:.4f},{r.high:.4f},{r.low:.4f},{r.close:.4f},{adjusted[d]:.4f},"
            f"{int(r.volume)},0.0000,1.0"
            for d, r in one.iterrows()
        ]
    return "\n".join(lines) + "\n"


def test_alpha_vantage_timestamp_is_the_date_and_adjusted_close_adjusts(tmp_path: Path) -> None:
    one = _prices(["IBM"]).xs("IBM", level="ticker").round(4)
    path = tmp_path / "IBM.csv"
    path.write_text(_alpha_vantage(one))
    loaded = load_market_data(path)
    assert loaded.index.get_level_values("ticker").unique().tolist() == ["IBM"]
    assert loaded.index.get_level_values("date").tolist() == one.index.tolist()  # oldest first
    np.testing.assert_allclose(loaded.to_numpy(), one.to_numpy(), rtol=1e-12)
    adjusted = (one["close"] * np.where(np.arange(len(one)) < 15, 0.25, 1.0)).round(4)
    path.write_text(_alpha_vantage(one, adjusted=adjusted))
    loaded = load_market_data(path)
    np.testing.assert_allclose(loaded["close"].to_numpy(), adjusted.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(loaded["high"].to_numpy(), (one["high"] * adjusted / one["close"]).to_numpy())


def test_tickers_from_file_names() -> None:
    names = [
        "aapl.us.txt",
        "brk-b.us.txt",
        "AAPL.csv",
        "7203.T.csv",
        "spy.csv",
        "^spx_d.csv",
        "aapl_us_d.csv",
        "download.CSV",
    ]
    assert [ticker_from_filename(n) for n in names] == [
        "AAPL",
        "BRK-B",
        "AAPL",
        "7203.T",
        "SPY",
        "^SPX",
        "AAPL",
        "DOWNLOAD",
    ]


def test_a_folder_with_tickers_reads_only_their_files_and_skips_empty_files(tmp_path: Path) -> None:
    panel = _prices(["AAPL", "MSFT"])
    _kaggle_file(tmp_path / "aapl.us.txt", panel.xs("AAPL", level="ticker"))
    _kaggle_file(tmp_path / "msft.us.txt", panel.xs("MSFT", level="ticker"))
    (tmp_path / "accp.us.txt").write_text("")  # the dataset has empty files
    (tmp_path / "bad.us.txt").write_text("Date,Open,High,Low,Close,Volume,OpenInt\n2017-01-04,1,2,1.5,9,100,0\n")
    only = load_market_data(tmp_path, tickers=["AAPL"])  # bad.us.txt is never read
    assert only.index.get_level_values("ticker").unique().tolist() == ["AAPL"]
    with pytest.raises(
        DataError, match=re.escape(f"{tmp_path / 'bad.us.txt'}: close above high for BAD on 2017-01-04")
    ):
        load_market_data(tmp_path)
    (tmp_path / "bad.us.txt").unlink()
    with pytest.warns(UserWarning, match=re.escape("1 empty file(s) skipped (accp.us.txt)")):
        both = load_market_data(tmp_path)
    assert both.index.get_level_values("ticker").unique().tolist() == ["AAPL", "MSFT"]


def test_a_folder_refuses_two_files_of_one_ticker_and_says_what_it_reads_when_empty(tmp_path: Path) -> None:
    one = _prices(["AAPL"]).xs("AAPL", level="ticker")
    _kaggle_file(tmp_path / "Stocks" / "aapl.us.txt", one)
    _kaggle_file(tmp_path / "Data" / "Stocks" / "aapl.us.txt", one)
    with pytest.raises(
        DataError,
        match=re.escape(
            f"{tmp_path}: {Path('Data/Stocks/aapl.us.txt')} and {Path('Stocks/aapl.us.txt')} are both ticker AAPL; "
            "point at a folder that holds each ticker once"
        ),
    ):
        load_market_data(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["data", str(empty)])
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"error: {empty}: no price files in it (.csv or .txt, one per ticker, as Kaggle's and stooq's) and no "
        "stock_prices.csv of the JPX competition; point at such a folder or at one file"
    )


def test_qtrade_data_on_a_kaggle_folder(tmp_path: Path) -> None:
    panel = _prices(["AAPL", "BRK-B", "SPY"], n_days=50)
    for ticker in ("AAPL", "BRK-B", "SPY"):
        _kaggle_file(tmp_path / "Stocks" / f"{ticker.lower()}.us.txt", panel.xs(ticker, level="ticker"))
    result = runner.invoke(app, ["data", str(tmp_path / "Stocks"), "--tickers", "AAPL", "--tickers", "BRK-B"])
    assert result.exit_code == 0, result.output
    assert "2 tickers" in result.output and "50 trading days" in result.output
    assert "BRK-B" in result.output and "SPY" not in result.output and "JPX" not in result.output


def test_a_ticker_yfinance_failed_to_download_is_left_out_with_a_warning(tmp_path: Path) -> None:
    panel = _prices(["AAPL", "XYZQ"])
    panel.loc[panel.index.get_level_values("ticker") == "XYZQ"] = np.nan  # yfinance: "1 Failed download"
    path = tmp_path / "download.csv"
    path.write_text(_yf_download_csv(panel))
    with pytest.warns(UserWarning, match=re.escape(f"{path}: no prices for XYZQ (a failed download?); left out")):
        loaded = load_market_data(path)
    assert loaded.index.get_level_values("ticker").unique().tolist() == ["AAPL"]
    np.testing.assert_allclose(loaded.to_numpy(), panel.xs("AAPL", level="ticker", drop_level=False).to_numpy())
