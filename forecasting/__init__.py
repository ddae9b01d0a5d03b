"""qtrade's forecasting layer: market data, features, windows and the LSTM-MLE forecaster.

The loaders are imported on first use, so that importing the exceptions (as every command does) stays cheap.
"""

from typing import Any

from forecasting.errors import CheckpointError, ConfigError, DataError, QtradeError

__all__ = ["CheckpointError", "ConfigError", "DataError", "QtradeError", "load_default", "load_market_data"]


def __getattr__(name: str) -> Any:
    if name in ("load_default", "load_market_data"):
        from forecasting import loaders

        return getattr(loaders, name)
    raise AttributeError(f"module 'forecasting' has no attribute {name!r}")
