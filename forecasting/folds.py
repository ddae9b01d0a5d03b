"""The fold loop: for each fold, train the networks, forecast its origins, refit every baseline on the same
training block, and score them side by side.

A fold is one training of the models (:class:`forecasting.preparation.splits.Fold`): the single chronological
split, or one refit of a walk-forward schedule (:mod:`forecasting.preparation.schedule`). Each fold refits the
scaler on its own real training rows (:func:`forecasting.preparation.dataset.prepare`), trains its networks with
early stopping on its validation block, and forecasts its test block (the first fold also its training and
validation blocks, in sample). Every baseline is fitted on the same training block. Each row of the result
records its ``fold`` (from 1) and ``trained_through``, the last date whose prices the fold's models used.

Folds are independent unless a fold starts from the previous fold's weights (``warm``): ``jobs`` > 1 runs them
in parallel processes (joblib's loky), and a Dask cluster runs them on its workers (``cluster``: the scheduler's
address, through joblib's dask backend). Results do not depend on where a fold ran: on the CPU each fold's
training is seeded alike wherever it runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forecasting.errors import ConfigError
from forecasting.evaluation.baselines import ewma, garch11, gjr_garch_t, har_range, historical, log_returns
from forecasting.evaluation.shrinkage import Shrinkage, resolve
from forecasting.model.distributions import Predictive
from forecasting.model.training import Prediction, predict, resolve_device, train_model
from forecasting.preparation.dataset import Prepared, prepare
from forecasting.preparation.features import FeatureCube
from forecasting.preparation.schedule import trained_through
from forecasting.preparation.splits import TEST, TRAIN, VAL, Fold

__all__ = ["FoldResult", "LossInReturns", "check_folds", "fit_fold", "run_folds", "scored_frame"]

EpochHook = Callable[[int, int, str, "LossInReturns"], Callable[[dict[str, float]], None] | None]
"""``hook(fold, member, tag, to_returns)`` gives the per-epoch callback of one training (or None)."""


@dataclass(frozen=True)
class LossInReturns:
    """A training loss on the network's scaled target, in the units every report uses: the NLL of log returns
    (the scaled NLL plus log of the target scale, the Jacobian of the scaling) or the MSE of log returns x1e4."""

    loss: str
    scale: float

    @property
    def name(self) -> str:
        return "NLL" if self.loss == "nll" else "MSE x1e4"

    def __call__(self, value: float) -> float:
        return value + float(np.log(self.scale)) if self.loss == "nll" else value * self.scale**2 * 1e4


@dataclass
class FoldResult:
    """What one fold produced: its scoring frame and what the reports and the checkpoint need of its training."""

    index: int
    scored: pd.DataFrame
    networks: list[Any]
    residual_vars: list[float | None]
    shrinkage: Shrinkage
    scaler: dict[str, Any]
    scale: float
    trained_through: pd.Timestamp
    histories: list[list[dict[str, float]]] = field(default_factory=list)
    best_epochs: list[int] = field(default_factory=list)
    speeds: list[float] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _frame(cube: FeatureCube, samples: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    i, t = samples[:, 0], samples[:, 1]
    return pd.DataFrame(
        {
            "date": cube.dates[t],
            "ticker": cube.tickers[i].astype(str),
            "split": pd.Categorical.from_codes(labels[t], categories=["train", "val", "test"]),
            "target": cube.target[i, t],
            "parkinson": cube.parkinson[i, t],
            "entry": cube.entry[i, t],
        }
    )


def baselines(cube: FeatureCube, prep: Prepared, samples: np.ndarray) -> dict[str, np.ndarray]:
    """Every baseline's forecast of the cube's target at ``samples``, fitted on the training block of ``prep``:
    the return series of the execution's price up to the origin, forecast ``horizon`` steps ahead, or the
    range-based HAR (see :mod:`forecasting.evaluation.baselines`); ``{name}_dof`` for those with a Student-t
    density. Fits read no date after the training block; filters run forward through the origin only.

    The fits run with one BLAS thread: arch's optimiser stops within a tolerance, so sums taken in another order
    by more threads move a fitted Student-t's degrees of freedom by about 1e-4, and a fold fitted in a worker
    process (one thread) would differ from the same fold fitted here. Short series gain nothing from threads."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _baselines(cube, prep, samples)


