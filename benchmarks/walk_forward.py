"""Walk-forward out of sample: the cost of a refit (cold, warm), the speed-up of parallel folds, and the verdict.

For each mode (``cold``: each fold trains afresh; ``warm``: from the previous fold's weights; ``cold-jobs2``: cold
folds two at a time in worker processes) the default forecaster runs a walk-forward with yearly refits and
prints the seconds per refit, the whole run's time, and over the whole out-of-sample period the LSTM's log score
beside GJR-GARCH-t's and HAR's with the Diebold-Mariano tests, the 90% model confidence set and the 1% and 5% VaR
backtests. The warm and cold runs are compared on the out-of-sample log score, fold by fold. Run:
``python benchmarks/walk_forward.py [--panel sp500|embedded] [--oos-start DATE] [--modes cold warm cold-jobs2]
[--json out.json] [--out DIR]`` (``--out`` keeps each mode's forecast folder, for backtests).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from forecasting.pipeline import ForecastConfig, run_forecast

DEFAULT_OOS = {"sp500": "2005-01-01", "embedded": "2002-01-01"}
MODES = {"cold": {}, "warm": {"warm_start": True}, "cold-jobs2": {"jobs": 2}}


def panel_of(name: str) -> Any:
    if name == "sp500":
        from sp500_quality import sp500_panel  # beside this script

        return sp500_panel()
    from forecasting.market.loaders import load_default

    return load_default()


def summary(metrics: dict[str, Any], seconds: float) -> dict[str, Any]:
    test = metrics["test"]
    nll = {m: s["nll"] for m, s in test["overall"].items()}
    dm = test["diebold_mariano_all"]
    var = test["var_backtests"]
    folds = metrics["walk_forward"]["folds"]
    return {
        "seconds": round(seconds, 1),
        "fold_seconds": metrics["run"]["fold_seconds"],
        "folds": len(folds),
        "n": test["n"],
        "period": f"{test['first_date']}..{test['last_date']}",
        "nll": nll,
        "headline": {k: test["diebold_mariano"][k] for k in ("against", "chosen_on")}
        | {k: test["diebold_mariano"]["nll"][k] for k in ("statistic", "p_value")},
        "dm_nll": {m: {"statistic": d["nll"]["statistic"], "p": d["nll"]["p_value"]} for m, d in dm.items()},
        "mcs": {
            "included": test["model_confidence_set"]["included"],
            "pvalues": test["model_confidence_set"]["pvalues"],
            "meaning": test["model_confidence_set"]["meaning"],
        },
        "var": {
            m: {level: {k: v[level][k] for k in ("hit_rate", "uc_p", "ind_p", "cc_p")} for level in ("0.01", "0.05")}
            for m, v in var.items()
            if isinstance(v, dict) and "0.01" in v
        },
        "fold_nll": [f.get("nll", {}) for f in folds],
        "lstm_ahead_in": metrics["walk_forward"]["lstm_ahead_in"],
        "best_epochs": metrics["run"]["best_epochs"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--panel", choices=["sp500", "embedded"], default="sp500")
    ap.add_argument("--oos-start", default=None)
    ap.add_argument("--refit-every", default="1y")
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    ap.add_argument("--out", default=None, help="Keep each mode's forecast folder under this folder.")
    args = ap.parse_args()
    panel = panel_of(args.panel)
    oos = args.oos_start or DEFAULT_OOS[args.panel]
    records: dict[str, Any] = {"panel": args.panel, "oos_start": oos, "refit_every": args.refit_every}
    for mode in args.modes:
        config = ForecastConfig(seed=args.seed, oos_start=oos, refit_every=args.refit_every, **MODES[mode])
        out = Path(args.out) / f"{args.panel}-{mode}" if args.out else None
        started = time.perf_counter()
        run = run_forecast(panel, config, out, source=args.panel, progress=False)
        rec = summary(run.metrics, time.perf_counter() - started)
        records[mode] = rec
        per_fold = rec["fold_seconds"]
        print(
            f"{args.panel} {mode}: {rec['folds']} folds, {rec['seconds']:.1f} s in all, per refit "
            f"{min(per_fold):.1f}-{max(per_fold):.1f} s (mean {sum(per_fold) / len(per_fold):.1f}); "
            f"out of sample {rec['period']}, {rec['n']} forecasts",
            flush=True,
        )
        nll = rec["nll"]
        print(
            "  NLL "
            + ", ".join(f"{m} {v:.4f}" for m, v in nll.items())
            + "; DM (NLL) of the LSTM against "
            + ", ".join(f"{m} {d['statistic']:+.2f} (p {d['p']:.3g})" for m, d in rec["dm_nll"].items()),
            flush=True,
        )
        print(f"  headline: {rec['headline']}; MCS: {rec['mcs']['meaning']}", flush=True)
        for m, levels in rec["var"].items():
            print(
                f"  VaR {m}: "
                + "; ".join(
                    f"{float(a):.0%} hits {v['hit_rate']:.2%} (Kupiec p {v['uc_p']:.2g}, "
                    f"Christoffersen ind p {v['ind_p']:.2g}, cc p {v['cc_p']:.2g})"
                    for a, v in levels.items()
                ),
                flush=True,
            )
        print(f"  LSTM ahead of the headline opponent in {rec['lstm_ahead_in']} of {rec['folds']} folds", flush=True)
    if "cold" in records and "warm" in records:
        cold, warm = records["cold"], records["warm"]
        print(
            f"warm vs cold: {warm['seconds']:.1f} s vs {cold['seconds']:.1f} s; out-of-sample LSTM NLL "
            f"{warm['nll']['lstm']:.5f} vs {cold['nll']['lstm']:.5f}; warm better in "
            f"{sum(w['lstm'] < c['lstm'] for w, c in zip(warm['fold_nll'], cold['fold_nll'], strict=True))} of "
            f"{cold['folds']} folds"
        )
    if "cold" in records and "cold-jobs2" in records:
        print(f"2 jobs: {records['cold']['seconds'] / records['cold-jobs2']['seconds']:.2f}x the speed of 1")
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
