"""Shared fixtures: data the tests generate, written in each supported layout."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.market.synthetic import synthetic_panel


@pytest.fixture
def panel() -> pd.DataFrame:
    return synthetic_panel(3, 300, seed=7)


@pytest.fixture
def yahoo_csv(tmp_path: Path) -> Path:
    """One ticker in Yahoo's classic layout, with an Adj Close that halves the early prices."""
    p = synthetic_panel(1, 60, seed=1).xs("T0000", level="ticker")
    adj = p["close"].copy()
    adj.iloc[:30] = adj.iloc[:30] * 0.5
    frame = pd.DataFrame(
        {
            "Date": p.index.strftime("%Y-%m-%d"),
            "Open": p["open"].to_numpy(),
            "High": p["high"].to_numpy(),
            "Low": p["low"].to_numpy(),
            "Close": p["close"].to_numpy(),
            "Adj Close": adj.to_numpy(),
            "Volume": p["volume"].to_numpy(),
        }
    )
    path = tmp_path / "ACME.csv"
    frame.to_csv(path, index=False)
    return path


def write_yahoo_multiheader(path: Path, p: pd.DataFrame, ticker: str) -> None:
    """The newer yfinance layout: rows Price / Ticker / Date, then data, no Adj Close."""
    cols = ["Close", "High", "Low", "Open", "Volume"]
    lines = [
        "Price," + ",".join(cols),
        "Ticker," + ",".join([ticker] * len(cols)),
        "Date" + "," * len(cols),
    ]
    for d, row in p.iterrows():
        lines.append(f"{d:%Y-%m-%d}," + ",".join(repr(float(row[c.lower()])) for c in cols))
    path.write_text("\n".join(lines) + "\n")


def assert_close_panels(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == ["open", "high", "low", "close", "volume"]
    assert a.index.names == ["date", "ticker"]
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-9)
    assert (a.index == b.index).all()
