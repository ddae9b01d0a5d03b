from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecasting.synthetic import synthetic_panel, to_jpx_frame
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
        expected = "1 tickers"
    elif layout == "yahoo3":
        path = tmp_path / "dl.csv"
        write_yahoo_multiheader(path, panel.xs("T0000", level="ticker"), "T0000")
        expected = "1 tickers"
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


@pytest.mark.parametrize(("log_move", "split"), [
    (-np.log(2) - 0.049, "2-for-1"), (-np.log(2) + 0.049, "2-for-1"), (np.log(3) + 0.049, "1-for-3"),
    (-np.log(10), "10-for-1"), (np.log(4), "1-for-4"),
    (-np.log(2) - 0.051, None), (np.log(5) + 0.051, None), (-0.3, None),
])
def test_suspects_are_moves_within_005_of_a_split_ratio(log_move: float, split: str | None) -> None:
    from forecasting.cleaning import clean_panel
    from forecasting.summary import suspect_splits

    found = suspect_splits(clean_panel(_flat_then_jump(log_move)))
    if split is None:
        assert found.empty
    else:
        assert found[["ticker", "split"]].values.tolist() == [["X", split]]
        assert found["date"].iloc[0] == pd.Timestamp("2020-01-13")
        assert found["ratio"].iloc[0] == pytest.approx(np.exp(log_move))
