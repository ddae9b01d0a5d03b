"""Quality goal: the LSTM-MLE's test log score against the econometric baselines, on arch's S&P 500 index data
(1999-2018) or on the embedded US tech panel.

Chronological 70/15/15 split, default network settings; for each setting (predictive distribution and ensemble
size) several seeds. Every model is scored on the same test dates with its own predictive density; the
Diebold-Mariano tests (HLN-corrected) are against GJR-GARCH(1,1,1)-t and the range HAR. The best setting is
chosen on the *validation* NLL, never on the test block. Run:
``python benchmarks/sp500_quality.py [--panel sp500|embedded] [--settings normal studentt studentt-x5]
[--seeds 0 1 2] [--device cpu|cuda] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import pandas as pd

from forecasting.pipeline import ForecastConfig, run_forecast
from forecasting.preparation.execution import execution_mode

BASELINES = ("zero_ewma", "historical", "garch", "gjr_garch_t", "har")


def sp500_panel() -> pd.DataFrame:
    import arch.data.sp500

    raw = arch.data.sp500.load()
    factor = raw["Adj Close"] / raw["Close"]
    idx = pd.MultiIndex.from_arrays(
        [pd.DatetimeIndex(raw.index).normalize(), ["SPX"] * len(raw)], names=["date", "ticker"]
    )
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


def setting(name: str) -> tuple[str, int]:
    """``studentt-x5`` -> ("studentt", 5); ``normal`` -> ("normal", 1)."""
    dist, _, times = name.partition("-x")
    return dist, int(times or 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--panel", choices=["sp500", "embedded"], default="sp500")
    ap.add_argument("--settings", nargs="+", default=["normal", "studentt", "studentt-x5"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--execution", default="next-close")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", default=None, help="Write every figure to this file.")
    args = ap.parse_args()
    if args.panel == "sp500":
        panel = sp500_panel()
    else:
        from forecasting.market.loaders import load_default

        panel = load_default()
    print(f"{args.panel}, target: {execution_mode(args.execution).describe()} ({args.execution}), device {args.device}")
    records = quality(panel, args.execution, args.settings, args.seeds, args.device)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(records, f, indent=2)


def quality(panel: pd.DataFrame, execution: str, settings: list[str], seeds: list[int], device: str) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    baselines: dict[str, dict[str, float]] = {}
    for name in settings:
        dist, ensemble = setting(name)
        for seed in seeds:
            started = time.perf_counter()
            config = ForecastConfig(seed=seed * 100, device=device, execution=execution, dist=dist, ensemble=ensemble)
            run = run_forecast(panel, config, None, progress=False)
            val, test = run.metrics["val"], run.metrics["test"]
            dm = test["diebold_mariano_all"]
            record = {
                "setting": name,
                "seed": seed * 100,
                "seconds": round(time.perf_counter() - started, 1),
                "val_nll": val["overall"]["lstm"]["nll"],
                "test_nll": test["overall"]["lstm"]["nll"],
                "test_crps": test["overall"]["lstm"]["crps"],
                "coverage_90": test["overall"]["lstm"]["coverage_90"],
                "dm_p_vs_gjr_t": dm["gjr_garch_t"]["nll"]["p_value"],
                "dm_stat_vs_gjr_t": dm["gjr_garch_t"]["nll"]["statistic"],
                "dm_p_vs_har": dm["har"]["nll"]["p_value"],
                "dm_stat_vs_har": dm["har"]["nll"]["statistic"],
                "n_test": test["n"],
            }
            if "ensemble" in test:
                record["ensemble"] = test["ensemble"]
            runs.append(record)
            print(
                f"{name:12s} seed {seed * 100:4d}: val NLL {record['val_nll']:.4f}  test NLL {record['test_nll']:.4f}  "
                f"90% cover {record['coverage_90'] * 100:.1f}%  DM vs GJR-t {record['dm_stat_vs_gjr_t']:+.2f} "
                f"(p {record['dm_p_vs_gjr_t']:.3f}), vs HAR {record['dm_stat_vs_har']:+.2f} "
                f"(p {record['dm_p_vs_har']:.3f})  [{record['seconds']} s]",
                flush=True,
            )
            if not baselines:
                baselines = {
                    m: {
                        "val_nll": val["overall"][m]["nll"],
                        "test_nll": test["overall"][m]["nll"],
                        "coverage_90": test["overall"][m]["coverage_90"],
                    }
                    for m in BASELINES
                }
    print("\nbaselines (the same rows):")
    for m, b in baselines.items():
        print(
            f"  {m:12s} val NLL {b['val_nll']:.4f}  test NLL {b['test_nll']:.4f}  "
            f"90% cover {b['coverage_90'] * 100:.1f}%"
        )
    print("\nLSTM settings, mean over seeds:")
    summary = {}
    for name in settings:
        rs = [r for r in runs if r["setting"] == name]
        summary[name] = {k: statistics.mean(r[k] for r in rs) for k in ("val_nll", "test_nll", "coverage_90")}
        summary[name]["test_nll_range"] = [min(r["test_nll"] for r in rs), max(r["test_nll"] for r in rs)]
        s = summary[name]
        print(
            f"  {name:12s} val NLL {s['val_nll']:.4f}  test NLL {s['test_nll']:.4f} "
            f"({s['test_nll_range'][0]:.4f} to {s['test_nll_range'][1]:.4f})  90% cover {s['coverage_90'] * 100:.1f}%"
        )
    chosen = min(summary, key=lambda k: summary[k]["val_nll"])
    best_base = min(baselines, key=lambda m: baselines[m]["val_nll"])
    print(
        f"\nchosen on validation: {chosen}, test NLL {summary[chosen]['test_nll']:.4f}; best baseline on validation: "
        f"{best_base}, test NLL {baselines[best_base]['test_nll']:.4f}; GJR-GARCH-t test NLL "
        f"{baselines['gjr_garch_t']['test_nll']:.4f}"
    )
    return {"runs": runs, "baselines": baselines, "summary": summary, "chosen_on_validation": chosen}


if __name__ == "__main__":
    main()
