"""``qtrade signal``: tomorrow's orders from a finished backtest and the latest data.

From the backtest folder (:mod:`live.run_folder`) and data that ends at the exchange's latest completed session
(:mod:`live.sessions`) and holds the run's history unchanged (:mod:`live.history`), it forecasts the latest close
with the forecast run's saved model (no training), applies the strategy to the book held at that close
(:mod:`live.holdings`), lists the orders (:mod:`live.orders`) and says whether the model is due for a refit on
its run's walk-forward schedule (:mod:`live.refit`).

The decision is the backtest's by construction: the data goes through the backtest's own alignment
(:func:`backtests.inputs.align`: cleaning, the calendar, carried prices), the rule's arrays are the engine's
(:func:`backtests.engine.rule_columns`) and the rule is applied by the engine's
:class:`strategies.target_weights.Decider` with the run's calibrated settings, execution, band, ``--no-short``,
rebalance days and target volatility. Two facts the engine carries from one close to the next are set as it
would have them: whether this is the run's first decision, and the tickers active at the rule's previous
decision (forecast again from the same data). One thing a backtest knows that a signal cannot: a ticker whose
data ends later is closed by the engine at the decision whose fill is its last price; a signal learns of a
delisting only from the exchange. The other side of it: a ticker with no real row at the last close (a halt, a
late file) reads to the engine's alignment as one whose data ended, so the signal keeps its position and leaves
it out of the sleeves, where the backtest, knowing it trades again, would have decided on it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backtests.benchmark_sources import without_ticker
from backtests.engine import rule_columns
from backtests.inputs import BacktestData, align
from forecasting.atomic import atomic_path, write_text
from forecasting.errors import DataError
from forecasting.outputs import check_out, clear_previous
from live.history import check_unchanged
from live.holdings import Holdings
from live.orders import ORDER_TYPES, order_list
from live.refit import RefitStatus, refit_status
from live.run_folder import RunFolder, read_run
from live.sessions import check_fresh
from strategies.target_weights import Columns, Decider

__all__ = ["AtClose", "Signal", "at_close", "make_signal", "write_signal", "write_tables"]

_LOOKBACK = {"daily": 2, "weekly": 12, "monthly": 32}  # sessions back to the rule's previous decision, at least
FILLS = {
    "next-close": "at the close of the next session",
    "next-open": "at the open of the next session",
    "same-close": "at this close (optimistic: no order can be sent once the close is known)",
}


@dataclass(frozen=True)
class Signal:
    """What a signal decided at the close of ``date``.

    ``decision`` is the rule's target weight of each ticker (NaN: keep the position), the row a backtest would
    write into ``decisions.csv`` for that close; ``current`` the weights held at that close, worth ``equity``;
    ``forecasts`` the forecast of each ticker made at that close; ``orders`` the orders (:mod:`live.orders`);
    ``refit`` where the model stands on its run's walk-forward schedule (:mod:`live.refit`).
    """

    run: RunFolder
    date: pd.Timestamp
    as_of: pd.Timestamp
    decision: pd.Series
    current: pd.Series
    equity: float
    forecasts: pd.DataFrame
    orders: pd.DataFrame
    refit: RefitStatus = field(default_factory=lambda: RefitStatus(None))
    closing: pd.Series | None = None  # True where the decision closes a delisted ticker's position

    @property
    def targets(self) -> pd.DataFrame:
        """ticker, weight (the weight to hold: the decision, or the current weight where it keeps), current and
        decided (False where the rule kept the position)."""
        decided = self.decision.notna()
        return pd.DataFrame(
            {
                "ticker": self.decision.index,
                "weight": np.where(decided, self.decision, self.current),
                "current": self.current.to_numpy(),
                "decided": decided.to_numpy(),
            }
        )

    def summary(self) -> dict[str, Any]:
        """The facts ``signal.json`` records."""
        ex = self.run.execution
        return {
            "run": str(self.run.folder),
            "strategy": self.run.strategy,
            "params": self.run.params,
            "date": f"{self.date:%Y-%m-%d}",
            "as_of": str(self.as_of),
            "execution": ex.mode,
            "fill": FILLS[ex.mode],
            "order_type": ORDER_TYPES[ex.mode],
            "participation": ex.costs.participation,
            "band": ex.band,
            "equity": self.equity,
            "gross": float(np.abs(self.targets["weight"]).sum()),
            "orders": len(self.orders),
            "model": str(self.run.model_for(self.date)),
            "refit": self.refit.to_dict(),
        }


def _origins_from(panel: pd.DataFrame, rebalance: str) -> pd.Timestamp:
    """The first origin to forecast: far enough back to hold the rule's previous decision."""
    days = pd.DatetimeIndex(panel.index.unique("date")).sort_values()
    return pd.Timestamp(days[max(len(days) - _LOOKBACK[rebalance], 0)])


