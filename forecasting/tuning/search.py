"""``qtrade tune``: Optuna searches the forecaster's settings on the validation period; the test period is cut off.

Before any trial the panel is truncated at the first date of the test block (the same chronological split as
``qtrade forecast``, with the same embargo), so no trial can see a test price, not even through cleaning or
feature scaling; the embargo, at least the target's horizon, keeps every validation target realised before the
cut. Each trial trains on the training block, reports its validation loss every epoch (so the pruner can stop
it), and is scored by the validation NLL (or MSE) of the configured execution's target (see
:mod:`forecasting.preparation.execution`) in its own units.

The study lives in an Optuna storage: by default ``sqlite:///OUT/study.db``, so a killed run started again with
the same arguments keeps its finished trials and goes on; with a database URL (PostgreSQL, MySQL) several
``qtrade tune`` processes on one machine or many share one study.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecasting.errors import ConfigError
from forecasting.market.cleaning import clean_panel
from forecasting.market.summary import check_window
from forecasting.model.distributions import Predictive
from forecasting.model.training import TrainResult, predict, resolve_device, train_model
from forecasting.pipeline import ForecastConfig, folds_of
from forecasting.preparation.dataset import Prepared, prepare
from forecasting.preparation.execution import execution_mode
from forecasting.preparation.features import build_features
from forecasting.preparation.splits import TEST, TRAIN, UNUSED, VAL, Fold, chronological_split

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

# name -> distribution; a --space file (JSON or TOML) of the same shape replaces it (settings it leaves out keep
# their --params or default value).
DEFAULT_SPACE: dict[str, dict[str, Any]] = {
    "window": {"type": "int", "low": 10, "high": 60, "step": 5},
    "hidden": {"type": "categorical", "choices": [16, 32, 64, 128]},
    "layers": {"type": "int", "low": 1, "high": 3},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5},
    "lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
    "batch_size": {"type": "categorical", "choices": [128, 256, 512]},
}


def load_space(
    path: str | os.PathLike[str] | None, *, allowed: set[str], default: dict[str, dict[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    """The search space: the entries of a JSON or TOML file, or ``default`` when there is no file.

    An entry is ``{"type": "int"|"float"|"categorical", "low": .., "high": .., "log": bool, "step": ..}`` or
    ``{"type": "categorical", "choices": [...]}``; ``{"type": "fixed", "value": ...}`` pins a setting.
    """
    space = {k: dict(v) for k, v in (DEFAULT_SPACE if default is None else default).items()}
    if path is None:
        return space
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
        given = tomllib.loads(text) if p.suffix == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{p}: cannot read the search space ({type(exc).__name__}); give JSON or TOML") from None
    if not isinstance(given, dict) or not given:
        raise ConfigError(f"{p}: the search space must map setting names to distributions")
    space = {}
    for name, dist in given.items():
        if name not in allowed:
            raise ConfigError(
                f"{p}: {name!r} is not a setting that can be tuned; use one of {', '.join(sorted(allowed))}"
            )
        if not isinstance(dist, dict) or dist.get("type") not in ("int", "float", "categorical", "fixed"):
            raise ConfigError(f"{p}: {name}: give a table with type int, float, categorical or fixed")
        need = {"int": ("low", "high"), "float": ("low", "high"), "categorical": ("choices",), "fixed": ("value",)}
        missing = [k for k in need[dist["type"]] if k not in dist]
        if missing:
            raise ConfigError(f"{p}: {name}: {dist['type']} needs {', '.join(missing)}")
        if dist["type"] in ("int", "float") and not dist["low"] <= dist["high"]:
            raise ConfigError(f"{p}: {name}: low must not exceed high")
        space[name] = dict(dist)
    return space


def suggest(trial: Any, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Draw one value per entry of ``space`` from an Optuna trial."""
    out: dict[str, Any] = {}
    for name, d in space.items():
        kind = d["type"]
        if kind == "int":
            out[name] = trial.suggest_int(
                name, int(d["low"]), int(d["high"]), step=int(d.get("step", 1)), log=bool(d.get("log", False))
            )
        elif kind == "float":
            out[name] = trial.suggest_float(name, float(d["low"]), float(d["high"]), log=bool(d.get("log", False)))
        elif kind == "categorical":
            out[name] = trial.suggest_categorical(name, list(d["choices"]))
        else:
            out[name] = d["value"]
    return out


@dataclass(frozen=True)
class TuningData:
    """The panel cut before the test block, its features and its train/validation labels."""

    panel: pd.DataFrame
    cube: Any
    fold: Fold
    first_test_date: pd.Timestamp


