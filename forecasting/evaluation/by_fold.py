"""A walk-forward run fold by fold: what each refit trained on, and how each model scored on its test block.

The whole out-of-sample period is scored by :func:`forecasting.evaluation.scoring.evaluate` (its ``test`` block
is the union of every fold's); this adds each fold's own figures, so that a reader sees whether a gain is spread
over the years or made in one: the log score (mean NLL) of every model on the fold's common rows, the best
baseline, and the Diebold-Mariano test of the LSTM against the run's headline opponent on that fold alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from forecasting.evaluation.metrics import diebold_mariano
from forecasting.evaluation.scoring import _daily_losses, common_rows, predictive
from forecasting.preparation.schedule import Schedule
from forecasting.preparation.splits import TEST, TRAIN, VAL, Fold

__all__ = ["fold_gaps", "fold_report"]


def _span(fold: Fold, label: int) -> str:
    block = fold.block(label)
    return f"{block[0]:%Y-%m-%d}..{block[-1]:%Y-%m-%d}" if len(block) else ""


def fold_report(
    scored: pd.DataFrame,
    results: list[Any],
    folds: list[Fold],
    schedule: Schedule,
    models: list[str],
    *,
    opponent: str | None = None,
    horizon: int = 1,
) -> dict[str, Any]:
    """``metrics.json``'s ``walk_forward`` block: the schedule in words and one record per fold.

    ``scored`` is the run's scoring frame with a ``fold`` column; ``results`` the folds'
    :class:`forecasting.folds.FoldResult`; ``models[0]`` the LSTM, tested on each fold against ``opponent`` (the
    run's headline opponent, chosen on validation), or when None against that fold's best baseline.
    """
    head, *rest = models
    test = common_rows(scored[scored["split"] == "test"], models)
    records = []
    for fold, result in zip(folds, results, strict=True):
        rows = test[test["fold"].to_numpy() == result.index + 1]
        record: dict[str, Any] = {
            "fold": result.index + 1,
            "refit": f"{fold.block(TEST)[0]:%Y-%m-%d}",
            "train": _span(fold, TRAIN),
            "val": _span(fold, VAL),
            "test": _span(fold, TEST),
            "trained_through": f"{result.trained_through:%Y-%m-%d}",
            "n": len(rows),
            "best_epochs": result.best_epochs,
            "seconds": round(result.seconds, 2),
            "mean_shrinkage": result.shrinkage.factor,
        }
        if len(rows):
            y = rows["target"].to_numpy()
            nll = {m: float(np.mean(-predictive(rows, m).logpdf(y))) for m in models}
            best = min(rest, key=nll.__getitem__)
            record["nll"] = nll
            record["best_baseline"] = best
            record["lstm_minus_best_baseline"] = nll[head] - nll[best]
            against = opponent or best
            a, b = _daily_losses(rows, head)["nll"], _daily_losses(rows, against)["nll"]
            if len(a) > 2:
                record["diebold_mariano"] = {
                    "against": against,
                    **diebold_mariano(a.to_numpy(), b.to_numpy(), horizon=horizon),
                }
        records.append(record)
    wins = [r for r in records if "nll" in r]
    ahead = sum(1 for r in wins if r["nll"][head] < r["nll"][opponent or r["best_baseline"]])
    return {
        "schedule": schedule.describe(),
        "folds": records,
        "opponent": opponent,
        "lstm_ahead_in": ahead,
        "of_folds": len(wins),
        "note": (
            f"each fold's models trained on data up to its trained_through date and forecast its test block only; "
            f"the LSTM's log score beat {opponent or 'the best baseline'} in {ahead} of {len(wins)} folds "
            "(per-fold Diebold-Mariano tests below; the test over the whole out-of-sample period is the test "
            "block's)"
        ),
    }


def fold_gaps(walk: dict[str, Any], head: str = "lstm") -> dict[str, dict[str, float]]:
    """Per fold (by refit date), ``head``'s NLL minus each other model's, from ``fold_report``'s records."""
    return {
        f["refit"]: {m: f["nll"][head] - v for m, v in f["nll"].items() if m != head}
        for f in walk["folds"]
        if "nll" in f
    }
