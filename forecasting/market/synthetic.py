"""Synthetic market data for tests and benchmarks: random-walk OHLCV with GARCH-like volatility."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["bounce_panel", "synthetic_panel", "to_jpx_frame"]


def synthetic_panel(
    n_tickers: int = 3,
    n_days: int = 400,
    *,
    start: str = "2017-01-04",
    seed: int | np.random.Generator | None = 0,
    missing: float = 0.0,
) -> pd.DataFrame:
    """A canonical panel of ``n_tickers`` random walks on business days.

    Daily log returns follow a GARCH(1,1) (omega 2e-6, alpha 0.08, beta 0.9) with a small predictable
    mean (0.05 times the previous return), so that volatility clusters as in real data. ``missing`` blanks
    that share of price cells at random, as gaps for the cleaner.

    Examples
    --------
    >>> p = synthetic_panel(2, 50)
    >>> p.shape, bool((p["high"] >= p["low"]).all())
    ((100, 5), True)
    """
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range(start, periods=n_days, name="date")
    z = rng.standard_normal((n_days, n_tickers))
    r = np.empty_like(z)
    var = np.full(n_tickers, 2e-4)
    prev = np.zeros(n_tickers)
    for t in range(n_days):
        r[t] = 0.05 * prev + np.sqrt(var) * z[t]
        var = 2e-6 + 0.08 * r[t] ** 2 + 0.9 * var
        prev = r[t]
    close = 100.0 * np.exp(np.cumsum(r, axis=0)) * rng.uniform(0.5, 20, n_tickers)
    prev_close = np.vstack([close[:1] / np.exp(r[:1]), close[:-1]])
    open_ = prev_close * np.exp(rng.normal(0, 0.3, close.shape) * np.abs(r))
    spread = np.abs(rng.normal(0, 0.01, close.shape))
    high = np.maximum(open_, close) * np.exp(spread)
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.01, close.shape)))
    volume = rng.lognormal(13, 0.5, close.shape).round()
    tickers = [f"T{i:04d}" for i in range(n_tickers)]
    frames = {"open": open_, "high": high, "low": low, "close": close, "volume": volume}
    idx = pd.MultiIndex.from_product([dates, tickers], names=["date", "ticker"])
    panel = pd.DataFrame({k: v.reshape(-1) for k, v in frames.items()}, index=idx)
    if missing > 0:
        holes = rng.random(len(panel)) < missing
        panel.loc[holes, ["open", "high", "low", "close"]] = np.nan
    return panel


def bounce_panel(
    n_tickers: int = 6,
    n_days: int = 2000,
    *,
    bounce_bp: float = 50.0,
    vol: float = 0.01,
    start: str = "2010-01-04",
    seed: int | np.random.Generator | None = 0,
) -> pd.DataFrame:
    """A market where nothing can be predicted, yet trading at the close a forecast used looks profitable.

    Each ticker's mid price is a pure random walk (daily log-return sd ``vol``); opens print at the mid, and
    each close prints at the bid or the ask, ``bounce_bp`` basis points below or above the mid, at random (the
    bid-ask bounce). A close-to-close return then reverses on the next day, so the reversal forecast
    ``-0.5 * r_t`` predicts ``r_{t+1}``, the return of a position filled at the close of t; but no order can fill
    at a close it has already seen, and every return a real fill holds (from the close or open of t+1 on) is
    unpredictable from the past.

    Examples
    --------
    >>> p = bounce_panel(2, 500, seed=1)
    >>> r = np.log(p["close"].unstack()).diff().dropna()
    >>> bool(r.apply(lambda s: s.autocorr()).lt(-0.1).all())  # the bounce: about -0.17 with these settings
    True
    """
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range(start, periods=n_days, name="date")
    mid = 50.0 * np.exp(np.cumsum(rng.normal(0.0, vol, (n_days, n_tickers)), axis=0))
    open_ = mid * np.exp(rng.normal(0.0, vol / 4, (n_days, n_tickers)))  # an overnight move, then the day's
    side = rng.choice([-1.0, 1.0], size=(n_days, n_tickers))
    close = mid * np.exp(side * bounce_bp / 1e4)
    wiggle = np.abs(rng.normal(0.0, vol / 2, (n_days, n_tickers)))
    high = np.maximum(open_, close) * np.exp(wiggle)
    low = np.minimum(open_, close) * np.exp(-wiggle)
    volume = rng.integers(200_000, 2_000_000, (n_days, n_tickers)).astype(float)
    frames = [
        pd.DataFrame(
            {
                "date": dates,
                "ticker": f"B{j}",
                "open": open_[:, j],
                "high": high[:, j],
                "low": low[:, j],
                "close": close[:, j],
                "volume": volume[:, j],
            }
        )
        for j in range(n_tickers)
    ]
    return pd.concat(frames).set_index(["date", "ticker"]).sort_index()


def to_jpx_frame(panel: pd.DataFrame, *, splits: dict[str, str] | None = None) -> pd.DataFrame:
    """The panel in the JPX competition's ``stock_prices.csv`` layout, unadjusting the given splits.

    ``splits`` maps a ticker to the first date trading at the new, halved price (a 2-for-1 split): the raw
    prices from that date on are halved and volumes doubled, and ``AdjustmentFactor`` 0.5 sits on the last
    day before it, as in the competition's files (J-Quants data puts it on the split day itself). Reading the
    result back with :func:`forecasting.market.loaders.read_jpx` gives the original panel.
    """
    frame = panel.reset_index()
    frame["AdjustmentFactor"] = 1.0
    for ticker, day in (splits or {}).items():
        mine = frame["ticker"] == ticker
        after = mine & (frame["date"] >= pd.Timestamp(day))
        # adjusted (post-split scale) prices are the panel's; before the split the raw prices were double
        before = mine & ~after
        for c in ("open", "high", "low", "close"):
            frame.loc[before, c] = frame.loc[before, c] * 2.0
        frame.loc[before, "volume"] = frame.loc[before, "volume"] / 2.0
        last_before = frame.loc[before, "date"].max()
        frame.loc[mine & (frame["date"] == last_before), "AdjustmentFactor"] = 0.5
    out = pd.DataFrame(
        {
            "RowId": frame["date"].dt.strftime("%Y%m%d") + "_" + frame["ticker"],
            "Date": frame["date"].dt.strftime("%Y-%m-%d"),
            "SecuritiesCode": frame["ticker"].str.replace("T", "1", regex=False),
            "Open": frame["open"],
            "High": frame["high"],
            "Low": frame["low"],
            "Close": frame["close"],
            "Volume": frame["volume"],
            "AdjustmentFactor": frame["AdjustmentFactor"],
            "ExpectedDividend": np.nan,
            "SupervisionFlag": False,
            "Target": np.nan,
        }
    )
    return out