def _baselines(cube: FeatureCube, prep: Prepared, samples: np.ndarray) -> dict[str, np.ndarray]:
    returns = log_returns(cube.price)
    real_return = cube.real.copy()  # a return that touches an interpolated price stays out of the fits
    real_return[:, 1:] &= cube.real[:, :-1]
    train_origins = prep.ends & (prep.labels == TRAIN)[None, :]
    first_train, last_train = (int(k) for k in np.flatnonzero(prep.labels == TRAIN)[[0, -1]])
    horizon = cube.mode.horizon
    fits: dict[str, tuple[np.ndarray, ...]] = {
        "zero_ewma": ewma(returns),
        "historical": historical(cube.target, train_origins),
        "garch": garch11(returns, last_train, horizon=horizon, train_start=first_train, fit_ok=real_return),
        "gjr_garch_t": gjr_garch_t(returns, last_train, horizon=horizon, train_start=first_train, fit_ok=real_return),
        "har": har_range(
            cube.prices["open"],
            cube.prices["high"],
            cube.prices["low"],
            cube.prices["close"],
            last_train,
            execution=cube.mode,
            train_start=first_train,
            fit_ok=cube.real,
        ),
    }
    i, t = samples[:, 0], samples[:, 1]
    out: dict[str, np.ndarray] = {}
    for name, arrays in fits.items():
        out[f"{name}_mean"], out[f"{name}_var"] = arrays[0][i, t], arrays[1][i, t]
        if len(arrays) > 2:
            out[f"{name}_dof"] = arrays[2][i, t]
    return out


def _parts(prep: Prepared, members: list[tuple[Prediction, float | None]]) -> list[Predictive]:
    """Each network's predictive distribution of the log return (scaled back from the network's units)."""
    s = prep.scaler.target_scale
    parts = []
    for pred, residual_var in members:
        var = pred.var if residual_var is None else np.full_like(pred.var, residual_var)
        parts.append(Predictive.single(pred.mean * s, var * s * s, pred.dof))
    return parts


def _shrinkage(
    setting: str | float, prep: Prepared, models: list[Any], residual_vars: list[float | None], device: Any
) -> Shrinkage:
    """The mean shrinkage of one fold: for ``auto``, chosen by the NLL of the networks' forecasts of the fold's
    validation block; the test block takes no part."""
    if setting != "auto":
        return resolve(setting)
    samples = prep.samples(VAL)
    ds = prep.dataset(samples, with_target=True)
    preds = [(predict(m, ds, device=device), rv) for m, rv in zip(models, residual_vars, strict=True)]
    return resolve(setting, Predictive.mixture(_parts(prep, preds)), prep.cube.target[samples[:, 0], samples[:, 1]])


def scored_frame(
    cube: FeatureCube,
    prep: Prepared,
    samples: np.ndarray,
    members: list[tuple[Prediction, float | None]],
    *,
    baselines_too: bool = True,
    shrinkage: float = 1.0,
) -> pd.DataFrame:
    """The scoring frame of ``samples``: the LSTM's forecasts, scaled back to log returns, and, with
    ``baselines_too``, every baseline's beside them.

    ``members`` holds each network's prediction and, with the MSE loss, its validation residual variance (the
    variance of every forecast). One network gives ``lstm_mean``, ``lstm_var`` and, for a Student-t,
    ``lstm_dof``; an ensemble gives each member's as ``lstm#k_mean`` ... and, as ``lstm_mean`` and ``lstm_var``,
    the moments of their equal mixture (:class:`forecasting.model.distributions.Predictive`). The mean is scaled
    by ``shrinkage`` (every member shifted alike); ``lstm_raw_mean`` keeps the mean before.
    """
    frame = _frame(cube, samples, prep.labels)
    parts = _parts(prep, members)
    raw = Predictive.mixture(parts).mean
    shift = (shrinkage - 1.0) * raw
    parts = [Predictive(p.means + shift, p.variances, p.dofs) for p in parts]
    frame["lstm_raw_mean"] = raw
    if len(parts) == 1:
        frame["lstm_mean"], frame["lstm_var"] = parts[0].mean, parts[0].var
        if parts[0].dofs is not None:
            frame["lstm_dof"] = parts[0].dofs[0]
    else:
        for k, part in enumerate(parts):
            frame[f"lstm#{k}_mean"], frame[f"lstm#{k}_var"] = part.mean, part.var
            if part.dofs is not None:
                frame[f"lstm#{k}_dof"] = part.dofs[0]
        mixture = Predictive.mixture(parts)
        frame["lstm_mean"], frame["lstm_var"] = mixture.mean, mixture.var
    if baselines_too:
        for col, values in baselines(cube, prep, samples).items():
            frame[col] = values
    return frame


