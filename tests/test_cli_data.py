from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecasting.market.synthetic import synthetic_panel, to_jpx_frame
from qtrade.cli import app
from tests.conftest import write_yahoo_multiheader

runner = CliRunner()


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "data" in result.output


def test_data_summarises_the_embedded_panel() -> None:
    result = runner.invoke(app, ["data"])
    assert result.exit_code == 0, result.output
    assert "4 tickers, 2000-03-01 to 2013-03-01" in result.output
    assert "GOOG" in result.output and "2004-08-19" in result.output


@pytest.mark.parametrize("layout", ["yahoo", "yahoo3", "panel_csv", "panel_parquet", "jpx"])
def test_data_summarises_each_format(tmp_path: Path, layout: str) -> None:
    panel = synthetic_panel(2, 90, seed=11, missing=0.01)
    if layout == "yahoo":
        one = panel.xs("T0000", level="ticker").rename(columns=str.title).rename_axis("Date")
        path = tmp_path / "T0000.csv"
        one.to_csv(path)
        expected = "1 ticker,"
    elif layout == "yahoo3":
        path = tmp_path / "dl.csv"
        write_yahoo_multiheader(path, panel.xs("T0000", level="ticker"), "T0000")
        expected = "1 ticker,"
    elif layout == "panel_csv":
        path = tmp_path / "p.csv"
        panel.reset_index().to_csv(path, index=False)
        expected = "2 tickers"
    elif layout == "panel_parquet":
        path = tmp_path / "p.parquet"
        panel.reset_index().to_parquet(path)
        expected = "2 tickers"
    else:
        path = tmp_path / "stock_prices.csv"
        to_jpx_frame(panel).to_csv(path, index=False)
        expected = "2 tickers"
    result = runner.invoke(app, ["data", str(path)])
    assert result.exit_code == 0, result.output
    assert expected in result.output and "90 trading days" in result.output
    assert "values repaired by interpolation" in result.output


def _with_unadjusted_splits(n: int, *, ratio: float = 0.5) -> tuple[object, list[tuple[str, str]]]:
    """A panel of ``n`` tickers, each with one raw split (prices times ``ratio`` from a day on)."""
    panel = synthetic_panel(n, 80, seed=5)
    dates = panel.index.get_level_values("date").unique()
    expected = []
    for i in range(n):
        ticker, day = f"T{i:04d}", dates[20 + 2 * i]
        rows = (panel.index.get_level_values("ticker") == ticker) & (panel.index.get_level_values("date") >= day)
        panel.loc[rows, ["open", "high", "low", "close"]] *= ratio
        expected.append((ticker, f"{day:%Y-%m-%d}"))
    return panel, expected


@pytest.mark.parametrize("ratio", [0.5, 1 / 3, 0.25, 0.2, 0.1, 2.0, 3.0, 10.0])
def test_data_warns_of_a_suspected_unadjusted_split(tmp_path: Path, ratio: float) -> None:
    panel, expected = _with_unadjusted_splits(2, ratio=ratio)
    path = tmp_path / "p.csv"
    panel.reset_index().to_csv(path, index=False)
    result = runner.invoke(app, ["data", str(path)])
    assert result.exit_code == 0, result.output
    for ticker, day in expected:
        assert f"warning: {ticker} on {day}" in result.output
    assert "warning: 2 suspected unadjusted split(s)" in result.output


def test_data_lists_at_most_ten_suspects_and_counts_them(tmp_path: Path) -> None:
    panel, expected = _with_unadjusted_splits(12)
    path = tmp_path / "p.csv"
    panel.reset_index().to_csv(path, index=False)
    result = runner.invoke(app, ["data", str(path)])
    assert result.exit_code == 0, result.output
    listed = [line for line in result.output.splitlines() if line.startswith("warning: T")]
    assert len(listed) == 10
    assert all(f"warning: {t} on {d}" in result.output for t, d in expected[:10])
    assert "warning: 12 suspected unadjusted split(s) (the first 10 listed)" in result.output


def test_an_adjusted_jpx_split_and_an_ordinary_file_raise_no_warning(tmp_path: Path) -> None:
    panel = synthetic_panel(2, 90, seed=11)
    day = panel.index.get_level_values("date").unique()[40]
    path = tmp_path / "stock_prices.csv"
    raw = to_jpx_frame(panel, splits={"T0001": f"{day:%Y-%m-%d}"})
    assert (raw["AdjustmentFactor"] == 0.5).sum() == 1
    raw.to_csv(path, index=False)
    result = runner.invoke(app, ["data", str(path)])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output


