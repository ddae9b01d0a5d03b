"""The LSTM beside its baselines, on the same (ticker, date) pairs, per split, overall and per ticker.

Every model is scored with its own predictive density (:class:`forecasting.model.distributions.Predictive`): a
normal, a Student-t (``{model}_dof``), or, for an ensemble, the equal mixture of its members
(``{model}#k_mean`` ...). The Diebold-Mariano test (Harvey-Leybourne-Newbold corrected, t reference) compares
the first model with every other on NLL and on squared error; the headline comparison is with the baseline
that scored best on the *validation* block, so that the choice of opponent does not peek at the test block.

On the test block (the whole out-of-sample period, however many folds' test blocks it joins) two more verdicts:
the model confidence set of Hansen, Lunde and Nason over every model on the log score
(:mod:`forecasting.evaluation.confidence_set`), and value-at-risk backtests at 1% and 5% of each model's own
density (:mod:`forecasting.evaluation.var_backtests`). Each test carries a sentence that says what it means.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from forecasting.evaluation.confidence_set import model_confidence_set
from forecasting.evaluation.crosssection import cross_section
from forecasting.evaluation.metrics import diebold_mariano, diebold_mariano_meaning, information_coefficient, score
from forecasting.evaluation.var_backtests import SIGNIFICANCE, density_panel_var_backtests
from forecasting.model.distributions import Predictive
from forecasting.preparation.execution import DEFAULT_EXECUTION, ExecutionMode, execution_mode

__all__ = [
    "MCS_REPS",
    "MCS_SEED",
    "MCS_SIZE",
    "MODEL_LABELS",
    "VAR_LEVELS",
    "common_rows",
    "comparison_rows",
    "evaluate",
    "left_out",
    "predictive",
]

MODEL_LABELS = {
    "lstm": "LSTM-MLE",
    "zero_ewma": "zero + EWMA(0.94)",
    "historical": "historical mean/var",
    "garch": "GARCH(1,1)",
    "gjr_garch_t": "GJR-GARCH(1,1,1)-t",
    "har": "HAR (range), t",
}
MCS_SIZE = 0.10  # the 90% model confidence set
MCS_REPS = 1000
MCS_SEED = 0
VAR_LEVELS = (0.01, 0.05)


def common_rows(frame: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    """Rows with a realised target and a finite, positive forecast from every model."""
    ok = np.isfinite(frame["target"].to_numpy())
    for m in models:
        ok &= np.isfinite(frame[f"{m}_mean"].to_numpy())
        v = frame[f"{m}_var"].to_numpy()
        ok &= np.isfinite(v) & (v > 0)
    return frame[ok]


def left_out(frame: pd.DataFrame, models: list[str]) -> dict[str, object]:
    """What :func:`common_rows` leaves out of every model's score: per split, the rows with a realised target but
    no usable forecast from some model, per ticker and per model lacking one (empty when nothing is left out).

    A baseline has no forecast for a ticker with too few real returns in the training block for its fit (100,
    :func:`forecasting.evaluation.baselines.min_training_dates`), so all of that ticker's rows leave every score.

    Examples
    --------
    >>> f = pd.DataFrame({"split": ["test"] * 3, "ticker": ["A", "B", "B"], "target": [0.01, 0.0, np.nan],
    ...                   "a_mean": [0.0, 0.0, 0.0], "a_var": [1.0, 1.0, 1.0],
    ...                   "b_mean": [0.0, np.nan, np.nan], "b_var": [1.0, np.nan, np.nan]})
    >>> left_out(f, ["a", "b"])["test"]
    {'rows': 1, 'of': 2, 'tickers': {'B': 1}, 'without_forecast': {'b': 1}}
    """
    realised = frame[np.isfinite(frame["target"].to_numpy())]
    lacking = {}
    for m in models:
        v = realised[f"{m}_var"].to_numpy()
        lacking[m] = ~(np.isfinite(realised[f"{m}_mean"].to_numpy()) & np.isfinite(v) & (v > 0))
    gone = np.logical_or.reduce(list(lacking.values()))
    out: dict[str, object] = {}
    for split in ("train", "val", "test"):
        in_split = (realised["split"] == split).to_numpy()
        if not (gone & in_split).any():
            continue
        left = realised[gone & in_split]
        counts = left["ticker"].value_counts(sort=False).sort_index()
        out[split] = {
            "rows": len(left),
            "of": int(in_split.sum()),
            "tickers": {str(t): int(n) for t, n in counts.items()},
            "without_forecast": {
                m: int((miss & in_split).sum()) for m, miss in lacking.items() if (miss & in_split).any()
            },
        }
    return out


def predictive(frame: pd.DataFrame, model: str) -> Predictive:
    """The predictive distribution of ``model`` on the rows of ``frame``: its members' equal mixture when it is an
    ensemble (``{model}#k_mean``, ``{model}#k_var``, ``{model}#k_dof``), else a normal or Student-t."""

    def one(prefix: str) -> Predictive:
        dof = frame[f"{prefix}_dof"].to_numpy() if f"{prefix}_dof" in frame else None
        return Predictive.single(frame[f"{prefix}_mean"].to_numpy(), frame[f"{prefix}_var"].to_numpy(), dof)

    members = sorted({c.split("_")[0] for c in frame.columns if c.startswith(f"{model}#") and c.endswith("_mean")})
    return Predictive.mixture([one(m) for m in members]) if members else one(model)


def _scores(sub: pd.DataFrame, models: list[str]) -> dict[str, dict[str, object]]:
    y = sub["target"].to_numpy()
    out = {}
    for m in models:
        out[m] = score(
            y,
            sub[f"{m}_mean"].to_numpy(),
            sub[f"{m}_var"].to_numpy(),
            hist_mean=sub["historical_mean"].to_numpy(),
            parkinson=sub["parkinson"].to_numpy(),
            predictive=predictive(sub, m),
        )
    return out


def _daily_losses(sub: pd.DataFrame, model: str) -> pd.DataFrame:
    """Per date, the cross-sectional mean NLL (the model's own density) and squared error."""
    y = sub["target"].to_numpy()
    return (
        pd.DataFrame(
            {
                "date": sub["date"].to_numpy(),
                "nll": -predictive(sub, model).logpdf(y),
                "se": (y - sub[f"{model}_mean"].to_numpy()) ** 2,
            }
        )
        .groupby("date")
        .mean()
    )


def _lowest_nll(sub: pd.DataFrame, models: list[str]) -> str:
    y = sub["target"].to_numpy()
    return min(models, key=lambda m: float(np.mean(-predictive(sub, m).logpdf(y))))


def _diebold_mariano(
    daily: dict[str, pd.DataFrame], head: str, rest: list[str], horizon: int
) -> dict[str, dict[str, object]]:
    """The HLN-corrected Diebold-Mariano test of ``head`` against each model of ``rest``, on NLL and squared error,
    from each model's :func:`_daily_losses`."""
    a = daily[head]
    tests: dict[str, dict[str, object]] = {}
    for m in rest:
        b = daily[m]
        tests[m] = {
            name: diebold_mariano(a[loss].to_numpy(), b[loss].to_numpy(), horizon=horizon)
            for loss, name in (("nll", "nll"), ("se", "squared_error"))
        }
    return tests


def _confidence_set(daily: dict[str, pd.DataFrame], models: list[str], horizon: int) -> dict[str, object]:
    """The 90% model confidence set of every model on the per-date cross-sectional mean NLL."""
    losses = pd.DataFrame({m: daily[m]["nll"] for m in models})
    try:
        found = model_confidence_set(
            losses,
            size=MCS_SIZE,
            reps=MCS_REPS,
            horizon=horizon,
            seed=MCS_SEED,
            head=models[0],
            labels={m: MODEL_LABELS.get(m, m) for m in models},
            loss="log score",
        )
    except ValueError as err:
        return {"absent": str(err)}
    return {
        "note": "Hansen, Lunde and Nason (2011), arch's bootstrap.MCS on the per-date cross-sectional mean NLL "
        "of each model's own density (the losses of the Diebold-Mariano tests); the set holds the best model "
        "with probability 0.9; a model's MCS p-value is the largest size at which it stays in the set",
        **found.as_dict(),
    }


def _rejects(p: float | None) -> bool:
    return p is not None and p < SIGNIFICANCE


def _var_backtests(sub: pd.DataFrame, models: list[str]) -> dict[str, object]:
    """Kupiec's and Christoffersen's tests of each model's 1% and 5% VaR (its own density), pooled over tickers."""
    out: dict[str, object] = {
        "note": "the VaR at level a is the a-quantile of the model's own predictive density; a hit is a return "
        "below it; Kupiec's unconditional coverage (uc), Christoffersen's independence (ind) and conditional "
        "coverage (cc, uc + ind) on the tickers pooled (hits, returns and transitions summed, each ticker's "
        "transitions within its own dates; pooled p-values treat tickers as independent, too small when a "
        f"market-wide fall strikes many at once); a p-value below {SIGNIFICANCE} is read as a rejection; "
        "per_ticker_rejections counts the tickers whose own test rejects",
        "levels": list(VAR_LEVELS),
        "significance": SIGNIFICANCE,
    }
    for m in models:
        per_level: dict[str, object] = {}
        for alpha, panel in density_panel_var_backtests(sub, predictive(sub, m), VAR_LEVELS).items():
            per_level[f"{alpha:g}"] = {
                **dataclasses.asdict(panel.pooled),
                "per_ticker_rejections": {
                    "tickers": len(panel.per_ticker),
                    "uc": sum(_rejects(r.uc_p) for r in panel.per_ticker.values()),
                    "ind": sum(_rejects(r.ind_p) for r in panel.per_ticker.values()),
                    "cc": sum(_rejects(r.cc_p) for r in panel.per_ticker.values()),
                },
            }
        out[m] = per_level
    return out


def _ensemble_gain(sub: pd.DataFrame, model: str) -> dict[str, object] | None:
    """An ensemble's NLL beside its members' (each scored alone on the same rows)."""
    members = sorted({c.split("_")[0] for c in sub.columns if c.startswith(f"{model}#") and c.endswith("_mean")})
    if not members:
        return None
    y = sub["target"].to_numpy()
    alone = [float(np.mean(-predictive(sub, m).logpdf(y))) for m in members]
    mixture = float(np.mean(-predictive(sub, model).logpdf(y)))
    return {
        "members": len(members),
        "member_nll": alone,
        "mean_member_nll": float(np.mean(alone)),
        "best_member_nll": float(np.min(alone)),
        "ensemble_nll": mixture,
        "gain_over_mean_member": float(np.mean(alone)) - mixture,
    }


def evaluate(
    frame: pd.DataFrame, models: list[str], *, execution: str | ExecutionMode = DEFAULT_EXECUTION
) -> dict[str, Any]:
    """Scores of every model per split (overall and per ticker), the Diebold-Mariano tests of the first model
    against every other, the price-level MSE beside persistence, and on the test block the model confidence set
    of every model on the log score, each model's VaR backtests and the cross-sectional view of the first
    model's mean.

    Parameters
    ----------
    frame
        Columns date, ticker, split, target, parkinson, entry, and ``{model}_mean`` and ``{model}_var`` for
        each model (``{model}_dof`` for a Student-t; an ensemble's members as ``{model}#k_mean`` ...);
        ``historical`` must be among the models. ``target`` is the return of ``execution``,
        log(P_{t+lag+1} / P_{t+lag}), and ``entry`` its first price P_{t+lag}.
    models
        The models to score; the first is tested against the others.
    execution
        The execution mode whose return ``target`` holds; the result names it and its target.

    The headline Diebold-Mariano test (``diebold_mariano`` of each split) is against the baseline with the lowest
    NLL on the validation block (on the test block itself only when there is no validation block); every
    baseline's test is under ``diebold_mariano_all``; the headline's ``meaning`` says what it means. The test
    block's ``model_confidence_set`` (:func:`forecasting.evaluation.confidence_set.model_confidence_set`: size
    ``MCS_SIZE``, ``MCS_REPS`` stationary-bootstrap replications, seed ``MCS_SEED``) and ``var_backtests``
    (:func:`forecasting.evaluation.var_backtests.density_panel_var_backtests` at ``VAR_LEVELS``, pooled over
    tickers) cover every model; the test block may join several folds' test blocks, the dates in time order.
    """
    mode = execution_mode(execution)
    result: dict[str, object] = {
        "models": {m: MODEL_LABELS.get(m, m) for m in models},
        "execution": mode.name,
        "target": mode.describe(),
    }
    rows = common_rows(frame, models)
    dropped = left_out(frame, models)
    if dropped:
        result["left_out"] = {
            "note": "rows with a realised target but no forecast from some model, left out of every model's score "
            "so that all are scored on the same rows (a baseline has none for a ticker with fewer than 100 "
            "real training returns, nor HAR before 11 days of its 22-day mean)",
            **dropped,
        }
    head, *rest = models
    val = rows[rows["split"] == "val"]
    comparator = _lowest_nll(val, rest) if len(val) else None
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
        if comparator is not None:
            best, chosen_on = comparator, "val"
        else:
            best, chosen_on = min(rest, key=lambda m: float(overall[m]["nll"])), split  # type: ignore[arg-type]
        daily = {m: _daily_losses(sub, m) for m in models}
        tests = _diebold_mariano(daily, head, rest, mode.horizon)
        headline = {
            "meaning": diebold_mariano_meaning(
                tests[best]["nll"],  # type: ignore[arg-type]
                tests[best]["squared_error"],  # type: ignore[arg-type]
                model=MODEL_LABELS.get(head, head),
                against=MODEL_LABELS.get(best, best),
            )
        }
        exit_price = sub["entry"] * np.exp(sub["target"])
        model_price = sub["entry"] * np.exp(sub[f"{head}_mean"])
        block: dict[str, object] = {
            "n": len(sub),
            "first_date": f"{sub['date'].min():%Y-%m-%d}",
            "last_date": f"{sub['date'].max():%Y-%m-%d}",
            "overall": overall,
            "per_ticker": per_ticker,
            "diebold_mariano": {
                "model": head,
                "against": best,
                "chosen_on": chosen_on,
                "note": (
                    "negative statistic: the model's loss is lower; per-date cross-sectional mean losses; "
                    f"Harvey-Leybourne-Newbold corrected for a {mode.horizon}-step forecast, p from t(n-1); "
                    f"the opponent is the best baseline by NLL on the {chosen_on} block"
                ),
                **tests[best],
                **headline,
            },
            "diebold_mariano_all": tests,
            "price_level_mse": {
                "note": _price_note(mode),
                head: float(np.mean((exit_price - model_price) ** 2)),
                "persistence": float(np.mean((exit_price - sub["entry"]) ** 2)),
            },
        }
        if split == "test":  # what a trader reads; on the training block it would only flatter
            block["model_confidence_set"] = _confidence_set(daily, models, mode.horizon)
            block["var_backtests"] = _var_backtests(sub, models)
            block["cross_section"] = cross_section(sub, signal=f"{head}_mean").summary
        gain = _ensemble_gain(sub, head)
        if gain is not None:
            block["ensemble"] = gain
        result[split] = block
    return result


def _price_note(mode: ExecutionMode) -> str:
    def day(k: int) -> str:
        return "t" if k == 0 else f"t+{k}"

    entry, exit_ = f"the {mode.price} of {day(mode.lag)}", f"the {mode.price} of {day(mode.lag + 1)}"
    return (
        f"MSE of {exit_} in price units; the model's price is {entry} times exp(mean), persistence's is "
        f"{entry}; flatters any model, persistence shown beside it"
    )


def comparison_rows(metrics: dict[str, object], split: str = "test") -> list[list[str]]:
    """Rows of the printed comparison table: model, then the headline scores."""
    block = metrics.get(split)
    if not isinstance(block, dict):
        return []
    labels = metrics["models"]
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
