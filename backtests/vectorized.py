"""An independent recomputation of a backtest in numpy, from the rule's decisions, sharing no code with the engine.

It reads the prices, the rule's decisions and the cost settings (the :class:`~backtests.costs.CostModel` only as
numbers), and writes every rule of execution and cost again from its definition in the README, so that an error
in the engine cannot agree with itself here:

- a decision made at origin t is sent at the close of t (``same-close``, ``next-open``) or of t+1
  (``next-close``), sized as ``|target - current| * equity / close`` and skipped below the band; sells go first;
  it fills at the close it was sent at, or at the next open when that is a real price;
- it takes at most ``participation`` of the volume known at the fill: the fill bar's at a close, the last real
  session's at an open; a ticker whose volume is 0 or missing on every real bar has unknown volume: no cap and no
  impact;
- each fill pays ``commission_bps`` and the half-spread (half the data's ``spread`` column where it has one, known
  as the volume is; else ``half_spread_bps``) of its value, and square-root impact ``impact * sigma *
  sqrt(value / adv)`` of it, sigma the standard deviation of the close-to-close log returns and adv the mean
  close x volume over the real bars among the 20 before the fill bar;
- each day the positions held at the previous close pay ``borrow / 252`` on the value of the shorts and
  ``financing / 252`` on the gross exposure above the equity, valued at that close; and, from the period's first
  close on, ``rf / 252`` (the risk-free rate in force at that close) times the gross exposure less the equity:
  paid on what is borrowed, earned (negative) on the equity no position commits. That interest is a return, not
  a cost;
- a ticker whose last real price comes before the data's last day is closed by the decision whose fill is that
  price, whatever the rule said, and without the volume cap; the position is settled at that price times
  ``1 + delisting_return``.

``stats.json`` reports the largest daily gap to backtrader's returns; the tests hold it under 1e-6 bp.
A loop over days is fine here: its body is a few numpy operations on (n_tickers,) arrays.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from backtests.costs import CostModel
from backtests.inputs import BacktestData
from forecasting.preparation.execution import ExecutionMode, execution_mode

__all__ = ["replay"]

WINDOW = 20  # bars before the fill that sigma and adv are measured over (the README's "20 days before")
YEAR = 252  # trading days a year, for the annual borrow and financing rates


def replay(
    decisions: pd.DataFrame,
    data: BacktestData,
    *,
    mode: str | ExecutionMode,
    costs: CostModel,
    first: int,
    cash: float = 1_000_000.0,
    band: float = 0.0,
    delisting_return: float = 0.0,
    rf: np.ndarray | None = None,
) -> pd.DataFrame:
    """Daily net and gross returns of trading ``decisions`` (rows: forecast origins; NaN keeps a position).

    ``first`` is the row of ``data`` the simulation starts at; ``rf`` the annual risk-free rate in force at each
    date of ``data`` (read from the period's first close on; None: 0). Returns a frame indexed by the close each return
    ends at (the period's days after its first), with ``net``, ``gross``, ``cost`` (as shares of the previous
    close's equity) and ``equity``.

    Examples
    --------
    One ticker bought with all the equity at the close of the first day (``same-close``), no costs:

    >>> days = pd.bdate_range("2020-01-01", periods=3)
    >>> px = np.array([[100.0], [110.0], [99.0]])
    >>> ok = np.ones((3, 1), bool)
    >>> data = BacktestData(days, ["A"], {"open": px, "close": px, "volume": np.full((3, 1), 1e9)}, ok,
    ...                     px, px, px, start=0, stop=3, split="test")
    >>> free = CostModel(commission_bps=0, half_spread_bps=0, impact=0, participation=1, borrow=0, financing=0)
    >>> out = replay(pd.DataFrame({"A": [1.0, 1.0]}, index=days[:2]), data, mode="same-close", costs=free, first=0)
    >>> out["net"].round(4).tolist()
    [0.1, -0.1]
    """
    mode = execution_mode(mode)
    close, opens, volume = data.prices["close"], data.prices["open"], data.prices["volume"]
    tradable = data.tradable
    n = close.shape[1]
    rows = data.dates.get_indexer(decisions.index)
    if (rows < 0).any():
        raise ValueError("every decision date must be a date of data")
    targets = {int(r): decisions.to_numpy(dtype=float)[k] for k, r in enumerate(rows)}
    closing = _closing(tradable, mode.lag)
    # a ticker's volume is unknown (no cap, no impact) until a real bar has printed a positive volume
    printed = tradable & (np.nan_to_num(volume) > 0)
    impact_volume = np.full(volume.shape, np.nan)
    seen = np.zeros(n, dtype=bool)
    for r in range(len(volume)):
        seen = seen | printed[r]
        impact_volume[r] = np.where(seen, volume[r], np.nan)
    sigma, adv = _impact_inputs(close, impact_volume, tradable)
    spread = data.spread
    book = _Book(np.zeros(n), float(cash), costs, delisting_return)
    at_close = mode.price == "close"
    queued: int | None = None
    at_open: list[tuple[int, float, bool]] = []  # next-open orders from the previous close
    known_volume = np.zeros(n)  # each ticker's last real session: all that an open knows of its trading
    known_spread = np.full(n, np.nan)
    seen = np.zeros(n, dtype=bool)  # a positive volume printed on a real bar before this one
    for r in range(first):  # the sessions before the simulation starts are known to its first open too
        known_volume = np.where(tradable[r], volume[r], known_volume)
        if data.spread is not None:
            known_spread = np.where(tradable[r], data.spread[r], known_spread)
        seen = seen | printed[r]
    base = float(cash)  # the equity the day's return is measured from: the previous close's, after its fills
    carried = 0.0
    out_rows = []
    for b in range(first, data.stop):
        paid = 0.0
        if b > first:  # borrow and financing of the day, on the positions held at the previous close
            rate = float(rf[b - 1]) if rf is not None and b > data.start else 0.0
            paid += book.hold(close[b - 1], rate)
        if not at_close:
            for j, shares, delisting in at_open:
                if tradable[b, j]:
                    paid += book.fill(
                        j,
                        shares,
                        delisting,
                        price=opens[b, j],
                        volume=known_volume[j] if seen[j] else np.inf,
                        sigma=sigma[b, j],
                        adv=adv[b, j],
                        spread=known_spread[j],
                    )
            at_open = []
        mark = book.cash + float(book.q @ close[b])  # the equity that sizes this close's orders
        current = book.q * close[b] / mark if mark > 0 else np.zeros(n)
        orders: list[tuple[int, float, bool]] = []
        if at_close and mode.lag == 1:  # next-close: yesterday's decision trades at this close
            if queued is not None:
                orders = _orders(
                    _forced(targets[queued], closing[queued]),
                    closing[queued],
                    current,
                    mark,
                    close[b],
                    tradable[b],
                    band,
                )
            queued = b if b in targets else None
        elif b in targets:
            fill_real = tradable[b] if at_close else np.ones(n, dtype=bool)
            orders = _orders(_forced(targets[b], closing[b]), closing[b], current, mark, close[b], fill_real, band)
        if b == data.stop - 1:  # nothing after the last close: its orders would hold nothing in the period
            orders = []
        seen_now = seen | printed[b]
        if at_close:
            for j, shares, delisting in orders:
                paid += book.fill(
                    j,
                    shares,
                    delisting,
                    price=close[b, j],
                    volume=volume[b, j] if seen_now[j] else np.inf,
                    sigma=sigma[b, j],
                    adv=adv[b, j],
                    spread=np.nan if spread is None else spread[b, j],
                )
        else:
            at_open = orders
        equity = book.cash + float(book.q @ close[b])
        if b == data.start:  # the first close's fill costs land in the first day's return
            equity, carried = mark, paid
        elif b > data.start:
            out_rows.append((data.dates[b], equity / base - 1.0, (paid + carried) / base, equity))
            carried = 0.0
        base = equity
        known_volume = np.where(tradable[b], volume[b], known_volume)
        seen = seen_now
        if spread is not None:
            known_spread = np.where(tradable[b], spread[b], known_spread)
    frame = pd.DataFrame(out_rows, columns=["date", "net", "cost", "equity"]).set_index("date")
    frame["gross"] = frame["net"] + frame["cost"]
    return frame[["net", "gross", "cost", "equity"]]


class _Book:
    """Shares and cash; :meth:`fill` executes one order and :meth:`hold` charges a day's holding costs, each
    returning the cash it cost."""

    def __init__(self, q: np.ndarray, cash: float, costs: CostModel, delisting_return: float) -> None:
        self.q, self.cash, self.delisting_return = q, cash, delisting_return
        self.commission = costs.commission_bps / 1e4
        self.half_spread = costs.half_spread_bps / 1e4
        self.impact, self.participation = costs.impact, costs.participation
        self.borrow, self.financing = costs.borrow, costs.financing

    def fill(
        self,
        j: int,
        shares: float,
        delisting: bool,
        *,
        price: float,
        volume: float,
        sigma: float,
        adv: float,
        spread: float,
    ) -> float:
        signed = -self.q[j] if np.isnan(shares) else shares  # NaN: close the whole position
        size = abs(signed)
        if self.participation < 1.0 and not delisting:  # a delisting settles the whole position
            size = min(size, self.participation * volume)
        signed = float(np.sign(signed)) * size
        value = size * price
        rate = self.commission + (spread / 2.0 if np.isfinite(spread) else self.half_spread)
        if self.impact and value > 0 and np.isfinite(sigma) and np.isfinite(adv) and adv > 0:
            rate += self.impact * sigma * np.sqrt(value / adv)
        cost = rate * value
        settled = price * (1.0 + self.delisting_return) if delisting else price  # a delisting's return: not a cost
        self.q[j] += signed
        self.cash -= signed * settled + cost
        return cost

    def hold(self, price: np.ndarray, rate: float = 0.0) -> float:
        """A day's borrow and financing on the shares held, valued at ``price`` (the previous close), and the
        interest at the annual risk-free ``rate`` on the equity less the gross exposure; returns the costs alone."""
        value = self.q * price
        gross = float(np.abs(value).sum())
        if not gross and not rate:
            return 0.0
        equity = self.cash + float(value.sum())
        short = float(-value[value < 0].sum())
        cost = self.borrow / YEAR * short + self.financing / YEAR * max(gross - equity, 0.0)
        earned = rate / YEAR * (equity - gross)
        self.cash += earned - cost
        return cost


def _closing(tradable: np.ndarray, lag: int) -> np.ndarray:
    """True at the origin whose fill is the last real price of a ticker whose prices end before the data's."""
    n = len(tradable)
    out = np.zeros(tradable.shape, dtype=bool)
    for j in range(tradable.shape[1]):
        real = np.flatnonzero(tradable[:, j])
        if len(real) and real[-1] < n - 1:
            out[max(real[-1] - lag, 0), j] = True
    return out


def _forced(target: np.ndarray, closing: np.ndarray) -> np.ndarray:
    """The decision with every closing ticker's weight set to 0."""
    return np.where(closing, 0.0, target)


def _impact_inputs(close: np.ndarray, volume: np.ndarray, tradable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n_dates, n_tickers) sigma and adv of each bar, over the real bars among the :data:`WINDOW` before it.

    sigma: sample standard deviation of the log returns between consecutive real bars (2 or more needed);
    adv: mean close x volume (1 or more). NaN where too few.

    Examples
    --------
    >>> c = np.array([[100.0], [110.0], [99.0], [99.0]])
    >>> sigma, adv = _impact_inputs(c, np.full((4, 1), 10.0), np.ones((4, 1), bool))
    >>> round(float(sigma[3, 0]), 6) == round(float(np.std(np.log([1.1, 0.9]), ddof=1)), 6), adv[:, 0].tolist()
    (True, [nan, 1000.0, 1050.0, 1030.0])
    """
    real = tradable & np.isfinite(close)
    r = np.full(close.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        r[1:] = np.where(real[1:] & real[:-1], np.log(close[1:] / close[:-1]), np.nan)
    count, total, squares = _before(r)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = (squares - total**2 / count) / (count - 1)
        sigma = np.where(count >= 2, np.sqrt(np.maximum(var, 0.0)), np.nan)
        n_traded, traded, _ = _before(np.where(real, close * volume, np.nan))
        adv = np.where(n_traded >= 1, traded / n_traded, np.nan)
    return sigma, adv


def _before(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count, sum and sum of squares of the finite values in the :data:`WINDOW` rows before each row."""
    ok = np.isfinite(values)
    x = np.where(ok, values, 0.0)
    rows = np.arange(len(values))
    lo = np.maximum(rows - WINDOW, 0)

    def window(a: np.ndarray) -> np.ndarray:
        csum = np.vstack([np.zeros((1, a.shape[1])), np.cumsum(a, axis=0)])  # csum[t]: the rows before t
        return csum[rows] - csum[lo]

    return window(ok.astype(float)), window(x), window(x * x)


def _orders(
    target: np.ndarray,
    closing: np.ndarray,
    current: np.ndarray,
    equity: float,
    close: np.ndarray,
    fill_real: np.ndarray,
    band: float,
) -> list[tuple[int, float, bool]]:
    """Orders that move ``current`` weights to ``target``: sells first; a zero target closes the whole position."""
    act = fill_real & np.isfinite(target) & (equity > 0)
    delta = np.where(act, target - current, 0.0)
    act &= (np.abs(delta) > 1e-12) & ((np.abs(delta) >= band) | closing)
    orders = []
    for j in np.argsort(delta, kind="stable"):
        if act[j]:
            shares = np.nan if target[j] == 0.0 else float(np.sign(delta[j]) * abs(delta[j]) * equity / close[j])
            orders.append((int(j), shares, bool(closing[j] and target[j] == 0.0)))
    return orders
