"""``qtrade paper``: a paper-trading ledger that keeps a backtest's book one session at a time.

Each evening after the close it is given the latest data. For every session the ledger has not recorded, up to
the data's last (a missed evening is caught up, each session on the data up to it alone), it does what the
backtest's engine does at that bar, in the engine's order:

1. the positions held at the previous close pay the day's borrow and financing and earn or pay the day's
   risk-free interest (:func:`live.fills.holding_charge`);
2. ``next-open``: the orders left at the previous close fill at this open (:func:`live.fills.fill`);
3. the book is marked at this close, and the rule decides on it (:class:`live.signal.AtClose`): ``same-close``
   fills the decision at this close; ``next-close`` first sends the previous close's decision, which fills at
   this close, and the rule decides on the weights those orders lead to (as the engine's strategy does);
   ``next-open`` leaves its orders for the next open;
4. the session is recorded (:class:`live.ledger.Ledger`) in one transaction: fills, book, decision, orders,
   forecasts, the day's P&L and its return, measured from the previous session's equity (the first session's
   costs land in the second's return, as a backtest's first close's do).

A new ledger starts with the run's cash on the first session it is given, and its first decision is a first
decision (a buy-and-hold buys). The fills, costs and returns are the engine's (``tests/test_paper.py`` replays a
backtest's period day by day and finds them to 1e-9).

What a ledger cannot know that a backtest does, and what it does instead:

- whether a ticker without a real price today trades again. For up to ``max_gap`` sessions (the gap the
  backtest's cleaning bridges) it is a halt: listed, kept, not traded (:func:`live.signal.halted_listed`), as the
  backtest decides on a bridged gap; a row lacking a value it printed before (an open not yet in the file) is no
  real price either (:func:`live.signal.complete_rows`). After that it is delisted: the ledger settles the
  position at its last real price times ``1 + delisting_return`` with the fill's costs, ``max_gap`` + 1 sessions
  after the backtest would have (which closes it at that price), having paid holding costs meanwhile;
- that the period ends: the backtest sends nothing at its last close.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backtests.risk_free import RiskFree, parse_rf
from forecasting.errors import ConfigError, DataError
from forecasting.manifest import row_hashes
from forecasting.outputs import read_record
from live.fills import FILL_COLUMNS, Book, Order, fill, holding_charge, orders_from, session_terms
from live.history import check_unchanged
from live.ledger import DayRecord, Ledger, LedgerState
from live.orders import order_list
from live.run_folder import RunFolder, read_run
from live.sessions import as_of_time, check_fresh
from live.signal import Signal, at_close, sessions_without_price

__all__ = ["PaperDay", "paper", "run_risk_free"]


@dataclass(frozen=True)
class PaperDay:
    """One session the ledger recorded (or found recorded): its record, and the signal made there (None when it
    was recorded before)."""

    date: pd.Timestamp
    record: DayRecord | None
    signal: Signal | None
    new: bool


def run_risk_free(folder: RunFolder, rf: str | None) -> RiskFree:
    """The run's risk-free rate (``--rf``): ``rf`` when given, else the number the run recorded; a run made with a
    series of rates needs the series again, through the latest close."""
    manifest = read_record(folder.folder / "manifest.json", "give a finished qtrade backtest's folder")
    recorded = str(manifest.get("config", {}).get("execution", {}).get("rf", "0"))
    if rf is not None:
        return parse_rf(rf)
    try:
        return RiskFree(float(recorded))
    except ValueError:
        raise ConfigError(
            f"the run's --rf was a series ({recorded}); give --rf FILE, the series through the latest close"
        ) from None


def _meta(folder: RunFolder, start: pd.Timestamp, rf: RiskFree) -> dict[str, Any]:
    from forecasting.manifest import qtrade_version

    return {
        "run": str(folder.folder.resolve()),
        "strategy": folder.strategy,
        "execution": folder.execution.mode,
        "start": f"{start:%Y-%m-%d}",
        "cash": folder.execution.cash,
        "tickers": folder.tickers,
        "rf": str(rf),
        "qtrade_version": qtrade_version(),
    }


def _check_meta(meta: dict[str, Any], folder: RunFolder, ledger: Ledger) -> None:
    if Path(str(meta.get("run"))) != folder.folder.resolve() or meta.get("strategy") != folder.strategy:
        raise ConfigError(
            f"--ledger {ledger.shown} trades {meta.get('strategy')} of {meta.get('run')}, not {folder.strategy} of "
            f"{folder.folder.resolve()}; give that run, or a new ledger"
        )


def paper(
    run: str | os.PathLike[str] | RunFolder,
    panel: pd.DataFrame,
    ledger: Ledger | str,
    *,
    as_of: pd.Timestamp | None = None,
    rf: str | None = None,
    source: str = "data",
    on_day: Any = None,
) -> list[PaperDay]:
    """Record in ``ledger`` every session of ``panel`` it has not recorded (the last one alone for a new ledger);
    see the module docstring. ``on_day(PaperDay)`` hears of each session as it is recorded.

    The data must be fresh as of ``as_of`` (None: now) and hold the backtest's history and every row the
    ledger read before unchanged; otherwise nothing is recorded (:class:`live.errors.StaleData`,
    :class:`live.errors.RestatedHistory`).
    """
    folder = run if isinstance(run, RunFolder) else read_run(run)
    book = ledger if isinstance(ledger, Ledger) else Ledger(ledger)
    moment = as_of_time(None) if as_of is None else as_of
    mine = panel[panel.index.get_level_values("ticker").astype(str).isin(folder.read)]
    if mine.empty:
        raise DataError(f"{source}: none of the run's tickers ({', '.join(folder.read[:5])}); give the run's market")
    dates = pd.DatetimeIndex(mine.index.unique("date")).sort_values()
    last = pd.Timestamp(dates[-1])
    check_fresh(last, None if folder.calendar == "none" else folder.calendar, moment)
    check_unchanged(mine, folder.history, source=source)
    exists = book.exists()
    meta = book.meta() if exists else None
    if meta is None:  # a new ledger: what it trades is recorded with its first session, in one transaction
        rate = run_risk_free(folder, rf)
        meta = _meta(folder, last, rate)
    else:
        _check_meta(meta, folder, book)
        rate = _ledger_rate(meta, rf, book)
        read = book.hashes()
        if len(read):  # the rows the ledger read, since its first session
            on = mine.index.get_level_values("date")
            check_unchanged(mine[(on >= read["date"].min()) & (on <= read["date"].max())], read, source=source)
    start = pd.Timestamp(meta["start"])
    state = book.state() if exists else None
    out: list[PaperDay] = []
    for day in [pd.Timestamp(d) for d in dates if d >= start]:
        if state is not None and day <= state.date:
            continue  # recorded already (by this run, an earlier one, or another at the same time)
        truncated = mine[mine.index.get_level_values("date") <= day]
        record, signal = session(folder, truncated, state, start, rate, moment, source)
        if state is None:
            book.create()
        new = book.record(record, None if state is None else state.date, meta=meta if state is None else None)
        done = PaperDay(day, record, signal, new)
        out.append(done)
        if on_day is not None:
            on_day(done)
        state = book.state()  # what was recorded: this run's session, or another run's
        if state is None or state.date < day:
            raise DataError(f"--ledger {book.shown}: the session of {day:%Y-%m-%d} could not be recorded; run again")
    if not out:  # recorded already: the same evening run again
        out.append(PaperDay(last, None, None, False))
    return out


def _ledger_rate(meta: dict[str, Any], rf: str | None, ledger: Ledger) -> RiskFree:
    """The risk-free rate the ledger trades with: the one it was begun with (a number), or ``--rf`` when it names
    the same (a series through the latest close must be given every evening)."""
    recorded = str(meta.get("rf", "0"))
    try:
        fixed = float(recorded)
    except ValueError:
        fixed = None
    if rf is None:
        if fixed is None:
            raise ConfigError(
                f"--ledger {ledger.shown} trades with the --rf series {recorded}; give --rf FILE, through the "
                "latest close"
            )
        return RiskFree(fixed)
    given = parse_rf(rf)
    if (fixed is not None and (given.series is not None or given.rate != fixed)) or (
        fixed is None and str(given) != recorded
    ):
        raise ConfigError(f"--rf {rf}: --ledger {ledger.shown} trades with --rf {recorded}; give that, or a new ledger")
    return given


def session(
    folder: RunFolder,
    truncated: pd.DataFrame,
    state: LedgerState | None,
    start: pd.Timestamp,
    rf: RiskFree,
    moment: pd.Timestamp,
    source: str,
) -> tuple[DayRecord, Signal]:
    """The record of the last session of ``truncated`` given the ledger's ``state`` after the session before."""
    ex = folder.execution
    mode = ex.execution_mode
    now = at_close(folder, truncated, as_of=moment, source=source, first_origin=start, checked=True)
    data, row = now.data, now.row
    tickers = data.tickers
    close = data.prices["close"]
    if state is None:
        book = Book(np.zeros(len(tickers)), float(ex.cash))
    else:
        if row < 1 or data.dates[row - 1] != state.date:
            raise DataError(
                f"{source}: the ledger's last session {state.date:%Y-%m-%d} is not the one before "
                f"{now.date:%Y-%m-%d} in the data; give data that holds every session since"
            )
        book = Book(np.array(state.shares.reindex(tickers).fillna(0.0), dtype=float), state.cash)
    holding = interest = annual = 0.0
    if state is not None:  # the day from the previous close: the rate in force there
        annual = 0.0 if rf.is_zero else float(rf.annual(pd.DatetimeIndex([state.date]))[0])
        holding, interest = holding_charge(book, close[row - 1], ex.costs, annual)
    terms = session_terms(data, row, ex)
    fills: list[dict[str, Any]] = []

    def execute(orders: list[Order]) -> None:
        for order in orders:
            done = fill(book, order, terms, ex, tickers[order.column])
            if done is not None:
                fills.append(done)

    gone = (sessions_without_price(data.tradable[: row + 1]) > folder.max_gap) & (book.shares != 0.0)
    if gone.any():  # no real price for longer than a gap is bridged: settled at its last, as the backtest closes it
        settle = replace(terms, price=np.asarray(close[row], dtype=float), real=np.ones(len(tickers), dtype=bool))
        for j in np.flatnonzero(gone):
            done = fill(book, Order(int(j), 0.0, close_all=True, delisting=True), settle, ex, tickers[j])
            if done is not None:
                fills.append(done)
    if mode.name == "next-open" and state is not None:
        execute(
            [
                Order(tickers.index(str(p.ticker)), float(p.shares), bool(p.close_all), bool(p.delisting))
                for p in state.pending.itertuples()
            ]
        )
    mark = book.value(close[row])
    current = book.shares * close[row] / mark if mark > 0 else np.zeros(len(tickers))
    pending: list[Order] = []
    if mode.name == "next-close":
        sent: list[Order] = []
        if state is not None:
            target = state.decision.reindex(tickers).to_numpy(dtype=float)
            closing = state.closing.reindex(tickers).fillna(False).to_numpy(dtype=bool)
            sent = orders_from(target, closing, current, mark, close[row], data.tradable[row], ex.band)
            for o in sent:  # the weights the orders lead to: what the engine's rule decides on
                current[o.column] = target[o.column]
        signal = now.decide(pd.Series(current, index=tickers), mark)
        execute(sent)
        after = book.value(close[row])  # tomorrow's orders, from the book the fills (capped or not) left
        held = book.shares * close[row] / after if after > 0 else np.zeros(len(tickers))
        orders = order_list(signal.decision.to_numpy(dtype=float), _closing(signal), held, after, data, row, ex)
        signal = replace(signal, orders=orders)
    else:
        signal = now.decide(pd.Series(current, index=tickers), mark)
        decided = orders_from(
            signal.decision.to_numpy(dtype=float),
            _closing(signal),
            current,
            mark,
            close[row],
            data.tradable[row] if mode.name == "same-close" else np.ones(len(tickers), dtype=bool),
            ex.band,
        )
        if mode.name == "same-close":
            execute(decided)
        else:
            pending = decided
    equity = book.value(close[row])
    fill_costs = float(sum(f["commission"] + f["spread"] + f["impact"] for f in fills))
    if state is None:  # the first session: its costs land in the next session's return, measured from the cash
        net, costs, base, carried = None, None, mark, fill_costs + holding
    else:
        net = equity / state.base - 1.0
        costs = (fill_costs + holding + state.carried) / state.base
        base, carried = equity, 0.0
    today = truncated[truncated.index.get_level_values("date") == now.date]
    record = DayRecord(
        date=now.date,
        equity=equity,
        cash=book.cash,
        base=base,
        net=net,
        fill_costs=fill_costs,
        holding=holding,
        interest=interest,
        rf=annual,
        carried=carried,
        costs=costs,
        model=str(folder.model_for(now.date)),
        summary=signal.summary(),
        shares=pd.Series(book.shares, index=tickers),
        decision=signal.decision,
        current=signal.current,
        closing=pd.Series(_closing(signal), index=tickers),
        orders=signal.orders,
        pending=pd.DataFrame(
            [
                {"ticker": tickers[o.column], "shares": o.shares, "close_all": o.close_all, "delisting": o.delisting}
                for o in pending
            ],
            columns=["ticker", "shares", "close_all", "delisting"],
        ),
        fills=pd.DataFrame(fills, columns=FILL_COLUMNS),
        forecasts=signal.forecasts,
        rows=_rows(today),
    )
    return record, signal


