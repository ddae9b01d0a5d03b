"""From a finished backtest to the next session's orders: ``qtrade signal``.

It sits above :mod:`backtests` (it reuses the engine's alignment, rule application and order sizing) and the
forecaster's saved model, below the command line; ``forecasting``, ``strategies`` and ``backtests`` know nothing
of it.
"""

from live.errors import RestatedHistory, StaleData
from live.holdings import Holdings, read_holdings
from live.refit import RefitStatus, refit_status
from live.run_folder import RunFolder, read_run
from live.signal import Signal, make_signal, write_signal

__all__ = [
    "Holdings",
    "RefitStatus",
    "RestatedHistory",
    "RunFolder",
    "Signal",
    "StaleData",
    "make_signal",
    "read_holdings",
    "read_run",
    "refit_status",
    "write_signal",
]
