"""The paper ledger's tables (SQLAlchemy Core, portable between SQLite and PostgreSQL): dates as ``YYYY-MM-DD``
text, amounts as double precision, a NULL weight for a position kept. :mod:`live.ledger` reads and writes them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["tables"]


def tables() -> tuple[Any, dict[str, Any]]:
    """The ledger's SQLAlchemy ``MetaData`` and its tables by short name (``days``, ``positions``, ...)."""
    from sqlalchemy import Boolean, Column, Double, Integer, MetaData, String, Table, Text

    md = MetaData()

    def day() -> Any:
        return Column("date", String(10), primary_key=True)

    t = {
        "meta": Table("paper_meta", md, Column("key", String(64), primary_key=True), Column("value", Text)),
        "days": Table(
            "paper_days",
            md,
            day(),
            Column("equity", Double, nullable=False),
            Column("cash", Double, nullable=False),
            Column("base", Double, nullable=False),  # the equity the next session's return is measured from
            Column("net", Double),  # NULL on the first session: its return lands in the next, as a backtest's
            Column("fill_costs", Double, nullable=False),
            Column("holding", Double, nullable=False),
            Column("interest", Double, nullable=False),
            Column("rf", Double, nullable=False),  # the annual risk-free rate of the session's day
            Column("carried", Double, nullable=False),  # costs of the first session, counted in the next's
            Column("costs", Double),  # share of the base: fills, borrow and financing of the day (and carried)
            Column("model", Text),
            Column("summary", Text),
            Column("recorded", String(40)),
        ),
        "positions": Table(
            "paper_positions",
            md,
            day(),
            Column("ticker", String(64), primary_key=True),
            Column("shares", Double, nullable=False),
        ),
        "decisions": Table(
            "paper_decisions",
            md,
            day(),
            Column("ticker", String(64), primary_key=True),
            Column("weight", Double),  # NULL: keep
            Column("current", Double, nullable=False),
            Column("closing", Boolean, nullable=False),
        ),
        "orders": Table(
            "paper_orders",
            md,
            day(),
            Column("seq", Integer, primary_key=True, autoincrement=False),
            Column("ticker", String(64), nullable=False),
            Column("side", String(8), nullable=False),
            Column("shares", Double, nullable=False),
            Column("order_type", String(20), nullable=False),
            Column("share_limit", Double),
            Column("price", Double, nullable=False),
            Column("value", Double, nullable=False),
        ),
        "pending": Table(  # the engine's orders to fill at the next open (next-open), shares fixed at this close
            "paper_pending",
            md,
            day(),
            Column("seq", Integer, primary_key=True, autoincrement=False),
            Column("ticker", String(64), nullable=False),
            Column("shares", Double, nullable=False),
            Column("close_all", Boolean, nullable=False),
            Column("delisting", Boolean, nullable=False),
        ),
        "fills": Table(
            "paper_fills",
            md,
            day(),
            Column("seq", Integer, primary_key=True, autoincrement=False),
            Column("ticker", String(64), nullable=False),
            Column("side", String(8), nullable=False),
            *(
                Column(c, Double, nullable=False)
                for c in ("requested", "size", "price", "value", "commission", "spread", "impact", "delisting")
            ),
        ),
        "forecasts": Table("paper_forecasts", md, day(), Column("csv", Text, nullable=False)),
        "rows": Table(  # the data rows read at the session: their hash, and the prices a report's benchmark needs
            "paper_rows",
            md,
            day(),
            Column("ticker", String(64), primary_key=True),
            Column("hash", String(20), nullable=False),
            *(Column(c, Double) for c in ("open", "high", "low", "close", "volume")),
        ),
    }
    return md, t
