"""Scores, baselines, the Diebold-Mariano tests, the cross-section and the charts of a forecast run.

The names of :mod:`forecasting.evaluation.scoring` are importable from here too (loaded on first use).
"""

from typing import Any

__all__ = ["MODEL_LABELS", "common_rows", "comparison_rows", "evaluate", "predictive"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from forecasting.evaluation import scoring

        return getattr(scoring, name)
    raise AttributeError(f"module 'forecasting.evaluation' has no attribute {name!r}")