def _rows(today: pd.DataFrame) -> pd.DataFrame:
    """The session's data rows by ticker: their hash (:func:`forecasting.manifest.row_hashes`) and prices."""
    columns = [c for c in ("open", "high", "low", "close", "volume") if c in today.columns]
    rows = today[columns].astype(float).assign(hash=row_hashes(today)).droplevel("date")
    rows.index = rows.index.astype(str)
    return rows


def _closing(signal: Signal) -> np.ndarray:
    if signal.closing is None:
        return np.zeros(len(signal.decision), dtype=bool)
    return signal.closing.to_numpy(dtype=bool)


def day_tables(ledger: Ledger, date: pd.Timestamp) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, dict[str, Any]]:
    """The session of ``date`` as the ledger recorded it: its targets, orders and fills, its forecasts and its
    summary (the signal's, with the day's P&L)."""
    decisions = ledger.table("decisions")
    decisions = decisions[decisions["date"] == date]
    decided = decisions["weight"].notna()
    targets = pd.DataFrame(
        {
            "ticker": decisions["ticker"].to_numpy(),
            "weight": np.where(decided, decisions["weight"], decisions["current"]),
            "current": decisions["current"].to_numpy(dtype=float),
            "decided": decided.to_numpy(),
        }
    )
    orders = ledger.table("orders")
    orders = orders[orders["date"] == date].drop(columns=["date", "seq"]).reset_index(drop=True)
    fills = ledger.table("fills")
    fills = fills[fills["date"] == date].drop(columns=["seq"]).reset_index(drop=True)
    forecasts = ledger.forecasts()
    forecasts = forecasts[forecasts["date"] == date].reset_index(drop=True) if len(forecasts) else forecasts
    day = ledger.days().loc[date]
    summary = {
        **ledger.summary(date),
        "ledger": ledger.shown,
        "session": {
            "equity": float(day["equity"]),
            "cash": float(day["cash"]),
            "return": None if pd.isna(day["net"]) else float(day["net"]),
            "fill_costs": float(day["fill_costs"]),
            "holding_costs": float(day["holding"]),
            "interest_paid": float(day["interest"]),
            "fills": len(fills),
        },
    }
    return {"targets": targets, "orders": orders, "fills": fills}, forecasts, summary


def write_day(ledger: Ledger, date: pd.Timestamp, out: str | os.PathLike[str]) -> list[Path]:
    """Write the session of ``date`` from the ledger into ``out``: ``targets``, ``orders`` (the next session's)
    and ``fills`` (this one's) as CSV and JSON, ``forecasts.csv`` and ``paper.json``; each file whole or not at
    all. Written from what the ledger recorded, so that a run that died after its commit writes the same files
    when it is run again."""
    from live.signal import write_tables

    tables, forecasts, summary = day_tables(ledger, date)
    return write_tables(out, tables, forecasts, summary, "paper.json")
