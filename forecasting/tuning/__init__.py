"""Optuna studies of the forecaster's settings.

The names of :mod:`forecasting.tuning.search` are importable from here too (loaded on first use).
"""

from typing import Any

__all__ = [
    "DEFAULT_SPACE",
    "TuningData",
    "config_with",
    "fit_trial",
    "load_space",
    "params_record",
    "suggest",
    "tune_forecaster",
    "tuning_data",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from forecasting.tuning import search

        return getattr(search, name)
    raise AttributeError(f"module 'forecasting.tuning' has no attribute {name!r}")
