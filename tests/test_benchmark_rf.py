"""``--benchmark`` and ``--rf``: the benchmark sources, the risk-free rate in financing and in every Sharpe ratio,
each checked against figures computed by hand, and a run without them equal to the one before they existed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from backtests.costs import CostModel
from tests.built_markets import forecasts, market, run

BASELINE = Path(__file__).with_name("rf_zero_baseline.json")
MODES = ("next-close", "next-open", "same-close")
# costs whose arithmetic is +, -, *, / only (no impact: its log and sqrt may round differently on other CPUs)
EXACT_COSTS = CostModel(
    commission_bps=2.0, half_spread_bps=3.0, impact=0.0, participation=0.5, borrow=0.02, financing=0.05
)


def cents_market(n: int = 40, seed: int = 7) -> pd.DataFrame:
    """Three tickers whose prices are whole cents (a random walk of integer steps), so every run is exact."""
    rng = np.random.default_rng(seed)
    close = {t: (5_000 + np.cumsum(rng.integers(-150, 151, n))) / 100 for t in ("A", "B", "C")}
    opens = {t: c + rng.integers(-50, 51, n) / 100 for t, c in close.items()}
    volume = {t: [4e5] * n for t in close}
    return market(
        {t: c.tolist() for t, c in close.items()}, open_={t: o.tolist() for t, o in opens.items()}, volume=volume
    )


def levered_means(n: int = 40, seed: int = 8) -> dict[str, list[float]]:
    """Weights between -0.9 and 1.4 a ticker: gross exposure above the equity on most days, shorts on some."""
    rng = np.random.default_rng(seed)
    return {t: rng.integers(-9, 15, n).astype(float).__truediv__(10).tolist() for t in ("A", "B", "C")}


def baseline_runs() -> dict[str, list[float]]:
    """Net returns of the levered rule in every execution mode, as the engine makes them."""
    panel = cents_market()
    out = {}
    for mode in MODES:
        fc = forecasts(panel, mode, levered_means(), test_from=10)
        result, _ = run(panel, fc, mode, EXACT_COSTS, cash=1e6)
        out[mode] = result.returns.tolist()
        out[f"{mode} benchmark"] = result.benchmark.tolist()
    return out


def test_without_rf_the_returns_are_bit_for_bit_those_before_rf_existed() -> None:
    stored = json.loads(BASELINE.read_text(encoding="utf-8"))
    now = baseline_runs()
    assert set(now) == set(stored)
    for key, values in now.items():
        assert [float(x).hex() for x in values] == stored[key], key