def tuning_data(panel: pd.DataFrame, config: ForecastConfig, *, source: str = "data") -> TuningData:
    """Cut ``panel`` before the first test date of ``qtrade forecast``'s split (the out-of-sample start of a
    walk-forward ``config``); label train and validation as that split (the walk-forward's first fold) does.

    The features hold the target of ``config.execution``; with the split's embargo (at least that target's
    horizon) every validation target ends before the cut.
    """
    clean = clean_panel(panel, max_gap=config.max_gap, calendar=config.calendar)
    if config.walk_forward:  # the first fold, refused as qtrade forecast refuses it when it cannot train
        full = folds_of(build_features(clean, execution=config.execution), config)[0]
    else:
        full = chronological_split(clean.dates, val=config.val, test=config.test, embargo=config.split_embargo)
    first_test = full.block(TEST)[0]
    dates = panel.index.get_level_values("date")
    cut = panel[dates < first_test]
    clean_cut = clean_panel(cut, max_gap=config.max_gap, calendar=config.calendar)
    check_window(clean_cut, config.window, source)
    cube = build_features(clean_cut, execution=config.execution)
    labels = full.labels[full.dates.get_indexer(cube.dates)].copy()
    labels[labels == TEST] = UNUSED
    return TuningData(cut, cube, Fold(labels, cube.dates), first_test)


def _fits(dist: dict[str, Any], value: Any) -> bool:
    if dist["type"] == "categorical":
        return value in dist["choices"]
    if dist["type"] in ("int", "float"):
        ok = dist["low"] <= value <= dist["high"]
        step = dist.get("step")
        return ok and (dist["type"] != "int" or not step or (value - dist["low"]) % step == 0)
    return True


def config_with(base: ForecastConfig, params: dict[str, Any]) -> ForecastConfig:
    known = {f.name for f in fields(base)}
    return replace(base, **{k: v for k, v in params.items() if k in known})


def fit_trial(
    data: TuningData, config: ForecastConfig, *, on_epoch: Callable[[dict[str, float]], None] | None = None
) -> tuple[list[TrainResult], Prepared, dict[str, float]]:
    """Train on the training block (each member of an ensemble), score on the validation block (the execution's
    target, in its own units, with the model's own density: an ensemble's mixture)."""
    if data.cube.execution != config.execution:
        raise ConfigError(
            f"the tuning data holds the target of --execution {data.cube.execution}, not "
            f"{config.execution}; build it with tuning_data(panel, config)"
        )
    if len(data.cube.dates) <= config.window + 2:
        raise ConfigError(f"window {config.window} leaves no training windows; lower the window range")
    prep = prepare(data.cube, data.fold, config.window)
    train_ds = prep.dataset(prep.samples(TRAIN), with_target=True)
    val_samples = prep.samples(VAL)
    val_ds = prep.dataset(val_samples, with_target=True)
    device = resolve_device(config.device)
    to_predict = prep.dataset(val_samples, with_target=False)
    s = prep.scaler.target_scale
    parts, results = [], []
    for member in range(config.ensemble):  # the first member's epochs are reported (and pruned on)
        result = train_model(
            train_ds,
            val_ds,
            config.model_config(),
            config.train_config(member),
            on_epoch=on_epoch if member == 0 else None,
        )
        mean, var, dof = predict(result.model, to_predict, device=device)
        if result.residual_var is not None:
            var = np.full_like(var, result.residual_var)
        parts.append(Predictive.single(mean * s, var * s * s, dof))
        results.append(result)
    density = Predictive.mixture(parts) if len(parts) > 1 else parts[0]
    y = data.cube.target[val_samples[:, 0], val_samples[:, 1]]
    scores = {
        "nll": float(np.mean(-density.logpdf(y))),
        "mse": float(np.mean((y - density.mean) ** 2)),
        "n": float(len(y)),
    }
    return results, prep, scores


def _check_study_execution(study: Any, execution: str) -> None:
    """Trials of one study must score one target: record it on a new study, refuse another one on a resumed study."""
    recorded = study.user_attrs.get("execution")
    if recorded is None:
        if study.get_trials(deepcopy=False):
            recorded = "same-close"  # a study from before execution modes: the next-day close target
        else:
            study.set_user_attr("execution", execution)
            return
    if recorded != execution:
        raise ConfigError(
            f"study {study.study_name!r} scores the target of --execution {recorded}; pass --execution "
            f"{recorded} to resume it, or another --study name or --out for {execution}"
        )


UNTUNABLE = frozenset(
    {
        "seed",
        "device",
        "workers",
        "threads",
        "amp",
        "execution",
        "calendar",
        "max_gap",
        "val",
        "test",
        "embargo",
        "oos_start",
        "refit_every",
        "train_window",
        "val_days",
        "warm_start",
        "jobs",
        "cluster",
    }
)
"""Settings a search may not change: the machine's, and those that shape the data and its split (the trials all
use one split of the panel cut before the test block, so a "tuned" split would only move test data into training)."""

NOT_IN_PARAMS = (
    "device",
    "workers",
    "threads",
    "amp",
    "seed",
    "execution",
    "jobs",
    "cluster",
    "oos_start",
    "refit_every",
    "train_window",
    "val_days",
    "warm_start",
)
"""Left out of ``best_params.json``'s ``params``: the machine's settings (so that it runs anywhere), the seed and
execution, which the file records beside them and the command line gives, and the walk-forward schedule, which
the command line gives too (a tuning with ``--oos-start`` saw only the data before it)."""


