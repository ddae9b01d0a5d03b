"""Mean shrinkage (issue 18, item 8): the factor chosen on the validation block and the test block before and after.

Runs ``qtrade forecast``'s default settings (``--mean-shrinkage auto``) on the embedded US tech panel and on arch's
S&P 500 index data, one after the other, and prints for each: the chosen factor k, the validation NLL at k = 0
and k = 1, and on the test block (the rows every model is scored on) the LSTM's NLL and R2 against a zero mean
without shrinkage (k = 1) and with the chosen k. The choice never sees the test block. Run:
``python benchmarks/mean_shrinkage.py [--panels embedded sp500] [--seeds 0] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from sp500_quality import sp500_panel

from forecasting.market.loaders import load_market_data
from forecasting.pipeline import ForecastConfig, run_forecast


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--panels", nargs="+", choices=["embedded", "sp500"], default=["embedded", "sp500"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    rows: list[dict[str, Any]] = []
    for name in args.panels:
        panel = load_market_data(None) if name == "embedded" else sp500_panel()
        for seed in args.seeds:
            started = time.perf_counter()
            run = run_forecast(panel, ForecastConfig(seed=seed), None, source=name, progress=False)
            m = run.metrics["mean_shrinkage"]
            row = {
                "panel": name,
                "seed": seed,
                "factor": m["factor"],
                "val_nll_k0": m["val_nll"]["0.0"],
                "val_nll_k1": m["val_nll"]["1.0"],
                "val_nll_chosen": m["val_nll"][f"{m['factor']:.1f}"],
                "test": m["test"],
                "seconds": round(time.perf_counter() - started, 1),
            }
            rows.append(row)
            t = m["test"]
            print(
                f"{name} seed {seed}: k = {m['factor']:.1f} (validation NLL k=1 {row['val_nll_k1']:.5f}, "
                f"k=0 {row['val_nll_k0']:.5f}, chosen {row['val_nll_chosen']:.5f}); test ({t['n']} rows) NLL "
                f"{t['unshrunk']['nll']:.5f} -> {t['shrunk']['nll']:.5f}, R2 vs 0 "
                f"{t['unshrunk']['r2_vs_zero'] * 100:+.3f}% -> {t['shrunk']['r2_vs_zero'] * 100:+.3f}% "
                f"[{row['seconds']} s]",
                flush=True,
            )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