def _forecast_and_align(
    folder: RunFolder, panel: pd.DataFrame, last: pd.Timestamp, since: pd.Timestamp, source: str
) -> tuple[pd.DataFrame, BacktestData]:
    """The saved model's forecasts of the origins from ``since`` to ``last``, and the data as the backtest aligned
    it (its cleaning, calendar and carried prices) with them, on the tickers the run traded."""
    from forecasting.pipeline import predict_with_model

    mode = folder.execution.execution_mode
    forecast = predict_with_model(
        panel,
        folder.model_for(last),
        None,
        source=source,
        score=False,
        execution=mode.name,
        calendar=folder.calendar,
        origins_from=since,
    ).forecasts
    forecast = forecast[forecast["ticker"].isin(folder.forecast_tickers)]
    if not (forecast["date"] == last).any():
        raise DataError(
            f"{source}: no forecast at {last:%Y-%m-%d}: no ticker has a whole window of real rows ending there; "
            "check the last rows of the data"
        )
    data = align(
        panel,
        forecast,
        split="all",
        max_gap=folder.max_gap,
        source=source,
        execution=mode.name,
        calendar=folder.calendar,
    )
    for ticker in [t for t in data.tickers if t not in folder.tickers]:
        data = without_ticker(data, ticker)  # a benchmark the run did not trade
    if data.tickers != folder.tickers or data.dates[-1] != last:
        raise DataError(
            f"{source}: its tickers are not the {len(folder.tickers)} the run traded; give the run's market"
        )
    return forecast, data


def complete_rows(panel: pd.DataFrame, last: pd.Timestamp) -> pd.DataFrame:
    """``panel`` without its rows at ``last`` that lack a value the ticker has printed before (an open not yet
    in the file, say): later data would bridge that gap by interpolation, and the backtest would then count the
    row as no real price, neither an origin nor a fill; left in, the last row would be both. The ticker then
    reads as one without a row at ``last`` (:func:`halted_listed`)."""
    at = panel.index.get_level_values("date") == last
    columns = [c for c in ("open", "high", "low", "close", "volume") if c in panel.columns]
    before = panel[~at][columns].notna().groupby(level="ticker").any()
    today = panel[at][columns]
    printed = before.reindex(today.index.get_level_values("ticker")).fillna(False).to_numpy(dtype=bool)
    lacking = (today.isna().to_numpy() & printed).any(axis=1)
    if not lacking.any():
        return panel
    return panel.drop(index=today.index[lacking])


def sessions_without_price(real: np.ndarray) -> np.ndarray:
    """(n_tickers,) the rows since each ticker's last real price, up to the last row of ``real`` (n_rows,
    n_tickers); -1 for a ticker that never had one.

    >>> sessions_without_price(np.array([[True, True, False], [True, False, False]])).tolist()
    [0, 1, -1]
    """
    rows = np.arange(len(real))[:, None]
    last_real = np.where(real, rows, -1).max(axis=0)
    return np.where(last_real >= 0, (len(real) - 1) - last_real, -1)


