"""qtrade's forecasting layer: market data, features, windows and the LSTM-MLE forecaster."""

from forecasting.errors import CheckpointError, ConfigError, DataError, QtradeError
from forecasting.loaders import load_default, load_market_data

__all__ = ["CheckpointError", "ConfigError", "DataError", "QtradeError", "load_default", "load_market_data"]
