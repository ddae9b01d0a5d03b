"""Has the history changed? The rows of the new data that the backtest run also read must be the rows it read.

A backtest folder keeps a hash of each (date, ticker) row of its data (``history.parquet``,
:func:`forecasting.manifest.history_table`: the low 32 bits of :func:`~forecasting.manifest.row_hashes`; the
full 64 bits in folders made before, and in a paper ledger). Up to the earlier of the run's last date and the new
data's, every recorded row must be in the new data with the same open, high, low, close and volume, and the new
data may hold no row there that the run did not read: otherwise the model and the rule would see another past than
the one the backtest judged (an unadjusted split, a corrected print, a ticker dropped or added late).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.manifest import row_hashes
from live.errors import RestatedHistory

__all__ = ["check_unchanged", "restated"]


def restated(panel: pd.DataFrame, recorded: pd.DataFrame) -> pd.Series:
    """The first restated date of each ticker whose history differs from ``recorded`` (columns date, ticker,
    hash), by ticker; empty when none differs. Only the recorded tickers are compared.

    Examples
    --------
    >>> from forecasting.market.synthetic import synthetic_panel
    >>> old = synthetic_panel(2, 6)
    >>> recorded = row_hashes(old).reset_index()
    >>> new = old.copy()
    >>> new.loc[(pd.Timestamp("2017-01-09"), "T0001"), "close"] *= 2  # a split left unadjusted
    >>> restated(new, recorded).to_dict()
    {'T0001': Timestamp('2017-01-09 00:00:00')}
    """
    recorded = recorded.assign(date=pd.to_datetime(recorded["date"]), ticker=recorded["ticker"].astype(str))
    tickers = set(recorded["ticker"].unique())
    dates = panel.index.get_level_values("date")
    through = min(pd.Timestamp(recorded["date"].max()), pd.Timestamp(dates.max()) if len(dates) else pd.NaT)
    mine = panel[panel.index.get_level_values("ticker").astype(str).isin(tickers) & (dates <= through)]
    now = row_hashes(mine).reset_index()
    now["ticker"] = now["ticker"].astype(str)
    if recorded["hash"].dtype == np.uint32:  # history_table's 32 bits
        now["hash"] = (now["hash"].to_numpy(dtype=np.uint64) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    then = recorded[recorded["date"] <= through]
    both = then.merge(now, on=["date", "ticker"], how="outer", suffixes=("_then", "_now"), indicator=True)
    differ = both[(both["_merge"] != "both") | (both["hash_then"] != both["hash_now"])]
    return differ.groupby("ticker")["date"].min().sort_index()


def check_unchanged(panel: pd.DataFrame, recorded: pd.DataFrame, *, source: str = "data") -> None:
    """Refuse ``panel`` when it restates the history ``recorded``, naming the tickers and their first dates.

    Raises
    ------
    RestatedHistory
        One line: the tickers (up to eight) and the first date restated of each.
    """
    found = restated(panel, recorded)
    if found.empty:
        return
    named = ", ".join(f"{t} from {d:%Y-%m-%d}" for t, d in list(found.items())[:8])
    more = f" and {len(found) - 8} more" if len(found) > 8 else ""
    raise RestatedHistory(
        f"{source} restates the history the backtest was made on: {named}{more} (prices, volumes or rows differ); "
        "give data adjusted as the backtest's was, or run qtrade backtest again on the restated data"
    )
