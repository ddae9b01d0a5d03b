"""``qtrade tune --objective sharpe``: a strategy's settings tuned on the validation period, priced for the search.

The forecaster is trained once on the training block (the panel cut before the test period, as for every tuning
run), forecasts the validation block, and each trial backtests one setting of the strategy there. The result
reports the deflated Sharpe ratio of the best setting, which discounts its Sharpe ratio for the number of
settings tried.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from backtests.engine import Execution, run_backtest
from backtests.inputs import align
from backtests.sharpe_verdicts import deflated_sharpe_ratio
from forecasting.errors import ConfigError
from forecasting.manifest import run_manifest
from forecasting.model.distributions import Predictive
from forecasting.model.training import predict, resolve_device
from forecasting.pipeline import FORECAST_COLUMNS, ForecastConfig
from forecasting.preparation.schedule import trained_through
from forecasting.preparation.splits import SPLIT_NAMES, TRAIN, VAL
from forecasting.tuning.search import fit_trial, load_space, suggest, tuning_data
from strategies.registry import get, parse_params

__all__ = ["STRATEGY_SPACES", "tune_strategy", "validation_forecasts"]

STRATEGY_SPACES: dict[str, dict[str, dict[str, Any]]] = {
    "kelly": {
        "fraction": {"type": "float", "low": 0.05, "high": 2.0, "log": True},
        "max_leverage": {"type": "float", "low": 0.5, "high": 2.0},
    },
    "voltarget": {
        "target_vol": {"type": "float", "low": 0.05, "high": 0.4},
        "threshold": {"type": "float", "low": 0.0, "high": 0.2},
    },
    "threshold": {"k": {"type": "float", "low": 0.0, "high": 0.3}},
    "betsize": {"max_leverage": {"type": "float", "low": 0.5, "high": 3.0}},
    "longshort": {
        "k": {"type": "int", "low": 1, "high": 5},
        "scheme": {"type": "categorical", "choices": ["equal", "linear"]},
    },
    "volmanaged": {"max_leverage": {"type": "float", "low": 1.0, "high": 3.0}},
    "sma": {
        "fast": {"type": "int", "low": 5, "high": 50, "step": 5},
        "slow": {"type": "int", "low": 60, "high": 200, "step": 20},
    },
}


def validation_forecasts(
    panel: pd.DataFrame, config: ForecastConfig, *, source: str = "data"
) -> tuple[pd.DataFrame, Any]:
    """Train on the training block of the cut panel; forecasts of the training and validation blocks in qtrade's
    format (the training block's, in-sample, only set constants such as volmanaged's ``c``; trials trade the
    validation block)."""
    data = tuning_data(panel, config, source=source)
    results, prep, _ = fit_trial(data, config)
    blocks = [(label, prep.samples(label, with_target=False)) for label in (TRAIN, VAL)]
    samples = np.concatenate([b for _, b in blocks])
    split = np.concatenate([np.full(len(b), SPLIT_NAMES[label]) for label, b in blocks])
    s = prep.scaler.target_scale
    parts = []
    for result in results:
        mean, var, dof = predict(
            result.model, prep.dataset(samples, with_target=False), device=resolve_device(config.device)
        )
        if result.residual_var is not None:
            var = np.full_like(var, result.residual_var)
        parts.append(Predictive.single(mean * s, var * s * s, dof))
    density = Predictive.mixture(parts) if len(parts) > 1 else parts[0]
    cube = data.cube
    frame = pd.DataFrame(
        {
            "date": cube.dates[samples[:, 1]],
            "ticker": cube.tickers[samples[:, 0]].astype(str),
            "mean": density.mean,
            "variance": density.var,
            "dof": density.dofs[0] if len(parts) == 1 and density.dofs is not None else np.nan,
            "target": cube.target[samples[:, 0], samples[:, 1]],
            "split": split,
            "fold": 1,
            "trained_through": trained_through(data.fold, cube.mode.horizon),
            "execution": config.execution,
        }
    )
    members: dict[str, Any] = {}
    if len(parts) > 1:  # an ensemble: its members, so that the rules read the mixture's density as a backtest does
        for k, part in enumerate(parts, start=1):
            members[f"m{k}_mean"], members[f"m{k}_variance"] = part.mean, part.var
            members[f"m{k}_dof"] = part.dofs[0] if part.dofs is not None else np.nan
    return frame[FORECAST_COLUMNS].assign(**members), data


def tune_strategy(
    panel: pd.DataFrame,
    out: str | os.PathLike[str],
    *,
    strategy: str,
    base: ForecastConfig | None = None,
    execution: Execution | None = None,
    n_trials: int = 20,
    timeout: float | None = None,
    storage: str | None = None,
    study_name: str = "qtrade-sharpe",
    space_file: str | os.PathLike[str] | None = None,
    seed: int = 0,
    source: str = "data",
    progress: bool = True,
) -> dict[str, Any]:
    """Maximise the annualised Sharpe ratio (net of costs) of ``strategy`` on the validation period."""
    import optuna

    from forecasting.outputs import check_out
    from forecasting.tuning.study import finished_trials, open_study, run_study, write_study_outputs

    out = check_out(out)
    spec = get(strategy)
    default_space = STRATEGY_SPACES.get(strategy)
    if default_space is None and space_file is None:
        raise ConfigError(f"strategy {strategy} has no default search space; give one with --space FILE")
    space = load_space(space_file, allowed=set(spec.params), default=default_space or {})
    if not space:
        raise ConfigError(f"strategy {strategy} has no settings to tune")
    base = base or ForecastConfig(seed=seed)
    execution = execution or Execution(mode=base.execution)
    if execution.mode != base.execution:
        raise ConfigError(
            f"the forecaster targets {base.execution} but the backtest trades {execution.mode}; give one --execution"
        )
    forecasts, data = validation_forecasts(panel, base, source=source)
    bt_data = align(
        data.panel,
        forecasts,
        split="val",
        max_gap=base.max_gap,
        source=source,
        execution=execution.mode,
        calendar=base.calendar,
    )
    study = open_study(out, storage=storage, study_name=study_name, seed=seed, direction="maximize", pruner="none")
    if not study.get_trials(deepcopy=False):
        defaults = spec.defaults()
        study.enqueue_trial({k: defaults[k] for k in space if space[k]["type"] != "fixed"})

    def run_trial(trial: optuna.Trial) -> float:
        pairs = [f"{k}={v}" for k, v in suggest(trial, space).items()]
        try:
            params = parse_params(spec, pairs)
        except ConfigError as exc:  # a combination the strategy refuses (fast >= slow, say)
            raise optuna.TrialPruned(str(exc)) from None
        trial.set_user_attr("pid", os.getpid())
        result = run_backtest(bt_data, spec, params, execution)
        r = result.returns
        daily = float(r.mean() / r.std(ddof=1)) if r.std(ddof=1) > 0 else 0.0
        trial.set_user_attr("sharpe_daily", daily)
        trial.set_user_attr("total_return", float((1 + r).prod() - 1))
        return daily * np.sqrt(252)

    run_study(
        study,
        run_trial,
        n_trials=n_trials,
        timeout=timeout,
        progress=progress,
        describe=lambda s: (
            f"best val Sharpe {s.best_value:.2f}"
            if any(t.state.name == "COMPLETE" for t in s.get_trials(deepcopy=False))
            else "tuning"
        ),
    )

    def record() -> dict[str, Any]:  # read when this worker writes the outputs: the study as it stands then
        complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
        if not complete:
            raise ConfigError("no trial finished; raise --n-trials or widen the search space")
        best = max(complete, key=lambda t: t.value)
        params = parse_params(spec, [f"{k}={v}" for k, v in best.params.items()])
        returns = run_backtest(bt_data, spec, params, execution).returns
        # a configuration tried twice (TPE repeats itself on small spaces) is one trial of the multiple-testing count
        distinct = {
            tuple(sorted(parse_params(spec, [f"{k}={v}" for k, v in t.params.items()]).items())): t.user_attrs[
                "sharpe_daily"
            ]
            for t in complete
        }
        dsr = deflated_sharpe_ratio(returns, list(distinct.values()))
        first = min(complete, key=lambda t: t.number)
        return {
            "objective": f"validation Sharpe of {strategy}, net of costs, {execution.mode} fills",
            "execution": execution.mode,
            "strategy": strategy,
            "value": best.value,
            "default_value": first.value if first.number == 0 else None,
            "params": params,
            "trial": best.number,
            "n_finished": len(finished_trials(study)),
            "n_pruned": sum(t.state.name == "PRUNED" for t in study.get_trials(deepcopy=False)),
            "configurations_tried": len(distinct),
            "trials_complete": len(complete),
            "deflated_sharpe": dsr,
            "validation_period": [
                f"{bt_data.dates[bt_data.start]:%Y-%m-%d}",
                f"{bt_data.dates[bt_data.stop - 1]:%Y-%m-%d}",
            ],
            "test_period_starts": f"{data.first_test_date:%Y-%m-%d}",
            "study": study_name,
            "note": (
                f"deflated Sharpe ratio {dsr['dsr']:.3f} after {len(distinct)} distinct configurations "
                "(probability that the true Sharpe ratio beats the best of that many lucky tries)"
            ),
        }

    manifest = run_manifest(
        command="tune",
        seed=base.seed,
        panel=panel,
        source=source,
        config={
            **asdict(base),
            "objective": "sharpe",
            "strategy": strategy,
            "execution_setup": asdict(execution),
            "n_trials": n_trials,
            "timeout": timeout,
            "space": space,
        },
    )
    return write_study_outputs(study, out, record, manifest=manifest, storage=storage)
