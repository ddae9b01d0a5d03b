"""The LSTM beside its baselines, on the same (ticker, date) pairs, per split, overall and per ticker."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.execution import DEFAULT_EXECUTION, ExecutionMode, execution_mode
from forecasting.metrics import diebold_mariano, information_coefficient, nll, score

__all__ = ["MODEL_LABELS", "common_rows", "comparison_rows", "evaluate"]

MODEL_LABELS = {
    "lstm": "LSTM-MLE",
    "zero_ewma": "zero + EWMA(0.94)",
    "historical": "historical mean/var",
    "garch": "GARCH(1,1)",
}


def common_rows(frame: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    """Rows with a realised target and a finite, positive forecast from every model."""
    ok = np.isfinite(frame["target"].to_numpy())
    for m in models:
        ok &= np.isfinite(frame[f"{m}_mean"].to_numpy())
        v = frame[f"{m}_var"].to_numpy()
        ok &= np.isfinite(v) & (v > 0)
    return frame[ok]


def _scores(sub: pd.DataFrame, models: list[str]) -> dict[str, dict[str, object]]:
    y = sub["target"].to_numpy()
    out = {}
    for m in models:
        s = score(
            y,
            sub[f"{m}_mean"].to_numpy(),
            sub[f"{m}_var"].to_numpy(),
            hist_mean=sub["historical_mean"].to_numpy(),
            parkinson=sub["parkinson"].to_numpy(),
        )
        out[m] = s
    return out


def evaluate(frame: pd.DataFrame, models: list[str], *,
             execution: str | ExecutionMode = DEFAULT_EXECUTION) -> dict[str, object]:
    """Scores of every model per split (overall and per ticker), the Diebold-Mariano test of the first
    model against the best of the others, and the price-level MSE beside the persistence forecast.

    Parameters
    ----------
    frame
        Columns date, ticker, split, target, parkinson, entry, and ``{model}_mean`` and ``{model}_var`` for
        each model; ``historical`` must be among the models. ``target`` is the return of ``execution``,
        log(P_{t+lag+1} / P_{t+lag}), and ``entry`` its first price P_{t+lag}.
    models
        The models to score; the first is tested against the best of the others.
    execution
        The execution mode whose return ``target`` holds; the result names it and its target.
    """
    mode = execution_mode(execution)
    result: dict[str, object] = {"models": {m: MODEL_LABELS.get(m, m) for m in models},
                                 "execution": mode.name, "target": mode.describe()}
    rows = common_rows(frame, models)
    for split in ("train", "val", "test"):
        sub = rows[rows["split"] == split]
        if sub.empty:
            continue
        overall = _scores(sub, models)
        for m in models:
            overall[m]["information_coefficient"] = information_coefficient(
                sub.rename(columns={f"{m}_mean": "_f"}), "_f"
            )
        per_ticker = {str(t): _scores(g, models) for t, g in sub.groupby("ticker", sort=True)}
        head, *rest = models
        best = min(rest, key=lambda m: overall[m]["nll"])  # type: ignore[arg-type,return-value]
        by_date = sub.assign(
            _a_nll=nll(sub["target"], sub[f"{head}_mean"], sub[f"{head}_var"]),
            _b_nll=nll(sub["target"], sub[f"{best}_mean"], sub[f"{best}_var"]),
            _a_se=(sub["target"] - sub[f"{head}_mean"]) ** 2,
            _b_se=(sub["target"] - sub[f"{best}_mean"]) ** 2,
        ).groupby("date")[["_a_nll", "_b_nll", "_a_se", "_b_se"]].mean()
        exit_price = sub["entry"] * np.exp(sub["target"])
        model_price = sub["entry"] * np.exp(sub[f"{head}_mean"])
        result[split] = {
            "n": int(len(sub)),
            "first_date": f"{sub['date'].min():%Y-%m-%d}",
            "last_date": f"{sub['date'].max():%Y-%m-%d}",
            "overall": overall,
            "per_ticker": per_ticker,
            "diebold_mariano": {
                "model": head,
                "against": best,
                "note": "negative statistic: the model's loss is lower; per-date cross-sectional mean losses",
                "nll": diebold_mariano(by_date["_a_nll"].to_numpy(), by_date["_b_nll"].to_numpy()),
                "squared_error": diebold_mariano(by_date["_a_se"].to_numpy(), by_date["_b_se"].to_numpy()),
            },
            "price_level_mse": {
                "note": _price_note(mode),
                head: float(np.mean((exit_price - model_price) ** 2)),
                "persistence": float(np.mean((exit_price - sub["entry"]) ** 2)),
            },
        }
    return result


def _price_note(mode: ExecutionMode) -> str:
    def day(k: int) -> str:
        return "t" if k == 0 else f"t+{k}"

    entry, exit_ = f"the {mode.price} of {day(mode.lag)}", f"the {mode.price} of {day(mode.lag + 1)}"
    return (f"MSE of {exit_} in price units; the model's price is {entry} times exp(mean), persistence's is "
            f"{entry}; flatters any model, persistence shown beside it")


def comparison_rows(metrics: dict[str, object], split: str = "test") -> list[list[str]]:
    """Rows of the printed comparison table: model, then the headline scores."""
    block = metrics.get(split)
    if not isinstance(block, dict):
        return []
    labels = metrics["models"]  # type: ignore[index]
    rows = []
    for m, s in block["overall"].items():
        rows.append(
            [
                labels[m],  # type: ignore[index]
                f"{s['mse'] * 1e4:.4f}",
                f"{s['r2_vs_zero'] * 100:+.2f}%",
                f"{s['nll']:.4f}",
                f"{s['crps'] * 1e2:.4f}",
                f"{s['coverage_90'] * 100:.1f}%",
                f"{s['qlike_sq_return']:.4f}",
                "-" if s["directional_accuracy"] is None else f"{s['directional_accuracy'] * 100:.1f}%",
            ]
        )
    return rows
