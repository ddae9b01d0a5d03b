"""Each kind of bad input gets one line naming the file, the problem and the fix, and exit code 1."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from forecasting.market.synthetic import synthetic_panel
from qtrade.cli import app

runner = CliRunner()


def _panel_csv(tmp_path: Path, mutate=None) -> Path:  # type: ignore[no-untyped-def]
    frame = synthetic_panel(2, 80, seed=3).reset_index()
    frame["date"] = frame["date"].dt.strftime("%Y-%m-%d")
    if mutate is not None:
        frame = mutate(frame)
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    return path


def _set(frame: pd.DataFrame, row: int, col: str, value: object) -> pd.DataFrame:
    frame[col] = frame[col].astype(object)
    frame.loc[row, col] = value
    return frame


CASES = {
    "missing column": (lambda f: f.drop(columns="volume"), "missing column(s) volume"),
    "unparseable date": (lambda f: _set(f, 5, "date", "not-a-date"), "cannot parse date 'not-a-date'"),
    "duplicated row": (lambda f: pd.concat([f, f.iloc[[10]]]), "duplicated (date, ticker)"),
    "non-positive price": (lambda f: _set(f, 7, "close", -1.0), "non-positive price"),
    "high below low": (lambda f: _set(f, 9, "high", 0.001), "high below low"),
    "non-numeric price": (lambda f: _set(f, 4, "open", "n/a?"), "non-numeric value"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_one_line_exit_1(tmp_path: Path, case: str) -> None:
    mutate, expected = CASES[case]
    path = _panel_csv(tmp_path, mutate)
    result = runner.invoke(app, ["data", str(path)])
    assert result.exit_code == 1, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0] and expected in lines[0]
    assert ";" in lines[0]  # problem; fix
    assert "Traceback" not in result.output


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    result = runner.invoke(app, ["data", str(path)])
    assert result.exit_code == 1
    assert "empty" in result.stderr and str(path) in result.stderr


def test_header_only_file(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("date,ticker,open,high,low,close,volume\n")
    result = runner.invoke(app, ["data", str(path)])
    assert result.exit_code == 1
    assert "no rows" in result.stderr


def test_too_few_rows_for_window(tmp_path: Path) -> None:
    path = _panel_csv(tmp_path)
    result = runner.invoke(app, ["data", str(path), "--window", "100"])
    assert result.exit_code == 1
    assert "too few rows for window 100" in result.stderr and "--window below 80" in result.stderr


def test_missing_file_and_unknown_ticker(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", str(tmp_path / "nope.csv")])
    assert result.exit_code == 1 and "no such file" in result.stderr
    result = runner.invoke(app, ["data", "--tickers", "ZZZZ"])
    assert result.exit_code == 1 and "no ticker ZZZZ" in result.stderr


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("date,ticker,open,high,low,close,volume\n2020-01-02,Ü\xe9,1,2,0.5,1.5,10\n".encode("latin-1"))
    result = runner.invoke(app, ["data", str(path)])
    assert result.exit_code == 1 and "UTF-8" in result.stderr