def _flat_then_jump(log_move: float) -> pd.DataFrame:
    close = 100.0 * np.exp(np.r_[np.zeros(5), np.full(5, log_move)])
    idx = pd.MultiIndex.from_product([pd.bdate_range("2020-01-06", periods=10), ["X"]], names=["date", "ticker"])
    return pd.DataFrame({"open": close, "high": close, "low": close, "close": close, "volume": 1.0}, index=idx)


@pytest.mark.parametrize(
    ("log_move", "split"),
    [
        (-np.log(2) - 0.049, "2-for-1"),
        (-np.log(2) + 0.049, "2-for-1"),
        (np.log(3) + 0.049, "1-for-3"),
        (-np.log(10), "10-for-1"),
        (np.log(4), "1-for-4"),
        (-np.log(2) - 0.051, None),
        (np.log(5) + 0.051, None),
        (-0.3, None),
    ],
)
def test_suspects_are_moves_within_005_of_a_split_ratio(log_move: float, split: str | None) -> None:
    from forecasting.market.cleaning import clean_panel
    from forecasting.market.summary import suspect_splits

    found = suspect_splits(clean_panel(_flat_then_jump(log_move)))
    if split is None:
        assert found.empty
    else:
        assert found[["ticker", "split"]].values.tolist() == [["X", split]]
        assert found["date"].iloc[0] == pd.Timestamp("2020-01-13")
        assert found["ratio"].iloc[0] == pytest.approx(np.exp(log_move))


# --- calendars and counts -------------------------------------------------------------------------------------
# June 2020 has 22 weekdays and no NYSE holiday; July 2020 has 23 weekdays and one holiday, 3 July (Independence Day
# observed). So NYSE had 44 sessions from 1 June to 31 July 2020.
NYSE_JUN_JUL_2020 = pd.bdate_range("2020-06-01", "2020-07-31").as_unit("ns").drop(pd.Timestamp("2020-07-03"))
TSE_NEW_YEAR = ["2019-12-31", "2020-01-01", "2020-01-02", "2020-01-03", "2020-01-13"]


def _on_days(days: pd.DatetimeIndex, n_tickers: int = 1) -> pd.DataFrame:
    panel = synthetic_panel(n_tickers, len(days), seed=3)
    return panel.rename(index=dict(zip(panel.index.get_level_values("date").unique(), days, strict=True)), level="date")


def _yahoo(path: Path, days: pd.DatetimeIndex) -> Path:
    one = _on_days(days).xs("T0000", level="ticker").rename(columns=str.title).rename_axis("Date")
    one.to_csv(path, date_format="%Y-%m-%d")
    return path


def _lines(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines()]


def _table_row(output: str, ticker: str) -> list[str]:
    row = next(line for line in output.splitlines() if line.startswith(f"│ {ticker} "))
    return [cell.strip() for cell in row.strip("│").split("│")]


def test_a_session_missing_from_a_single_ticker_file_is_counted_listed_and_interpolated(tmp_path: Path) -> None:
    assert len(NYSE_JUN_JUL_2020) == 44
    missing = [pd.Timestamp("2020-06-10"), pd.Timestamp("2020-07-15")]
    path = _yahoo(tmp_path / "ACME.csv", NYSE_JUN_JUL_2020.drop(missing))  # 42 rows
    result = runner.invoke(app, ["data", str(path), "--calendar", "XNYS"])
    assert result.exit_code == 0, result.output
    lines = _lines(result.output)
    assert "1 ticker, 2020-06-01 to 2020-07-31, 44 trading days (XNYS sessions), 42 rows in the data" in lines
    assert "44 ticker-days from each ticker's first to last price, 2 of them filled by interpolation" in lines
    assert (
        "10 values repaired by interpolation, 0 values left missing (gaps too long), 0 market-wide empty days dropped"
    ) in lines
    assert "XNYS: 2 session(s) with no price in the data (2020-06-10, 2020-07-15), gaps like any other" in lines
    assert _table_row(result.output, "ACME") == ["ACME", "2020-06-01", "2020-07-31", "42", "44", "2", "0"]
    assert "warning" not in result.output  # 3 July has no row, and is not made a gap either


