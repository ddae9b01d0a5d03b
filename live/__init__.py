"""From a finished backtest to the next session's orders (``qtrade signal``) and a paper-trading ledger that
keeps its book (``qtrade paper``).

It sits above :mod:`backtests` (it reuses the engine's alignment, rule application and order sizing) and the
forecaster's saved model, below the command line; ``forecasting``, ``strategies`` and ``backtests`` know nothing
of it.
"""

from live.errors import RestatedHistory, StaleData
from live.holdings import Holdings, read_holdings
from live.ledger import Ledger, default_url
from live.paper import PaperDay, write_day
from live.paper import paper as paper_sessions
from live.refit import RefitStatus, refit_status
from live.run_folder import RunFolder, read_run
from live.signal import Signal, make_signal, write_signal

__all__ = [
    "Holdings",
    "Ledger",
    "PaperDay",
    "RefitStatus",
    "RestatedHistory",
    "RunFolder",
    "Signal",
    "StaleData",
    "default_url",
    "make_signal",
    "paper_sessions",
    "read_holdings",
    "read_run",
    "refit_status",
    "write_day",
    "write_signal",
]