def halted_listed(columns: Columns, max_gap: int) -> Columns:
    """``columns`` with every ticker whose real prices stop fewer than ``max_gap`` + 1 sessions before the last row
    kept listed (and not closed): a halt, or a row late in the file, which later data would bridge as the backtest's
    cleaning bridges a gap of at most ``max_gap`` sessions; the backtest, knowing the ticker trades again, decides
    on it as listed with no real price. A ticker without a real price for longer reads as delisted."""
    real = columns.tradable
    gap = sessions_without_price(real)
    halted = (gap >= 1) & (gap <= max_gap)
    if not halted.any():
        return columns
    closing = np.array(columns.closing)
    listed = np.array(columns.listed)
    started = np.logical_or.accumulate(real, axis=0)
    closing[:, halted] = False
    listed[:, halted] = started[:, halted]
    closing.setflags(write=False)
    listed.setflags(write=False)
    return replace(columns, closing=closing, listed=listed)


@dataclass(frozen=True)
class AtClose:
    """What a signal knows at the close of ``date``, before it is given a book: the data as the backtest aligned
    it (row ``row`` is that close), the forecasts made there, the rule ready to decide (:class:`Decider`, its
    ``first`` and ``was_active`` set as the backtest would have them) and the model's refit status.
    :meth:`decide` applies the rule to a book; ``qtrade paper`` fills the previous orders on ``data`` first."""

    folder: RunFolder
    date: pd.Timestamp
    as_of: pd.Timestamp
    data: BacktestData
    forecasts: pd.DataFrame
    decider: Decider
    row: int
    refit: RefitStatus

    @property
    def close(self) -> pd.Series:
        """The close of each ticker (carried where it did not trade), as the backtest marks the book."""
        return pd.Series(self.data.prices["close"][self.row], index=self.data.tickers)

    def decide(self, current: pd.Series, equity: float) -> Signal:
        """The decision and orders given the weights ``current`` held at this close on ``equity``."""
        weights = current.reindex(self.data.tickers).fillna(0.0).astype(float)
        target, closing = self.decider.decide(self.row, weights.to_numpy())
        orders = order_list(target, closing, weights.to_numpy(), equity, self.data, self.row, self.folder.execution)
        return Signal(
            self.folder,
            self.date,
            self.as_of,
            pd.Series(target, index=self.data.tickers, name="weight"),
            weights,
            equity,
            self.forecasts,
            orders,
            self.refit,
            pd.Series(closing, index=self.data.tickers, name="closing"),
        )


def at_close(
    run: str | os.PathLike[str] | RunFolder,
    panel: pd.DataFrame,
    *,
    as_of: pd.Timestamp | None = None,
    source: str = "data",
    first_origin: pd.Timestamp | None = None,
    checked: bool = False,
) -> AtClose:
    """Check ``panel`` (fresh as of ``as_of``, None: now; the run's history unchanged) and forecast and align its last
    close; see the module docstring.

    ``first_origin`` is the close of the book's first decision (None: the backtest's); ``checked`` skips both checks
    (for a caller that made them on data this panel is a beginning of). Stale data
    (:class:`live.errors.StaleData`) and a restated history (:class:`live.errors.RestatedHistory`) are refused
    before any forecast.
    """
    from live.sessions import as_of_time

    folder = run if isinstance(run, RunFolder) else read_run(run)
    moment = as_of_time(None) if as_of is None else as_of
    names = panel.index.get_level_values("ticker").astype(str)
    mine = panel[names.isin(folder.read)]
    if mine.empty:
        raise DataError(f"{source}: none of the run's tickers ({', '.join(folder.read[:5])}); give the run's market")
    last = pd.Timestamp(mine.index.get_level_values("date").max())
    if not checked:
        calendar = None if folder.calendar == "none" else folder.calendar
        check_fresh(last, calendar, moment)
        check_unchanged(mine, folder.history, source=source)
    begun = folder.first_origin if first_origin is None else pd.Timestamp(first_origin)
    ex = folder.execution
    mine = complete_rows(mine, last)
    since = _origins_from(mine, ex.rebalance)
    forecast, data = _forecast_and_align(folder, mine, last, since, source)
    mode = ex.execution_mode
    columns = rule_columns(data, 0, mode, ex.rebalance)
    row = len(data.dates) - 1
    first = last == begun
    # the rule's previous decision: its last rebalance day before this close, or the book's first decision
    before = [k for k in range(row) if data.dates[k] >= begun and (columns.rebalance[k] or data.dates[k] == begun)]
    if not first and before and data.dates[before[-1]] < since:  # its forecasts are needed too
        since = pd.Timestamp(data.dates[before[-1]])
        forecast, data = _forecast_and_align(folder, mine, last, since, source)
        columns = rule_columns(data, 0, mode, ex.rebalance)
    columns = halted_listed(columns, folder.max_gap)
    decider = Decider(
        folder.spec, folder.params, columns, short=ex.short, target_vol=ex.target_vol, max_gross=ex.max_gross
    )
    decider.first = first
    if not first:
        decider.was_active = decider.active(before[-1]) if before else None
    today = forecast[forecast["date"] == last].drop(columns=["split", "target"]).reset_index(drop=True)
    return AtClose(folder, last, moment, data, today, decider, row, refit_status(folder.model.parent, data.dates))


