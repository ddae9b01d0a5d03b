"""Which spread estimator recovers known half-spreads best, on simulated markets (no data needed).

Each market: a mid that follows a random walk (daily volatility 1.5%, 78 intraday steps a day, a share of each
day's variance overnight), opens and closes printed at the bid or the ask with equal probability, highs at the
day's highest ask and lows at its lowest bid; true half-spreads of 5, 20, 50 and 100 bp on four tickers. For each
estimator of :mod:`forecasting.market.spreads` and trailing window, over ``--seeds`` markets of ``--days`` days:

- bias: the mean over markets of each market's median estimate, against the truth;
- MdAE: the median absolute error of the daily estimates (what one fill pays wrongly), in bp;
- within 35%: the share of markets whose median estimate lies within 35% of the truth (the acceptance test's bar).

``python benchmarks/spread_estimators.py`` (about 30 s on 2 cores) prints a markdown table; results go to
``benchmarks/results/``. It also times each estimator on a Tokyo-sized panel (2,000 tickers x 1,250 days).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from forecasting.market.spreads import METHODS, estimate_spreads

TRUE_BP = (5.0, 20.0, 50.0, 100.0)


def simulate(
    halves_bp: tuple[float, ...],
    days: int,
    *,
    sigma: float = 0.015,
    steps: int = 78,
    overnight: float = 0.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Open, high, low, close (days, tickers) of the market described in the module docstring."""
    rng = np.random.default_rng(seed)
    k, h = len(halves_bp), np.asarray(halves_bp) / 1e4
    inc = rng.normal(0.0, sigma * np.sqrt((1.0 - overnight) / steps), (days, steps, k))
    inc[:, 0, :] += rng.normal(0.0, sigma * np.sqrt(overnight), (days, k))
    mid = np.log(100.0) + np.cumsum(inc.reshape(days * steps, k), axis=0).reshape(days, steps, k)
    side = rng.choice([-1.0, 1.0], (2, days, k))
    return (
        np.exp(mid[:, 0, :] + side[0] * h),
        np.exp(mid.max(axis=1) + h),
        np.exp(mid.min(axis=1) - h),
        np.exp(mid[:, -1, :] + side[1] * h),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--days", type=int, default=1000)
    args = parser.parse_args()
    truth = np.asarray(TRUE_BP)
    print(f"{args.seeds} markets x {args.days} days, daily volatility 1.5%, true half-spreads {TRUE_BP} bp")
    for overnight in (0.0, 0.25):
        markets = [simulate(TRUE_BP, args.days, overnight=overnight, seed=s) for s in range(args.seeds)]
        print(f"\novernight share of the daily variance: {overnight:g}")
        print("| estimator | window | median / truth (5, 20, 50, 100 bp) | MdAE bp | within 35% |")
        print("| --- | ---: | --- | --- | --- |")
        for method in METHODS:
            for window in (21, 63, 126):
                medians, errors = [], []
                for o, hi, lo, c in markets:
                    est = estimate_spreads(
                        o, hi, lo, c, np.ones(c.shape, bool), method=method, window=window, min_pairs=min(21, window)
                    )
                    half = est.spread / 2.0 * 1e4
                    medians.append(np.nanmedian(half, axis=0))
                    errors.append(np.abs(half - truth))
                med = np.asarray(medians)
                ratio = med.mean(axis=0) / truth
                mdae = np.nanmedian(np.concatenate(errors), axis=0)
                within = (np.abs(med / truth - 1.0) <= 0.35).mean(axis=0)
                print(
                    f"| {method} | {window} | {', '.join(f'{x:.2f}' for x in ratio)} | "
                    f"{', '.join(f'{x:.1f}' for x in mdae)} | {', '.join(f'{x:.0%}' for x in within)} |"
                )
    o, hi, lo, c = simulate(tuple(np.linspace(5, 100, 2000)), 1250, seed=1)
    print("\nseconds for 2,000 tickers x 1,250 days, window 63:")
    for method in METHODS:
        t = time.perf_counter()
        estimate_spreads(o, hi, lo, c, np.ones(c.shape, bool), method=method)
        print(f"- {method}: {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
