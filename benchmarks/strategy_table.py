"""The README's strategy tables, measured: every strategy on one set of forecasts, and the bounce market.

``python benchmarks/strategy_table.py --forecasts runs/demo/forecast`` backtests every built-in strategy on those
forecasts (the embedded panel, their own execution, default costs) and prints the README's table rows.
``python benchmarks/strategy_table.py --bounce`` prints, for each execution mode, the net Sharpe ratio of every
forecast-driven strategy on the bid-ask bounce market (``forecasting.market.synthetic.bounce_panel``: nothing is
predictable) with the reversal forecast ``-0.5 r_t``. ``--spread auto`` charges each ticker's estimated spread
(:mod:`backtests.spreads`) instead of the flat 2 bp half-spread.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from backtests.costs import CostModel
from backtests.engine import Execution, run_backtest
from backtests.inputs import align, load_forecasts
from backtests.stats import backtest_stats, performance
from forecasting.market.loaders import load_default
from forecasting.market.synthetic import bounce_panel
from forecasting.preparation.execution import EXECUTIONS
from strategies import available, parse_params

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def strategy_rows(folder: Path, spread: str = "flat") -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    mode = manifest["config"].get("execution", "same-close")
    panel = load_default()
    data = align(panel, load_forecasts(folder, execution=mode), execution=mode)
    print(f"execution {mode}, test period {data.dates[data.start]:%Y-%m-%d} to {data.dates[data.stop - 1]:%Y-%m-%d}")
    print("| strategy | total, net | Sharpe, net | Sharpe, gross | max drawdown | turnover a year (one-way) | costs |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    bench = None
    paid: list[dict[str, float | None]] = []
    for spec in available():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = run_backtest(
                data, spec, parse_params(spec, None), Execution(mode=mode, costs=CostModel(spread=spread))
            )
            stats = backtest_stats(result)
            paid.append({t: p["median_bp"] for t, p in stats["half_spread_paid"].items()})
        n, g = stats["net"], stats["gross"]
        bench = stats["benchmark"]
        print(
            f"| {spec.name} | {n['total_return'] * 100:+.1f}% | {n['sharpe']:.2f} | {g['sharpe']:.2f} | "
            f"{n['max_drawdown'] * 100:.1f}% | {stats['turnover_annual']:.0f}x | {stats['costs_total'] * 100:.1f}% |"
        )
    if spread != "flat":
        first = available()[0].name
        print(f"half-spread paid ({spread}), median bp per ticker, {first}'s fills: {paid[0]}")
    if bench:
        print(
            f"| benchmark (buy and hold, no costs) | {bench['total_return'] * 100:+.1f}% | {bench['sharpe']:.2f} | "
            f"| {bench['max_drawdown'] * 100:.1f}% | | |"
        )


def bounce_rows(spread: str = "flat") -> None:
    from test_execution import reversal_forecasts

    panel = bounce_panel(6, 2000, bounce_bp=50.0, seed=0)
    rules = [s for s in available() if s.uses_forecast]
    print("| execution | " + " | ".join(s.name for s in rules) + " |")
    print("| --- |" + " ---: |" * len(rules))
    for mode in EXECUTIONS:
        data = align(panel, reversal_forecasts(panel, mode), execution=mode)
        cells = []
        for spec in rules:
            params = parse_params(
                spec, ["k=0"] if spec.name == "threshold" else ["k=3"] if spec.name == "longshort" else None
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = run_backtest(data, spec, params, Execution(mode=mode, costs=CostModel(spread=spread)))
            net, gross = performance(result.returns)["sharpe"], performance(result.gross_returns)["sharpe"]
            cells.append(f"{net:.2f} ({gross:.2f})")
        print(f"| {mode} | " + " | ".join(cells) + " |")
    print("net Sharpe ratio (gross of costs in brackets), test half of 2,000 days, 6 tickers, default costs")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--forecasts", type=Path)
    ap.add_argument("--bounce", action="store_true")
    ap.add_argument("--spread", default="flat", choices=["flat", "auto"], help="the half-spread fills pay")
    args = ap.parse_args()
    if args.forecasts:
        strategy_rows(args.forecasts, args.spread)
    if args.bounce:
        bounce_rows(args.spread)
    if not (args.forecasts or args.bounce):
        ap.error("give --forecasts FOLDER and/or --bounce")


if __name__ == "__main__":
    main()
