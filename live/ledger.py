"""The paper-trading ledger's store: a database at a SQLAlchemy URL, SQLite by default and PostgreSQL for a team,
named as ``qtrade tune --storage`` names its study (``sqlite:///paper.db``, ``postgresql://user@host/db``).

One row per session in ``paper_days`` (the equity, cash and P&L parts of the day, what the day's return is
measured from, the model that forecast, the signal's summary) and, for that session, the book after its fills
(``paper_positions``), the rule's decision and the weights it was given (``paper_decisions``), the orders left for
the next session (``paper_orders``), the fills (``paper_fills``, a backtest's ``trades.csv`` columns), the
forecasts (``paper_forecasts``) and a hash of each data row read there (``paper_rows``). ``paper_meta`` says which
backtest the ledger trades and from when, with what cash.

A session is recorded in one transaction, with its date as ``paper_days``' primary key: a crash before the commit
leaves nothing of it, and a session recorded twice (the same evening run again, or two runs at once) is refused by
the database, not written twice.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecasting.errors import ConfigError, DataError
from live.ledger_schema import tables

__all__ = ["DayRecord", "Ledger", "LedgerState", "default_url"]

_ISO = "%Y-%m-%d"


def default_url(path: str) -> str:
    """A SQLite file's URL.

    >>> default_url("runs/paper.db").startswith("sqlite:///") and default_url("runs/paper.db").endswith("paper.db")
    True
    """
    return f"sqlite:///{Path(path).resolve()}"


@dataclass(frozen=True)
class LedgerState:
    """The ledger after its last session: the date, the book (shares by ticker, cash), the equity the next
    return is measured from, costs carried into it, the decision (NaN: keep) and which tickers it closes, and the
    orders pending for the next open."""

    date: pd.Timestamp
    shares: pd.Series
    cash: float
    base: float
    carried: float
    decision: pd.Series
    closing: pd.Series
    pending: pd.DataFrame


@dataclass
class DayRecord:
    """What one session adds to the ledger (see the module docstring)."""

    date: pd.Timestamp
    equity: float
    cash: float
    base: float
    net: float | None
    fill_costs: float
    holding: float
    interest: float
    rf: float
    carried: float
    costs: float | None
    model: str
    summary: dict[str, Any]
    shares: pd.Series
    decision: pd.Series
    current: pd.Series
    closing: pd.Series
    orders: pd.DataFrame
    pending: pd.DataFrame
    fills: pd.DataFrame
    forecasts: pd.DataFrame
    rows: pd.DataFrame = field(default_factory=pd.DataFrame)  # by ticker: hash, open, high, low, close, volume


class Ledger:
    """A ledger at ``url``; :meth:`create` makes its tables when they are missing."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.exc import ArgumentError

        from forecasting.tuning.study import shown_url

        self.url = url
        self.shown = shown_url(url)
        self.md, self.t = tables()
        try:
            args = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
            self.engine = create_engine(url, **args)
        except (ArgumentError, ValueError):
            raise ConfigError(
                f"--ledger {self.shown}: not a database URL; give sqlite:///FILE.db or postgresql://USER@HOST/DB"
            ) from None
        except Exception as exc:  # a driver that is not installed, say
            raise self._cannot(exc) from None

    def _cannot(self, exc: Exception) -> ConfigError:
        first = str(exc).splitlines()[0][:120] if str(exc) else ""
        return ConfigError(
            f"--ledger {self.shown}: cannot open ({type(exc).__name__}: {first}); check the URL, the server and "
            "its driver (pip install qtrade[postgres] for PostgreSQL)"
        )

    def create(self) -> None:
        """Make the ledger's tables where they are missing (nothing is made before a run's checks pass)."""
        try:
            self._create()
        except Exception as exc:  # any database failure is one user-facing line
            raise self._cannot(exc) from None

    def _create(self, attempts: int = 5) -> None:
        """Make the tables; runs started together race to, and the losers retry."""
        from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

        for k in range(attempts):
            try:
                self.md.create_all(self.engine)
                return
            except (IntegrityError, OperationalError, ProgrammingError):
                if k == attempts - 1:
                    raise
                time.sleep(0.2 * (k + 1))

    # reading

    def meta(self) -> dict[str, Any] | None:
        """What the ledger trades (``run``, ``strategy``, ``start``, ``cash``, ...); None for a new ledger."""
        from sqlalchemy import select

        with self.engine.connect() as conn:
            rows = conn.execute(select(self.t["meta"])).all()
        return {k: json.loads(v) for k, v in rows} if rows else None

    def days(self) -> pd.DataFrame:
        """Every recorded session, by date."""
        frame = self._frame("days")
        frame["date"] = pd.to_datetime(frame["date"])
        return frame.set_index("date").sort_index()

    def table(self, name: str) -> pd.DataFrame:
        """A whole table (``fills``, ``positions``, ``decisions``, ``orders``, ...) with its dates parsed."""
        frame = self._frame(name)
        frame["date"] = pd.to_datetime(frame["date"])
        return frame.sort_values([c for c in ("date", "seq", "ticker") if c in frame.columns], ignore_index=True)

    def forecasts(self) -> pd.DataFrame:
        """Every session's forecasts, as ``qtrade signal`` wrote them."""
        import io

        frame = self._frame("forecasts")
        parts = [pd.read_csv(io.StringIO(text), dtype={"ticker": str}, parse_dates=["date"]) for text in frame["csv"]]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    def hashes(self) -> pd.DataFrame:
        """The hash of each data row the ledger read (date, ticker, hash)."""
        frame = self.prices()
        return frame[["date", "ticker", "hash"]]

    def prices(self) -> pd.DataFrame:
        """Each data row the ledger read: date, ticker, hash, open, high, low, close, volume."""
        frame = self._frame("rows")
        frame["date"] = pd.to_datetime(frame["date"])
        frame["hash"] = frame["hash"].astype("uint64")
        return frame

    def _frame(self, name: str) -> pd.DataFrame:
        from sqlalchemy import select

        table = self.t[name]
        with self.engine.connect() as conn:
            rows = conn.execute(select(table)).all()
        return pd.DataFrame(rows, columns=[c.name for c in table.columns])

    def state(self) -> LedgerState | None:
        """The ledger after its last session; None when it has none."""
        from sqlalchemy import func, select

        t = self.t
        with self.engine.connect() as conn:
            last = conn.execute(select(func.max(t["days"].c.date))).scalar()
            if last is None:
                return None
            day = conn.execute(select(t["days"]).where(t["days"].c.date == last)).one()._mapping
            pos = conn.execute(select(t["positions"]).where(t["positions"].c.date == last)).all()
            dec = conn.execute(select(t["decisions"]).where(t["decisions"].c.date == last)).all()
            pend = conn.execute(
                select(t["pending"]).where(t["pending"].c.date == last).order_by(t["pending"].c.seq)
            ).all()
        decisions = pd.DataFrame(dec, columns=[c.name for c in t["decisions"].columns]).set_index("ticker")
        return LedgerState(
            pd.Timestamp(last),
            pd.Series({r.ticker: float(r.shares) for r in pos}, dtype=float),
            float(day["cash"]),
            float(day["base"]),
            float(day["carried"]),
            pd.to_numeric(decisions["weight"], errors="coerce").astype(float),
            decisions["closing"].astype(bool),
            pd.DataFrame(pend, columns=[c.name for c in t["pending"].columns]),
        )

    def summary(self, date: pd.Timestamp) -> dict[str, Any]:
        """The signal summary recorded for the session of ``date``."""
        from sqlalchemy import select

        days = self.t["days"]
        with self.engine.connect() as conn:
            text = conn.execute(select(days.c.summary).where(days.c.date == f"{date:{_ISO}}")).scalar()
        if text is None:
            raise DataError(f"--ledger {self.shown}: no session on {date:{_ISO}}")
        value: dict[str, Any] = json.loads(text)
        return value

    # writing

    def exists(self) -> bool:
        """Whether the ledger has its tables (a SQLite file that does not exist is not made by asking); a ledger
        whose tables lack a column of this version's is refused in one line."""
        from sqlalchemy import inspect

        if self.engine.url.get_backend_name() == "sqlite":
            name = self.engine.url.database
            if not name or name == ":memory:" or not Path(name).is_file():
                return False
        try:
            found = inspect(self.engine)
            if not found.has_table("paper_days"):
                return False
            lacking = [
                f"{table.name}.{column.name}"
                for table in self.t.values()
                if found.has_table(table.name)
                for column in table.columns
                if column.name not in {c["name"] for c in found.get_columns(table.name)}
            ]
        except Exception as exc:  # any database failure is one user-facing line
            raise self._cannot(exc) from None
        if lacking:
            raise ConfigError(
                f"--ledger {self.shown} was made by an earlier qtrade (no {', '.join(lacking[:3])}); "
                "begin a new ledger (another --ledger) with this version"
            )
        return True

    def record(self, day: DayRecord, after: pd.Timestamp | None, *, meta: dict[str, Any] | None = None) -> bool:
        """Record ``day`` in one transaction, provided the ledger's last session is still ``after`` (None: none),
        with ``meta`` for a new ledger's first session; False when the session was recorded already (by this run
        before, or by another), or another run began the ledger meanwhile."""
        from sqlalchemy import func, select
        from sqlalchemy.exc import IntegrityError

        t = self.t
        iso = f"{day.date:{_ISO}}"
        try:
            with self.engine.begin() as conn:
                if meta is not None:  # first: the ledger's claim
                    conn.execute(t["meta"].insert(), [{"key": k, "value": json.dumps(v)} for k, v in meta.items()])
                conn.execute(t["days"].insert(), [_day_row(day, iso)])  # then the session's
                last = conn.execute(select(func.max(t["days"].c.date)).where(t["days"].c.date < iso)).scalar()
                if (None if last is None else pd.Timestamp(last)) != after:
                    raise _Moved
                self._insert_rows(conn, day, iso)
        except (IntegrityError, _Moved):
            return False
        return True

    def _insert_rows(self, conn: Any, day: DayRecord, iso: str) -> None:
        t = self.t
        held = day.shares[day.shares != 0.0]
        inserts = {
            "positions": [{"date": iso, "ticker": k, "shares": float(v)} for k, v in held.items()],
            "decisions": [
                {
                    "date": iso,
                    "ticker": k,
                    "weight": None if np.isnan(v) else float(v),
                    "current": float(day.current[k]),
                    "closing": bool(day.closing[k]),
                }
                for k, v in day.decision.items()
            ],
            "orders": [{"date": iso, "seq": k, **_plain(r)} for k, r in enumerate(day.orders.to_dict("records"))],
            "pending": [{"date": iso, "seq": k, **_plain(r)} for k, r in enumerate(day.pending.to_dict("records"))],
            "fills": [
                {"date": iso, "seq": k, **_plain({c: v for c, v in r.items() if c != "date"})}
                for k, r in enumerate(day.fills.to_dict("records"))
            ],
            "forecasts": [
                {"date": iso, "csv": day.forecasts.to_csv(index=False, date_format=_ISO, float_format="%.17g")}
            ],
            "rows": [
                {"date": iso, "ticker": str(k), **_plain({**r, "hash": str(int(r["hash"]))})}
                for k, r in day.rows.to_dict("index").items()
            ],
        }
        for name, rows in inserts.items():
            if rows:
                conn.execute(t[name].insert(), rows)


class _Moved(Exception):
    """Another run recorded a session between this run's read of the ledger and its write."""


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    """Numpy scalars as Python's (the drivers take those); NaN as NULL."""
    out: dict[str, Any] = {}
    for k, v in record.items():
        if isinstance(v, (np.floating, float)):
            out[k] = None if np.isnan(v) else float(v)
        elif isinstance(v, np.bool_):
            out[k] = bool(v)
        elif isinstance(v, np.integer):
            out[k] = int(v)
        else:
            out[k] = v
    return out


def _day_row(day: DayRecord, iso: str) -> dict[str, Any]:
    from datetime import UTC, datetime

    return {
        "date": iso,
        "equity": day.equity,
        "cash": day.cash,
        "base": day.base,
        "net": day.net,
        "fill_costs": day.fill_costs,
        "holding": day.holding,
        "interest": day.interest,
        "rf": day.rf,
        "carried": day.carried,
        "costs": day.costs,
        "model": day.model,
        "summary": json.dumps(day.summary, default=str),
        "recorded": datetime.now(UTC).isoformat(timespec="seconds"),
    }