def check_folds(cube: FeatureCube, folds: list[Fold], window: int) -> None:
    """Refuse, before any training, walk-forward folds that cannot learn or be scored: a fold without a training
    or validation window whose target is realised (the schedule's date arithmetic cannot see tickers that have no
    data there), or an out-of-sample period without one realised target."""
    from forecasting.preparation.windows import valid_ends

    realised = valid_ends(cube.x, cube.origin_ok, window) & np.isfinite(cube.target)
    for k, fold in enumerate(folds):
        for label, name, fix in ((TRAIN, "training", "an earlier --oos-start"), (VAL, "validation", "more --val-days")):
            if not (realised & (fold.labels == label)[None, :]).any():
                raise ConfigError(
                    f"the fold refitted on {fold.block(TEST)[0]:%Y-%m-%d} (fold {k + 1}) has no {name} window with a "
                    f"realised target; give {fix}"
                )
    tested = np.logical_or.reduce([fold.labels == TEST for fold in folds])
    if not (realised & tested[None, :]).any():
        first = folds[0].block(TEST)[0]
        raise ConfigError(
            f"--oos-start {first:%Y-%m-%d} leaves no out-of-sample forecast with a realised return (a target ends "
            f"{cube.mode.horizon} trading day{'s' if cube.mode.horizon > 1 else ''} after its origin); give an earlier "
            "--oos-start"
        )


def fit_fold(
    cube: FeatureCube,
    fold: Fold,
    index: int,
    n_folds: int,
    config: Any,
    *,
    in_sample: bool = False,
    init: list[dict[str, Any]] | None = None,
    hook: EpochHook | None = None,
    threads: int | None = None,
    say: Callable[[str], None] | None = None,
    baselines_too: bool = True,
) -> FoldResult:
    """Train ``config.ensemble`` networks on ``fold`` and score their forecasts of its test block (with
    ``in_sample``, of its training and validation blocks too) beside the baselines fitted on its training block.

    ``config`` is a :class:`forecasting.config.ForecastConfig`; ``init`` the state dicts each member starts
    from (a warm start); ``hook`` gives each training's per-epoch callback; ``say`` hears a line before the
    baselines' fits, which take a while. With ``threads`` the process takes that many CPU threads (a worker
    process of a parallel run). Without ``baselines_too`` no baseline is fitted (a refit trains the networks
    alone): the training, the mean shrinkage and the networks' forecasts are the same.
    """
    from forecasting.model.threads import shared_threads

    started = time.perf_counter()
    with shared_threads(threads) if threads is not None else nullcontext():
        prep = prepare(cube, fold, config.window)
        device = resolve_device(config.device)
        train_ds = prep.dataset(prep.samples(TRAIN), with_target=True)
        val_ds = prep.dataset(prep.samples(VAL), with_target=True)
        wanted = [TRAIN, VAL, TEST] if in_sample else [TEST]
        samples = np.concatenate([prep.samples(lab, with_target=False) for lab in wanted])
        samples = samples[np.lexsort((samples[:, 0], samples[:, 1]))]
        to_predict = prep.dataset(samples, with_target=False)
        to_returns = LossInReturns(config.loss, prep.scaler.target_scale)
        out = FoldResult(
            index=index,
            scored=pd.DataFrame(),
            networks=[],
            residual_vars=[],
            shrinkage=resolve(1.0),
            scaler=prep.scaler.to_dict(),
            scale=prep.scaler.target_scale,
            trained_through=trained_through(fold, cube.mode.horizon),
        )
        members = []
        for member in range(config.ensemble):
            tag = " ".join(
                t
                for t in (
                    f"fold {index + 1}/{n_folds}" if n_folds > 1 else "",
                    f"member {member + 1}/{config.ensemble}" if config.ensemble > 1 else "",
                )
                if t
            )
            result = train_model(
                train_ds,
                val_ds,
                config.model_config(),
                config.train_config(member),
                on_epoch=hook(index, member, tag, to_returns) if hook is not None else None,
                init=init[member] if init is not None else None,
            )
            out.histories.append(result.history)
            out.best_epochs.append(result.best_epoch)
            out.speeds.append(result.windows_per_second)
            out.tags.append(tag)
            members.append((predict(result.model, to_predict, device=device), result.residual_var))
            out.networks.append(result.model.cpu())
            out.residual_vars.append(result.residual_var)
        if say is not None and baselines_too:
            say(
                f"{'fold ' + str(index + 1) + '/' + str(n_folds) + ': ' if n_folds > 1 else ''}fitting the baselines "
                f"(GARCH, GJR-GARCH-t, HAR, ...) and scoring {len(samples):,} forecasts"
            )
        out.shrinkage = _shrinkage(config.mean_shrinkage, prep, out.networks, out.residual_vars, resolve_device("cpu"))
        scored = scored_frame(cube, prep, samples, members, baselines_too=baselines_too, shrinkage=out.shrinkage.factor)
        scored["fold"] = index + 1
        scored["trained_through"] = out.trained_through
        out.scored = scored
    out.seconds = time.perf_counter() - started
    return out


