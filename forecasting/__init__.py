"""qtrade's forecasting layer, in subpackages named for what they own: ``market`` (data), ``preparation``
(execution targets, features, windows, splits), ``model`` (network, distributions, training, checkpoints),
``evaluation`` (scores and baselines), ``tuning``; ``pipeline`` runs ``qtrade forecast``.

The loaders are imported on first use, so that importing the exceptions (as every command does) stays cheap.
"""

from typing import Any

from forecasting.errors import CheckpointError, ConfigError, DataError, QtradeError

__all__ = ["CheckpointError", "ConfigError", "DataError", "QtradeError", "load_default", "load_market_data"]


def __getattr__(name: str) -> Any:
    if name in ("load_default", "load_market_data"):
        from forecasting.market import loaders

        return getattr(loaders, name)
    raise AttributeError(f"module 'forecasting' has no attribute {name!r}")
