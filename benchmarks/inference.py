"""Inference: forecasts per second of ``qtrade forecast --model`` over a wide panel.

Trains a default-shaped model for one epoch on a small panel (not timed), then forecasts every valid origin of a
synthetic panel (default 2,000 tickers x 1,250 days, the Tokyo market's size) with ``predict_with_model``,
which is what ``qtrade forecast --model`` runs: cleaning, features, scaling, windows and the network.
Run: ``python benchmarks/inference.py [--tickers 2000 --days 1250]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from forecasting.market.synthetic import synthetic_panel
from forecasting.pipeline import ForecastConfig, predict_with_model, run_forecast

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickers", type=int, default=2000)
    parser.add_argument("--days", type=int, default=1250)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_forecast(synthetic_panel(3, 400, seed=0), ForecastConfig(epochs=1), Path(tmp) / "m", progress=False)
        panel = synthetic_panel(args.tickers, args.days, seed=1)
        t = time.perf_counter()
        forecasts = predict_with_model(panel, Path(tmp) / "m" / "model.pt", None, device="auto", score=False).forecasts
        seconds = time.perf_counter() - t
    print(
        f"qtrade forecast --model over {args.tickers} x {args.days}: {len(forecasts):,} forecasts in "
        f"{seconds:.1f} s = {len(forecasts) / seconds:,.0f} forecasts/s (cleaning and features included)"
    )