def run_folds(
    cube: FeatureCube,
    folds: list[Fold],
    config: Any,
    *,
    jobs: int = 1,
    cluster: str | None = None,
    warm: bool = False,
    hook: EpochHook | None = None,
    say: Callable[[str], None] | None = None,
    on_fold: Callable[[FoldResult], None] | None = None,
) -> list[FoldResult]:
    """Every fold's :class:`FoldResult`, in order: one after another (each starting from the previous fold's
    weights with ``warm``), or ``jobs`` at a time in worker processes, or on the Dask cluster at ``cluster``.

    ``hook`` gives per-epoch callbacks and ``say`` hears progress lines where folds run in this process;
    ``on_fold`` hears of each finished fold.
    """
    n = len(folds)
    if warm and (jobs > 1 or cluster):
        raise ConfigError(
            "--warm-start trains each fold from the one before, so folds cannot run in parallel; "
            "use --cold-start with --jobs or --cluster"
        )
    if jobs < 1:
        raise ConfigError(f"--jobs {jobs} must be 1 or more")
    if jobs == 1 and not cluster:
        results: list[FoldResult] = []
        for k, fold in enumerate(folds):
            init = [net.state_dict() for net in results[-1].networks] if warm and results else None
            results.append(fit_fold(cube, fold, k, n, config, in_sample=k == 0, init=init, hook=hook, say=say))
            if on_fold is not None:
                on_fold(results[-1])
        return results
    return _parallel(cube, folds, config, jobs=jobs, cluster=cluster, on_fold=on_fold)


def _parallel(
    cube: FeatureCube,
    folds: list[Fold],
    config: Any,
    *,
    jobs: int,
    cluster: str | None,
    on_fold: Callable[[FoldResult], None] | None,
) -> list[FoldResult]:
    import joblib

    from forecasting.model.threads import cores

    n = len(folds)
    # a worker's share of the cores: this machine's split between the jobs, or one thread on a cluster's worker
    threads = config.threads or (1 if cluster else max(1, cores() // jobs))
    tasks = (
        joblib.delayed(fit_fold)(cube, fold, k, n, config, in_sample=k == 0, threads=threads)
        for k, fold in enumerate(folds)
    )
    with _backend(cluster, jobs) as n_jobs:
        runner = joblib.Parallel(n_jobs=n_jobs, return_as="generator")
        results = []
        for result in runner(tasks):
            results.append(result)
            if on_fold is not None:
                on_fold(result)
    return results


@contextmanager
def _backend(cluster: str | None, jobs: int) -> Iterator[int]:
    """joblib's loky processes, or the Dask cluster whose scheduler is at ``cluster``."""
    import joblib

    if not cluster:
        with joblib.parallel_config(backend="loky"):
            yield jobs
        return
    try:
        from dask.distributed import Client
    except ImportError:
        raise ConfigError(
            "--cluster needs Dask's distributed scheduler; pip install 'qtrade[cluster]' (dask[distributed])"
        ) from None
    try:
        client = Client(cluster, timeout="10s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise ConfigError(
            f"--cluster {cluster}: no Dask scheduler answers there ({type(exc).__name__}); start one "
            "(dask scheduler) or give its address, tcp://host:8786"
        ) from None
    try:
        with joblib.parallel_config(backend="dask"):
            yield -1
    finally:
        client.close()
