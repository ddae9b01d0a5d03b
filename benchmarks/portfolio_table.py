"""The README's portfolio table: the covariance rules beside the per-sleeve ones and buying and holding.

``python benchmarks/portfolio_table.py --forecasts runs/demo/forecast [--panel embedded|sp500] [--spread flat]
[--json out.json]`` backtests, on those forecasts (their own execution, default costs but the spread chosen), each
of buyhold, kelly, voltarget, volmanaged, riskparity, minvar and meanvar with its defaults, then each scaled to a
forecast volatility of 10% a year (``--target-vol 0.10``), and riskparity and kelly deciding monthly, and prints
per run: the net Sharpe ratio with its 95% interval and the Ledoit-Wolf p-value of its difference from the
benchmark's (equal weight, no costs), the realised volatility beside the target, one-way turnover a
year and the costs paid.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from backtests.costs import CostModel
from backtests.engine import Execution, run_backtest
from backtests.inputs import align, load_forecasts
from backtests.stats import backtest_stats
from strategies import get, parse_params

sys.path.insert(0, str(Path(__file__).resolve().parent))

RULES = ["buyhold", "kelly", "voltarget", "volmanaged", "riskparity", "minvar", "meanvar"]
RUNS: list[tuple[str, dict[str, Any]]] = [
    *[(r, {}) for r in RULES],
    *[(r, {"target_vol": 0.10}) for r in RULES],
    ("riskparity", {"rebalance": "monthly"}),
    ("kelly", {"rebalance": "monthly"}),
    ("riskparity", {"rebalance": "monthly", "target_vol": 0.10}),
]


def panel_of(name: str) -> Any:
    if name == "sp500":
        from sp500_quality import sp500_panel

        return sp500_panel()
    from forecasting.market.loaders import load_default

    return load_default()


def _p(p: float | None) -> str:
    return "-" if p is None else f"{p:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--forecasts", type=Path, required=True)
    parser.add_argument("--panel", default="embedded", choices=["embedded", "sp500"])
    parser.add_argument("--spread", default="flat")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    manifest = json.loads((args.forecasts / "manifest.json").read_text())
    mode = manifest["config"].get("execution", "next-close")
    calendar = manifest.get("calendar") or "auto"
    panel = panel_of(args.panel)
    data = align(panel, load_forecasts(args.forecasts, execution=mode), execution=mode, calendar=calendar)
    print(
        f"{len(data.tickers)} tickers, {mode}, period {data.dates[data.start]:%Y-%m-%d} to "
        f"{data.dates[data.stop - 1]:%Y-%m-%d}, --spread {args.spread}"
    )
    print(
        "| strategy | sizing | Sharpe, net (95% interval) | p vs benchmark | volatility | turnover a year | costs "
        "| max drawdown |"
    )
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    rows = []
    for name, kw in RUNS:
        spec = get(name)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = run_backtest(
                data, spec, parse_params(spec, None), Execution(mode=mode, costs=CostModel(spread=args.spread), **kw)
            )
            stats = backtest_stats(result)
        seconds = time.perf_counter() - start
        n = stats["net"]
        sure = stats["sharpe_inference"]["net"]["sharpe"]
        diff = stats["sharpe_inference"].get("difference") or {}
        sizing = ", ".join(
            ([f"target {kw['target_vol'] * 100:g}%"] if "target_vol" in kw else [])
            + ([kw["rebalance"]] if "rebalance" in kw else [])
        )
        row = {
            "strategy": name,
            "sizing": sizing or "as the rule says, daily",
            "sharpe": n["sharpe"],
            "lower": sure.get("lower"),
            "upper": sure.get("upper"),
            "p_vs_benchmark": diff.get("p_value"),
            "volatility": n["volatility"],
            "target_vol": kw.get("target_vol"),
            "turnover_annual": stats["turnover_annual"],
            "costs": stats["costs_total"],
            "max_drawdown": n["max_drawdown"],
            "seconds": round(seconds, 1),
        }
        rows.append(row)
        print(
            f"| {name} | {row['sizing']} | {n['sharpe']:.2f} ({row['lower']:.2f} to {row['upper']:.2f}) | "
            f"{_p(row['p_vs_benchmark'])} | {n['volatility'] * 100:.1f}% | {row['turnover_annual']:.1f}x | "
            f"{row['costs'] * 100:.1f}% | {n['max_drawdown'] * 100:.1f}% |",
            flush=True,
        )
    bench = stats["benchmark"]
    print(
        f"| benchmark (equal weight, no costs) | | {bench['sharpe']:.2f} | | {bench['volatility'] * 100:.1f}% | | | "
        f"{bench['max_drawdown'] * 100:.1f}% |"
    )
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "benchmark": bench}, indent=2, default=str))


if __name__ == "__main__":
    main()
