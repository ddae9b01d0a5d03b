"""Quality goal: LSTM-MLE test NLL against GARCH(1,1) on arch's S&P 500 index data (1999-2018).

Chronological 70/15/15 split, default settings, several seeds; every model scored on the same test dates, for
each target asked for (default: the default execution's, next-close, and the original next-day close-to-close
target, same-close). Run: ``python benchmarks/sp500_quality.py [--seeds 0 1 2 3 4] [--execution next-close ...]``.
"""

from __future__ import annotations

import argparse
import statistics

import arch.data.sp500
import pandas as pd

from forecasting.execution import execution_mode
from forecasting.pipeline import ForecastConfig, run_forecast


def sp500_panel() -> pd.DataFrame:
    raw = arch.data.sp500.load()
    factor = raw["Adj Close"] / raw["Close"]
    idx = pd.MultiIndex.from_arrays([pd.DatetimeIndex(raw.index).normalize(), ["SPX"] * len(raw)],
                                    names=["date", "ticker"])
    return pd.DataFrame(
        {
            "open": (raw["Open"] * factor).to_numpy(),
            "high": (raw["High"] * factor).to_numpy(),
            "low": (raw["Low"] * factor).to_numpy(),
            "close": raw["Adj Close"].to_numpy(),
            "volume": (raw["Volume"] / factor).to_numpy(dtype=float),
        },
        index=idx,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--execution", nargs="+", default=["next-close", "same-close"])
    args = ap.parse_args()
    panel = sp500_panel()
    for execution in args.execution:
        print(f"target: {execution_mode(execution).describe()} ({execution})")
        quality(panel, execution, args.seeds)


def quality(panel: pd.DataFrame, execution: str, seeds: list[int]) -> None:
    lstm = []
    for seed in seeds:
        run = run_forecast(panel, ForecastConfig(seed=seed, device="cpu", execution=execution), None, progress=False)
        test = run.metrics["test"]
        o = test["overall"]
        lstm.append(o["lstm"]["nll"])
        dm = test["diebold_mariano"]["nll"]
        print(f"seed {seed}: test NLL  LSTM {o['lstm']['nll']:.4f}  GARCH {o['garch']['nll']:.4f}  "
              f"EWMA {o['zero_ewma']['nll']:.4f}  historical {o['historical']['nll']:.4f}  "
              f"(DM vs {test['diebold_mariano']['against']}: stat {dm['statistic']:+.2f}, p {dm['p_value']:.2f}); "
              f"MSE x1e4 LSTM {o['lstm']['mse'] * 1e4:.4f} zero {o['zero_ewma']['mse'] * 1e4:.4f}")
    print(f"LSTM test NLL over {len(lstm)} seeds: median {statistics.median(lstm):.4f}, "
          f"range {min(lstm):.4f} to {max(lstm):.4f}; add ln(100) = 4.6052 for percent returns")


if __name__ == "__main__":
    main()