def make_signal(
    run: str | os.PathLike[str] | RunFolder,
    panel: pd.DataFrame,
    *,
    holdings: Holdings | None = None,
    as_of: pd.Timestamp | None = None,
    source: str = "data",
) -> Signal:
    """The decision and orders of backtest ``run`` at the last close of ``panel``; see the module docstring.

    ``holdings`` is the book held at that close (None: the book the backtest ended with); ``as_of`` the moment
    the data must be fresh at (None: now). Stale data (:class:`live.errors.StaleData`) and a restated history
    (:class:`live.errors.RestatedHistory`) are refused before any forecast.
    """
    now = at_close(run, panel, as_of=as_of, source=source)
    folder, close = now.folder, now.close
    book = Holdings.from_weights(folder.last_weights, folder.last_equity, close) if holdings is None else holdings
    current, equity = book.weights(close)
    return now.decide(current, equity)


def write_signal(signal: Signal, out: str | os.PathLike[str]) -> list[Path]:
    """Write ``targets.csv``/``.json``, ``orders.csv``/``.json``, ``forecasts.csv`` and ``signal.json`` into
    ``out``, each whole or not at all; return their paths."""
    return write_tables(
        out, {"targets": signal.targets, "orders": signal.orders}, signal.forecasts, signal.summary(), "signal.json"
    )


def write_tables(
    out: str | os.PathLike[str],
    tables: dict[str, pd.DataFrame],
    forecasts: pd.DataFrame,
    summary: dict[str, Any],
    summary_name: str,
) -> list[Path]:
    """Write each of ``tables`` as ``NAME.csv`` and ``NAME.json``, ``forecasts.csv`` and ``summary`` as
    ``summary_name`` into ``out`` (its previous outputs cleared), each whole or not at all; return their paths."""
    folder = check_out(out)
    clear_previous(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in tables.items():
        with atomic_path(folder / f"{name}.csv") as tmp:
            table.to_csv(tmp, index=False, float_format="%.17g", date_format="%Y-%m-%d")
        records = json.loads(table.to_json(orient="records", double_precision=15, date_format="iso"))
        write_text(folder / f"{name}.json", json.dumps(records, indent=2))
        written += [folder / f"{name}.csv", folder / f"{name}.json"]
    with atomic_path(folder / "forecasts.csv") as tmp:
        forecasts.to_csv(tmp, index=False, date_format="%Y-%m-%d", float_format="%.17g")
    write_text(folder / summary_name, json.dumps(summary, indent=2, default=str))
    return [*written, folder / "forecasts.csv", folder / summary_name]