def test_without_a_calendar_rows_days_and_values_are_each_counted_as_such(tmp_path: Path) -> None:
    panel = _on_days(NYSE_JUN_JUL_2020, n_tickers=2)
    panel = panel.drop(index=(pd.Timestamp("2020-06-10"), "T0001"))  # one row fewer: a gap of 5 values
    panel.loc[(pd.Timestamp("2020-06-17"), "T0000"), "close"] = np.nan  # one value blank in a row that is there
    path = tmp_path / "p.csv"
    panel.reset_index().to_csv(path, index=False)
    result = runner.invoke(app, ["data", str(path)])
    assert result.exit_code == 0, result.output
    lines = _lines(result.output)
    assert "2 tickers, 2020-06-01 to 2020-07-31, 44 trading days (days with a price), 87 rows in the data" in lines
    assert "88 ticker-days from each ticker's first to last price, 2 of them filled by interpolation" in lines
    assert (
        "6 values repaired by interpolation, 0 values left missing (gaps too long), "
        "0 market-wide empty days dropped" in lines
    )
    assert _table_row(result.output, "T0000")[3:] == ["44", "44", "1", "0"]
    assert _table_row(result.output, "T0001")[3:] == ["43", "44", "1", "0"]
    assert not any(line.startswith("XNYS") for line in lines)


def test_a_row_on_a_holiday_is_reported_not_made_a_gap(tmp_path: Path) -> None:
    days = NYSE_JUN_JUL_2020.union(pd.DatetimeIndex(["2020-07-03"]))
    path = _yahoo(tmp_path / "ACME.csv", days)
    result = runner.invoke(app, ["data", str(path), "--calendar", "XNYS"])
    assert result.exit_code == 0, result.output
    assert (
        "warning: 1 row(s) on 1 day(s) that are not XNYS sessions were left out (2020-07-03); check --calendar, "
        "or pass --calendar none to keep them"
    ) in result.output
    assert "44 trading days (XNYS sessions), 45 rows in the data" in result.output
    assert "0 values repaired" in result.output and "XNYS: 0 session(s) with no price" in result.output


def test_auto_uses_the_tokyo_calendar_for_a_jpx_folder(tmp_path: Path) -> None:
    tse = pd.bdate_range("2019-12-23", "2020-02-07").as_unit("ns")
    tse = tse[~tse.isin(pd.DatetimeIndex(TSE_NEW_YEAR))]
    jpx = to_jpx_frame(_on_days(tse.drop(pd.Timestamp("2020-01-08")), n_tickers=2))
    for sub, part in (
        ("train_files", jpx[jpx["Date"] < "2020-01-20"]),
        ("supplemental_files", jpx[jpx["Date"] >= "2020-01-20"]),
    ):
        (tmp_path / sub).mkdir()
        part.to_csv(tmp_path / sub / "stock_prices.csv", index=False)
    result = runner.invoke(app, ["data", str(tmp_path), "--window", "5"])
    assert result.exit_code == 0, result.output
    assert f"{len(tse)} trading days (XTKS sessions), {2 * (len(tse) - 1)} rows in the data" in result.output
    assert "XTKS: 1 session(s) with no price in the data (2020-01-08)" in result.output
    assert "warning" not in result.output
    plain = runner.invoke(app, ["data", str(tmp_path), "--calendar", "none", "--window", "5"])
    assert f"{len(tse) - 1} trading days (days with a price)" in plain.output


