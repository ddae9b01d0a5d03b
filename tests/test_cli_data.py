from __future__ import annotations

from pathlib import Path

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