def params_record(config: ForecastConfig) -> dict[str, Any]:
    """What ``best_params.json`` holds under ``params``: every setting the trial trained with (its epochs and
    patience included), by ForecastConfig name, so that ``qtrade forecast --params`` with the same ``--seed``
    repeats its training."""
    return {k: v for k, v in asdict(config).items() if k not in NOT_IN_PARAMS} | {"dist": config.distribution}


def tune_forecaster(
    panel: pd.DataFrame,
    out: str | os.PathLike[str],
    *,
    base: ForecastConfig | None = None,
    objective: str = "nll",
    n_trials: int = 20,
    timeout: float | None = None,
    storage: str | None = None,
    study_name: str = "qtrade",
    space_file: str | os.PathLike[str] | None = None,
    pruner: str = "median",
    seed: int = 0,
    source: str = "data",
    progress: bool = True,
) -> dict[str, Any]:
    """Search the forecaster's settings; write ``best_params.json``, ``trials.csv``, the report and
    ``manifest.json`` to ``out``.

    The first trial of a new study runs the default settings, so the result says what tuning gained. Workers of
    one study may share ``out``: each writes the outputs when it finishes (see
    :func:`forecasting.tuning.study.write_study_outputs`), and the record returned is the study's as it stood then.
    """
    import optuna

    from forecasting.manifest import run_manifest
    from forecasting.model.threads import shared_threads, use_threads
    from forecasting.outputs import check_out
    from forecasting.tuning.study import TrialProgress, finished_trials, open_study, run_study, write_study_outputs

    if objective not in ("nll", "mse"):
        raise ConfigError(f"--objective {objective!r} is not known for the forecaster; use nll, mse or sharpe")
    out = check_out(out)
    base = base or ForecastConfig(seed=seed)
    space = load_space(space_file, allowed={f.name for f in fields(ForecastConfig)} - UNTUNABLE)
    data = tuning_data(panel, base, source=source)
    study = open_study(out, storage=storage, study_name=study_name, seed=seed, direction="minimize", pruner=pruner)
    _check_study_execution(study, base.execution)
    defaults = asdict(base)
    tunable = {k: defaults[k] for k in space if space[k]["type"] != "fixed"}
    defaults_fit = all(_fits(space[k], v) for k, v in tunable.items())
    if not study.get_trials(deepcopy=False) and defaults_fit:
        study.enqueue_trial(tunable)

    inner = TrialProgress()

    def run_trial(trial: optuna.Trial) -> float:
        config = config_with(base, suggest(trial, space))
        trial.set_user_attr("pid", os.getpid())
        trial.set_user_attr("last_seen_date", f"{data.cube.dates[-1]:%Y-%m-%d}")

        def report(rec: dict[str, float]) -> None:
            use_threads(base.threads)  # the share follows the workers running on this machine
            inner.epoch(trial.number, int(rec["epoch"]), config.epochs, rec["val_loss"])
            trial.report(rec["val_loss"], int(rec["epoch"]))
            if trial.should_prune():
                raise optuna.TrialPruned()

        _, _, scores = fit_trial(data, config, on_epoch=report)
        trial.set_user_attr("val_mse", scores["mse"])
        trial.set_user_attr("val_nll", scores["nll"])
        return scores[objective]

    def describe(s: Any) -> str:
        done = [t for t in s.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
        return f"best val {objective} {min(t.value for t in done):.5f}" if done else "tuning"

    with shared_threads(base.threads):
        run_study(
            study, run_trial, n_trials=n_trials, timeout=timeout, progress=progress, describe=describe, inner=inner
        )
    fixed = {k: d["value"] for k, d in space.items() if d["type"] == "fixed"}  # Optuna records only drawn values

    def record() -> dict[str, Any]:  # read when this worker writes the outputs: the study as it stands then
        trials = study.get_trials(deepcopy=False)
        complete = [t for t in trials if t.state.name == "COMPLETE"]
        if not complete:
            raise ConfigError("no trial finished; raise --n-trials or --timeout, or widen the search space")
        best = min(complete, key=lambda t: t.value)
        first = min(complete, key=lambda t: t.number)
        best_config = config_with(base, {**fixed, **best.params})
        return {
            "objective": f"validation {objective}",
            "value": best.value,
            "default_value": first.value if first.number == 0 and defaults_fit else None,
            "params": params_record(best_config),
            "tuned": sorted(best.params),
            "seed": base.seed,
            "trial": best.number,
            "n_finished": len(finished_trials(study)),
            "n_pruned": sum(t.state.name == "PRUNED" for t in trials),
            "study": study_name,
            "execution": base.execution,
            "target": execution_mode(base.execution).describe(),
            "test_period_starts": f"{data.first_test_date:%Y-%m-%d}",
            "note": "trials saw data up to the day before the test period only",
        }

    manifest = run_manifest(
        command="tune",
        seed=base.seed,
        panel=panel,
        source=source,
        config={
            **asdict(base),
            "objective": objective,
            "n_trials": n_trials,
            "timeout": timeout,
            "pruner": pruner,
            "space": space,
        },
    )
    return write_study_outputs(study, out, record, manifest=manifest, storage=storage)