@pytest.mark.parametrize("command", [["data"], ["forecast", "--epochs", "1"], ["backtest"], ["tune"]])
def test_an_unknown_calendar_is_one_line_and_exit_1(tmp_path: Path, command: list[str]) -> None:
    out = [] if command == ["data"] else ["--out", str(tmp_path / "out")]
    result = runner.invoke(app, [*command, *out, "--calendar", "NOPE"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [result.output.strip()]
    assert result.output.startswith("error: --calendar 'NOPE' is not an exchange calendar; use auto, none")
    assert "XNYS" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


# --- files in a European spreadsheet's layout -------------------------------------------------------------------


def test_a_semicolon_separated_file_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "ACME.csv"
    path.write_text(
        "Date;Open;High;Low;Close;Volume\n2020-01-02;101.5;102.0;100.0;101.0;1000\n"
        "2020-01-03;101.0;102.5;100.5;102.0;1200\n"
    )
    result = runner.invoke(app, ["data", str(path)])
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"error: {path}: the columns are separated by ';'; save it as a comma-separated "
        "CSV with '.' as the decimal point (a spreadsheet's CSV export in an English "
        "locale writes one)"
    )


def test_a_semicolon_file_with_decimal_commas_names_both(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("date;ticker;open;high;low;close;volume\n2020-01-02;A;101,5;102,0;100,0;101,0;1000\n")
    result = runner.invoke(app, ["data", str(path)])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert "separated by ';' and decimals written with a comma (such as '101,5')" in result.output


def test_decimal_commas_in_a_comma_separated_file_are_named(tmp_path: Path) -> None:
    path = tmp_path / "ACME.csv"
    path.write_text('Date,Open,High,Low,Close,Volume\n2020-01-02,"101,5","102,0","100,0","101,0",1000\n')
    result = runner.invoke(app, ["data", str(path)])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert (
        "column open writes decimals with a comma ('101,5'); save the file with '.' as the decimal point"
        in result.output
    )


# --- prices that cannot be right, units and volume (issue 18, items 11 and 13) ----------------------------------


def test_a_close_of_1e9_against_a_high_of_104_is_one_line_and_exit_1(tmp_path: Path) -> None:
    frame = synthetic_panel(2, 60, seed=8).reset_index()
    row = int(np.flatnonzero(frame["ticker"] == "T0000")[30])
    frame.loc[row, ["open", "high", "low"]] = [101.0, 104.0, 99.0]
    frame.loc[row, "close"] = 1e9
    path = tmp_path / "prices.csv"
    frame.to_csv(path, index=False)
    result = runner.invoke(app, ["data", str(path)])
    assert result.exit_code == 1, result.output
    day = f"{frame.loc[row, 'date']:%Y-%m-%d}"
    assert result.output.strip() == (
        f"error: {path}: close above high for T0000 on {day} (1 row(s) with open or "
        "close outside [low, high]); check the column order and the units, or fix "
        "those rows"
    )


def _in_cents_from(panel: pd.DataFrame, ticker: str, day: int, factor: float) -> tuple[pd.DataFrame, str]:
    dates = panel.index.get_level_values("date").unique()
    rows = (panel.index.get_level_values("ticker") == ticker) & (panel.index.get_level_values("date") >= dates[day])
    panel.loc[rows, ["open", "high", "low", "close"]] *= factor
    return panel, f"{dates[day]:%Y-%m-%d}"


@pytest.mark.parametrize("factor", [100.0, 0.01, 60.0])
def test_a_hundredfold_move_is_flagged_as_units_apart_from_splits(tmp_path: Path, factor: float) -> None:
    panel, day = _in_cents_from(synthetic_panel(3, 60, seed=9), "T0002", 25, factor)
    path = tmp_path / "p.csv"
    panel.reset_index().to_csv(path, index=False)
    result = runner.invoke(app, ["data", str(path)])
    assert result.exit_code == 0, result.output
    flagged = [line for line in result.output.splitlines() if "in one day" in line]
    assert len(flagged) == 1 and flagged[0].startswith(f"warning: T0002 on {day}: close x")
    assert "as prices in cents for dollars (or the reverse) would move it; check the units" in flagged[0]
    assert "warning: 1 suspected change(s) of units" in result.output
    assert "unadjusted split" not in result.output  # a unit change is not reported as a split


def test_a_fortyfold_move_and_a_gap_between_real_closes(tmp_path: Path) -> None:
    panel, _ = _in_cents_from(synthetic_panel(2, 60, seed=9), "T0000", 25, 40.0)
    panel, day = _in_cents_from(panel, "T0001", 31, 100.0)
    dates = panel.index.get_level_values("date").unique()
    panel.loc[(dates[30], "T0001"), ["open", "high", "low", "close"]] = np.nan  # the day before the change is a gap
    path = tmp_path / "p.csv"
    panel.reset_index().to_csv(path, index=False)
    result = runner.invoke(app, ["data", str(path)])
    assert result.exit_code == 0, result.output
    assert "T0000 on" not in result.output  # 40x is below the threshold of 50
    assert f"warning: T0001 on {day}: close x" in result.output  # compared with the last real close, not the filled


def test_all_zero_volume_is_named_with_what_the_backtest_does(tmp_path: Path) -> None:
    panel = synthetic_panel(4, 60, seed=10)
    tickers = panel.index.get_level_values("ticker")
    panel.loc[tickers == "T0001", "volume"] = 0.0
    panel.loc[tickers == "T0003", "volume"] = 0.0
    panel.loc[(tickers == "T0003") & (panel.index.get_level_values("date") < "2017-01-20"), "volume"] = np.nan
    panel.loc[(tickers == "T0002") & (panel.index.get_level_values("date") < "2017-02-01"), "volume"] = 0.0
    path = tmp_path / "index_and_fx.csv"
    panel.reset_index().to_csv(path, index=False)
    result = runner.invoke(app, ["data", str(path)])
    assert result.exit_code == 0, result.output
    zero = [line for line in result.output.splitlines() if line.startswith("warning:") and "volume" in line]
    assert zero == [
        "warning: volume is 0 or blank on every day for T0001, T0003 (as in index and FX files); the "
        "backtest treats their volume as unknown: no participation cap and no market impact for them"
    ]
    plain = runner.invoke(app, ["data"])
    assert "volume" not in plain.output
