"""``qtrade forecast``: train (or load) the LSTM-MLE model, forecast, score beside the baselines, write outputs.

Outputs in the run folder:

- ``forecasts.csv`` and ``forecasts.parquet``: date (the forecast origin t), ticker, mean, variance (of the
  return the execution mode holds, log(P_{t+lag+1} / P_{t+lag}): by default from the close of t+1 to the
  close of t+2), target (that return; empty where it is not realised yet), split, execution (the mode's
  name, see :mod:`forecasting.preparation.execution`);
- ``metrics.json``: every score of the LSTM and the baselines per split, overall and per ticker, with the
  execution and its target in words;
- ``model.pt``: the checkpoint (it records the execution); a walk-forward's is its last fold's, and
  ``folds/<refit date>/model.pt`` each earlier fold's (``qtrade signal`` and ``qtrade paper`` forecast a past
  close with the model in force there); ``training_curve.png``, ``pit.png``; ``manifest.json``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecasting.atomic import atomic_path, write_text
from forecasting.config import ForecastConfig  # re-exported: callers import it from here
from forecasting.errors import CheckpointError, ConfigError
from forecasting.evaluation.baselines import min_training_dates
from forecasting.evaluation.by_fold import fold_gaps, fold_report
from forecasting.evaluation.plots import plot_folds, plot_pit, plot_training_curve
from forecasting.evaluation.scoring import common_rows, evaluate, predictive
from forecasting.folds import FoldResult, LossInReturns, check_folds, run_folds, scored_frame
from forecasting.manifest import qtrade_version, run_manifest
from forecasting.market.cleaning import clean_panel
from forecasting.market.summary import check_window
from forecasting.model.checkpoint import load_checkpoint, save_checkpoint
from forecasting.model.distributions import Predictive
from forecasting.model.threads import shared_threads
from forecasting.model.training import predict, resolve_device
from forecasting.outputs import check_out, clear_previous, written
from forecasting.preparation.dataset import Prepared, prepare
from forecasting.preparation.execution import execution_mode
from forecasting.preparation.features import FEATURES, FeatureCube, build_features
from forecasting.preparation.scaling import ZScoreScaler
from forecasting.preparation.schedule import trained_through, walk_forward_folds
from forecasting.preparation.splits import (
    SPLIT_NAMES,
    TEST,
    TRAIN,
    UNUSED,
    VAL,
    Fold,
    chronological_split,
    minimum_dates,
)
from forecasting.preparation.windows import valid_ends
from forecasting.progress import console as progress_console
from forecasting.progress import fold_progress

FOLDS = "folds"
"""The folder of a walk-forward run that holds each earlier fold's model, one folder per refit date (YYYY-MM-DD);
the last fold's is the run's ``model.pt``."""

__all__ = [
    "FORECAST_COLUMNS",
    "ForecastConfig",
    "ForecastRun",
    "checkpoint_meta",
    "folds_of",
    "predict_with_model",
    "run_forecast",
]

FORECAST_COLUMNS = [
    "date",
    "ticker",
    "mean",
    "variance",
    "dof",
    "target",
    "split",
    "fold",
    "trained_through",
    "execution",
]
MODELS = ["lstm", "zero_ewma", "historical", "garch", "gjr_garch_t", "har"]


@dataclass
class ForecastRun:
    """What a run produced: the forecasts, the scoring frame (every model), the metrics and the folds."""

    forecasts: pd.DataFrame
    scored: pd.DataFrame
    metrics: dict[str, Any]
    histories: list[list[dict[str, float]]]
    best_epochs: list[int]
    out: Path | None = None


def folds_of(cube: FeatureCube, config: ForecastConfig) -> list[Fold]:
    """The run's folds: one chronological split, or one per refit of its walk-forward schedule."""
    embargo = config.split_embargo
    schedule = config.schedule(cube.dates)
    if schedule is None:
        return [chronological_split(cube.dates, val=config.val, test=config.test, embargo=embargo)]
    with_window = np.flatnonzero(valid_ends(cube.x, cube.origin_ok, config.window).any(axis=0))
    first_origin = int(with_window[0]) if len(with_window) else len(cube.dates)
    return walk_forward_folds(
        cube.dates,
        schedule,
        embargo=embargo,
        first_origin=first_origin,
        train_dates=min_training_dates(cube.mode.horizon),
    )


def lstm_label(dist: str, ensemble: int) -> str:
    """The LSTM's name in tables: its predictive distribution and, for an ensemble, the number of seeds.

    >>> lstm_label("normal", 1), lstm_label("studentt", 3)
    ('LSTM-MLE (normal)', 'LSTM-MLE (Student-t, 3 seeds)')
    """
    parts = ["Student-t" if dist == "studentt" else "normal"] + ([f"{ensemble} seeds"] if ensemble > 1 else [])
    return f"LSTM-MLE ({', '.join(parts)})"


def check_blocks(prep: Prepared, config: ForecastConfig, source: str) -> None:
    """Refuse, before any training, a split that cannot be scored: a training, validation or test block without
    a forecast whose target is realised, or a training block too short for the baselines' fits (about 100
    returns, :func:`forecasting.evaluation.baselines.min_training_dates`); the message names the fewest trading days the
    settings need."""
    cube = prep.cube
    empty = [SPLIT_NAMES[label] for label in (TRAIN, VAL, TEST) if not len(prep.samples(label))]
    train = np.flatnonzero(prep.labels == TRAIN)
    train_dates = min_training_dates(cube.mode.horizon)
    short = len(train) < train_dates
    if not empty and not short:
        return
    with_history = np.flatnonzero(prep.ends.any(axis=0))
    first_origin = int(with_history[0]) if len(with_history) else len(cube.dates) + config.window
    need = minimum_dates(
        first_origin,
        horizon=cube.mode.horizon,
        val=config.val,
        test=config.test,
        embargo=config.split_embargo,
        train_dates=train_dates,
    )
    what = (
        f"leave the {' and '.join(empty)} block{'s' if len(empty) > 1 else ''} without a forecast to score"
        if empty
        else f"give a training block of {len(train)} days, too few for the baselines' fits ({train_dates} days)"
    )
    fix = "give more data or a shorter --window" if empty else "give more data"
    raise ConfigError(
        f"{source}: {len(cube.dates)} trading days {what}; with --window {config.window} the split needs "
        f"at least {need} days of data, so {fix}"
    )


def shrinkage_report(
    scored: pd.DataFrame, setting: dict[str, Any], folds: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The mean shrinkage of a run (``setting``, and each fold's with walk-forward folds) and, on the test rows
    every model is scored on, the LSTM's NLL and R2 against a zero mean before and after it."""
    out = {**setting, **({"folds": folds} if folds else {})}
    test = common_rows(scored[scored["split"] == "test"], MODELS)
    if test.empty:
        return out
    y = test["target"].to_numpy()
    after = predictive(test, "lstm")
    before = Predictive(after.means + (test["lstm_raw_mean"].to_numpy() - after.mean), after.variances, after.dofs)
    out["test"] = {
        name: {"nll": float(np.mean(-p.logpdf(y))), "r2_vs_zero": 1.0 - float(np.sum((y - p.mean) ** 2) / np.sum(y**2))}
        for name, p in (("unshrunk", before), ("shrunk", after))
    }
    out["test"]["n"] = len(test)
    return out


def _forecasts(scored: pd.DataFrame, cube: FeatureCube) -> pd.DataFrame:
    """The forecasts file's rows: the LSTM's mean, variance and Student-t degrees of freedom (empty for a normal
    forecast, and for an ensemble, whose mixture is no Student-t), named for the execution whose target they
    hold; an ensemble adds each member's ``m<k>_mean``, ``m<k>_variance`` and ``m<k>_dof``, whose equal-weight
    mixture is the forecast."""
    renamed = scored.rename(columns={"lstm_mean": "mean", "lstm_var": "variance", "lstm_dof": "dof"})
    if "dof" not in renamed:
        renamed["dof"] = np.nan
    members = sorted(
        {c.split("_")[0] for c in scored.columns if c.startswith("lstm#") and c.endswith("_mean")},
        key=lambda m: int(m.split("#")[1]),
    )
    extra = {}
    for k, m in enumerate(members, start=1):
        extra[f"m{k}_mean"] = scored[f"{m}_mean"]
        extra[f"m{k}_variance"] = scored[f"{m}_var"]
        extra[f"m{k}_dof"] = scored.get(f"{m}_dof", np.nan)
    out = renamed.assign(execution=cube.execution)[FORECAST_COLUMNS]
    return out.assign(**extra) if extra else out


def run_forecast(
    panel: pd.DataFrame,
    config: ForecastConfig,
    out: str | os.PathLike[str] | None,
    *,
    source: str = "data",
    progress: bool = True,
) -> ForecastRun:
    """Train, forecast and score; write the outputs to ``out`` (nothing is written when it is ``None``).

    Examples
    --------
    >>> from forecasting.market.synthetic import synthetic_panel
    >>> run = run_forecast(synthetic_panel(2, 300), ForecastConfig(window=10, hidden=8, epochs=2), None,
    ...                    progress=False)
    >>> list(run.forecasts.columns)
    ['date', 'ticker', 'mean', 'variance', 'dof', 'target', 'split', 'fold', 'trained_through', 'execution']
    >>> run.metrics["target"]
    'log return from the close of t+1 to the close of t+2'
    """
    started = time.perf_counter()
    if out is not None:
        check_out(out)
    console = progress_console(progress)
    device = resolve_device(config.device)
    clean = clean_panel(panel, max_gap=config.max_gap, calendar=config.calendar)
    check_window(clean, config.window, source)
    cube = build_features(clean, execution=config.execution)
    folds = folds_of(cube, config)
    if config.walk_forward:  # before any line is printed
        check_folds(cube, folds, config.window)
    else:
        check_blocks(prepare(cube, folds[0], config.window), config, source)
    with shared_threads(config.threads) as threads, fold_progress(console, config, device, len(folds)) as shown:
        results = run_folds(
            cube,
            folds,
            config,
            jobs=config.jobs,
            cluster=config.cluster,
            warm=config.warm_start,
            hook=shown.hook,
            say=shown.say,
            on_fold=shown.on_fold,
        )
    scored = pd.concat([r.scored for r in results], ignore_index=True).sort_values(
        ["date", "ticker"], ignore_index=True
    )
    histories = [h for r in results for h in r.histories]
    best_epochs = [b for r in results for b in r.best_epochs]
    labels = [t for r in results for t in r.tags]
    scales = [r.scale for r in results for _ in r.histories]
    metrics = evaluate(scored, MODELS, execution=cube.execution)
    metrics["models"]["lstm"] = lstm_label(config.distribution, config.ensemble)
    last = results[-1]
    metrics["mean_shrinkage"] = shrinkage_report(
        scored, last.shrinkage.to_dict(), [r.shrinkage.to_dict() for r in results] if len(folds) > 1 else None
    )
    schedule = config.schedule(cube.dates)
    if schedule is not None:
        headline = metrics.get("test", {}).get("diebold_mariano", {}).get("against")
        metrics["walk_forward"] = fold_report(
            scored, results, folds, schedule, MODELS, opponent=headline, horizon=cube.mode.horizon
        )
    metrics["run"] = {
        "folds": [f.describe() for f in folds],
        "best_epochs": best_epochs,
        "epochs_run": [len(h) for h in histories],
        "training_windows_per_second": [s for r in results for s in r.speeds],
        "fold_seconds": [round(r.seconds, 2) for r in results],
        "warm_start": config.warm_start,
        "jobs": config.jobs,
        "cluster": config.cluster,
        "device": str(device),
        "cpu_threads": threads,
        "seconds": round(time.perf_counter() - started, 2),
        "repaired_values": clean.repaired,
        "calendar": clean.calendar or "none",
    }
    forecasts = _forecasts(scored, cube)
    run = ForecastRun(forecasts, scored, metrics, histories, best_epochs)
    if out is not None:
        run.out = Path(out)
        meta = checkpoint_meta(
            config, cube, folds[-1], last, fold_number=len(folds), calendar=clean.calendar, source=source
        )
        _write_outputs(run, panel, config, source, meta, last.networks, labels, scales)
        for k, (fold, result) in enumerate(zip(folds[:-1], results[:-1], strict=True)):  # each earlier fold's model
            earlier = checkpoint_meta(
                config, cube, fold, result, fold_number=k + 1, calendar=clean.calendar, source=source
            )
            folder = run.out / FOLDS / f"{fold.block(TEST)[0]:%Y-%m-%d}"
            folder.mkdir(parents=True, exist_ok=True)
            save_checkpoint(folder / "model.pt", result.networks, earlier)
        metrics["run"]["seconds"] = round(time.perf_counter() - started, 2)
    return run


def checkpoint_meta(
    config: ForecastConfig,
    cube: FeatureCube,
    fold: Fold,
    result: FoldResult,
    *,
    fold_number: int,
    calendar: str | None,
    source: str,
) -> dict[str, Any]:
    """What a checkpoint records beside the networks of ``result``, trained on ``fold`` (number ``fold_number``,
    from 1) of ``cube``: everything :func:`predict_with_model` needs to forecast as the run did (features, window,
    cleaning, target, scaler, residual variances, split, mean shrinkage) and what the run was."""
    return {
        "qtrade_version": qtrade_version(),
        "features": list(cube.features),
        "window": config.window,
        "max_gap": config.max_gap,
        "calendar": calendar or "none",
        "loss": config.loss,
        "execution": config.execution,
        "scaler": result.scaler,
        "residual_var": result.residual_vars[0],
        "residual_vars": result.residual_vars,
        "dist": config.distribution,
        "ensemble": config.ensemble,
        "split_dates": _split_dates(fold),
        "trained_through": f"{result.trained_through:%Y-%m-%d}",
        "fold": fold_number,
        "mean_shrinkage": result.shrinkage.to_dict(),
        "training_starts": _training_starts(cube, fold.labels),
        "config": asdict(config),
        "source": source,
    }


def _split_dates(fold: Fold) -> dict[str, str]:
    """The last date of the training and validation blocks (``train``, ``val``) and the first of every block."""
    last = {name: f"{fold.block(label)[-1]:%Y-%m-%d}" for label, name in SPLIT_NAMES.items() if label != TEST}
    return {**last, **{f"{name}_start": f"{fold.block(label)[0]:%Y-%m-%d}" for label, name in SPLIT_NAMES.items()}}


def _training_starts(cube: FeatureCube, labels: np.ndarray) -> dict[str, str]:
    """Each ticker's first date with a real price in the training block: where its baselines' fits begin."""
    ok = np.isfinite(cube.price) & cube.real & (labels == TRAIN)[None, :]
    return {
        str(ticker): f"{cube.dates[np.argmax(row)]:%Y-%m-%d}"
        for ticker, row in zip(cube.tickers, ok, strict=True)
        if row.any()
    }


def _uncovered(cube: FeatureCube, labels: np.ndarray, meta: dict[str, Any]) -> str | None:
    """Why the baselines cannot be fitted on the model's own training block with this data, or None if they can.

    The baselines of ``qtrade forecast`` are fitted on each ticker's rows of the training block; scores beside
    them are those of the training run only when the data holds the whole block: from its first date (and each
    ticker's first training date, which newer checkpoints record) to its last.
    """
    split = meta["split_dates"]
    start, end = split.get("train_start"), split["train"]
    block = f"{start} to {end}" if start else f"ending {end}"
    need = f"give data from {start} to {end} or later" if start else f"give data up to {end} or later"
    first, last = f"{cube.dates[0]:%Y-%m-%d}", f"{cube.dates[-1]:%Y-%m-%d}"
    problems = []
    if start and first > start:
        problems.append(f"the data starts {first}")
    if last < end:
        problems.append(f"the data ends {last}")
    if not problems:
        here = _training_starts(cube, labels)
        late = [
            f"{t} from {here[t]} (trained from {d})"
            for t, d in meta.get("training_starts", {}).items()
            if t in here and here[t] > d
        ]
        if late:
            problems.append(
                f"{len(late)} ticker{'s' if len(late) > 1 else ''} start{'' if len(late) > 1 else 's'} "
                f"later: {', '.join(late[:5])}{' ...' if len(late) > 5 else ''}"
            )
            need = "give each ticker's data from its first training date"
    if not problems:
        return None
    return (
        f"not scored: the baselines are fitted on the model's training block ({block}), which this data does "
        f"not hold whole ({'; '.join(problems)}); {need} to have the forecasts scored beside them"
    )


def _saved_labels(dates: pd.DatetimeIndex, split_dates: dict[str, str], embargo: int) -> np.ndarray:
    """The split of ``dates`` a checkpoint was trained with: its blocks, and the embargo dates between them unused.

    Checkpoints that record only the last training and validation dates have the blocks start ``embargo``
    dates after the block before, as the training run's split had them; dates before the data's first are
    training dates.
    """
    labels = np.full(len(dates), UNUSED, dtype=np.int8)
    train_end, val_end = pd.Timestamp(split_dates["train"]), pd.Timestamp(split_dates["val"])

    def start(name: str, after: pd.Timestamp) -> pd.Timestamp:
        if f"{name}_start" in split_dates:
            return pd.Timestamp(split_dates[f"{name}_start"])
        k = int(dates.searchsorted(after, side="right")) + embargo
        return dates[k] if k < len(dates) else dates[-1] + pd.Timedelta(days=1)

    train_start = pd.Timestamp(split_dates.get("train_start", dates[0]))
    labels[(dates >= train_start) & (dates <= train_end)] = TRAIN
    labels[(dates >= start("val", train_end)) & (dates <= val_end)] = VAL
    labels[dates >= start("test", val_end)] = TEST
    return labels


def _write_forecasts(forecasts: pd.DataFrame, out: Path) -> None:
    frame = forecasts.copy()
    frame["split"] = frame["split"].astype(str)
    with atomic_path(out / "forecasts.csv") as tmp:
        frame.to_csv(tmp, index=False, date_format="%Y-%m-%d", float_format="%.10g")
    with atomic_path(out / "forecasts.parquet") as tmp:
        frame.to_parquet(tmp, index=False)


def _write_outputs(
    run: ForecastRun,
    panel: pd.DataFrame,
    config: ForecastConfig,
    source: str,
    meta: dict[str, Any],
    models: list[Any],
    labels: list[str],
    scales: list[float],
) -> None:
    out = run.out
    assert out is not None
    clear_previous(out)
    out.mkdir(parents=True, exist_ok=True)
    _write_forecasts(run.forecasts, out)
    save_checkpoint(out / "model.pt", models, meta)
    to_returns = [LossInReturns(config.loss, s) for s in scales]
    histories = [
        [{**h, "train_loss": f(h["train_loss"]), "val_loss": f(h["val_loss"])} for h in hist]
        for hist, f in zip(run.histories, to_returns, strict=True)
    ]
    plot_training_curve(
        histories,
        run.best_epochs,
        out / "training_curve.png",
        loss=config.loss,
        labels=labels,
        dist=config.distribution,
    )
    _write_metrics(run.metrics, out)
    manifest = run_manifest(
        command="forecast",
        seed=config.seed,
        panel=panel,
        source=source,
        config=asdict(config),
        extra={"calendar": meta["calendar"], "outputs": written(out)},
    )
    write_text(out / "manifest.json", json.dumps(manifest, indent=2, default=_json_default))


def _write_metrics(metrics: dict[str, Any], out: Path) -> None:
    """``metrics.json``, the calibration chart of the test block and a walk-forward's fold by fold chart."""
    test = metrics.get("test", {})
    if isinstance(test, dict) and "overall" in test:
        hists = {metrics["models"][m]: s["pit_histogram"] for m, s in test["overall"].items()}
        plot_pit(hists, out / "pit.png", title="Calibration on the test block (PIT)")
    if metrics.get("walk_forward") and fold_gaps(metrics["walk_forward"]):
        plot_folds(fold_gaps(metrics["walk_forward"]), metrics["models"], out / "walk_forward.png")
    write_text(out / "metrics.json", json.dumps(metrics, indent=2, default=_json_default))


def _json_default(o: object) -> object:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, pd.Timestamp):
        return f"{o:%Y-%m-%d}"
    raise TypeError(type(o).__name__)


def predict_with_model(
    panel: pd.DataFrame,
    model_path: str | os.PathLike[str],
    out: str | os.PathLike[str] | None,
    *,
    source: str = "data",
    device: str = "auto",
    score: bool = True,
    execution: str | None = None,
    calendar: str = "auto",
    origins_from: pd.Timestamp | None = None,
) -> ForecastRun:
    """Forecast every valid origin of ``panel`` with a saved model; no training.

    ``origins_from`` keeps only the origins on or after that date (``qtrade signal`` forecasts the last close
    alone); every origin's window and features are the same as when all are forecast. The last origin of the
    data, whose target is not realised yet, is forecast too (its ``target`` is NaN).

    The split column follows the split the model was trained with: its training, validation and test blocks,
    with the embargo dates between them left out, so that the test rows are the training run's (and later
    dates, on data that runs on, are test dates too). A walk-forward run's checkpoint is its last fold's model,
    so its split is that fold's: its test rows are the last fold's test block. With ``score``, the forecasts are
    scored beside the baselines on the same dates, as ``qtrade forecast`` scores them, only when ``panel`` holds
    the model's whole training block, on which the baselines are fitted: from its first date to its last, and each
    ticker from its first training date (recorded by checkpoints since issue 18). Otherwise no baseline is refitted
    on a shorter block: the forecasts are written unscored and ``metrics`` holds only a ``note`` that names the
    dates needed.

    The forecasts and scores are of the target the model was trained for: the checkpoint's ``execution``
    (``same-close``, the only target there was, for a checkpoint that does not record one). ``execution``, when
    given, must be that one. ``calendar`` gives the trading days, as for :class:`ForecastConfig`; ``auto`` takes
    the one the model was trained on (the checkpoint records it).
    """
    ckpt = load_checkpoint(model_path)
    meta = ckpt.meta
    if meta.get("features") != list(FEATURES):
        raise CheckpointError(
            f"{model_path}: made for features {meta.get('features')}, this qtrade builds {list(FEATURES)}; retrain"
        )
    trained_for = execution_mode(str(meta.get("execution", "same-close"))).name
    if execution is not None and execution_mode(execution).name != trained_for:
        raise ConfigError(
            f"{model_path}: trained to forecast the return of --execution {trained_for}, not "
            f"{execution_mode(execution).name}; leave --execution out, or retrain with it"
        )
    started = time.perf_counter()
    if out is not None:
        check_out(out)
        model_dir = Path(model_path) if Path(model_path).is_dir() else Path(model_path).parent
        if Path(out).resolve() == model_dir.resolve():
            raise ConfigError(
                f"--out {out} is the folder of the model read; give another folder, so that the "
                "training run's files are kept"
            )
    window = int(meta["window"])
    if calendar == "auto" and meta.get("calendar"):
        calendar = str(meta["calendar"])
    clean = clean_panel(panel, max_gap=int(meta.get("max_gap", 5)), calendar=calendar)
    check_window(clean, window, source)
    cube = build_features(clean, execution=trained_for)
    dates = cube.dates
    config = meta.get("config", {})
    embargo = config.get("embargo")
    embargo = execution_mode(trained_for).horizon if embargo is None else int(embargo)
    labels = _saved_labels(dates, meta["split_dates"], embargo)
    scaler = ZScoreScaler.from_dict(meta["scaler"])
    prep = prepare(cube, Fold(labels, dates), window, scaler=scaler)
    wanted = labels != UNUSED
    if origins_from is not None:
        wanted &= dates >= pd.Timestamp(origins_from)
    samples = np.argwhere(prep.ends & wanted[None, :])
    samples = samples[np.lexsort((samples[:, 0], samples[:, 1]))]
    dev = resolve_device(device)
    to_predict = prep.dataset(samples, with_target=False)
    residual_vars = meta.get("residual_vars", [meta.get("residual_var")])
    members = [
        (predict(network.to(dev), to_predict, device=dev), None if rv is None else float(rv))
        for network, rv in zip(ckpt.models, residual_vars, strict=False)
    ]
    uncovered = _uncovered(cube, labels, meta)
    if uncovered is None and not (prep.ends & (labels == TRAIN)[None, :] & np.isfinite(cube.target)).any():
        uncovered = "not scored: the data holds no realised target in the model's training block"
    fitted = uncovered is None
    saved_shrinkage = dict(meta.get("mean_shrinkage", {"factor": 1.0, "mode": "none"}))
    scored = scored_frame(
        cube, prep, samples, members, baselines_too=score and fitted, shrinkage=float(saved_shrinkage["factor"])
    )
    scored["fold"] = int(meta.get("fold", 1))
    if "trained_through" in meta:
        scored["trained_through"] = pd.Timestamp(meta["trained_through"])
    else:  # checkpoints before issue 19: the last validation target's price, on this data's calendar
        used = (labels == TRAIN) | (labels == VAL)
        scored["trained_through"] = trained_through(Fold(labels, dates), cube.mode.horizon) if used.any() else pd.NaT

    if score and fitted:
        metrics: dict[str, Any] = evaluate(scored, MODELS, execution=cube.execution)
        metrics["models"]["lstm"] = lstm_label(str(meta.get("dist", "normal")), len(ckpt.models))
        metrics["mean_shrinkage"] = shrinkage_report(scored, {**saved_shrinkage, "from": "the checkpoint"})
        metrics["run"] = {
            "model": str(model_path),
            "device": str(dev),
            "seconds": round(time.perf_counter() - started, 2),
            "repaired_values": clean.repaired,
            "calendar": clean.calendar or "none",
        }
    else:
        metrics = {"note": "not scored" if not score else uncovered}
    forecasts = _forecasts(scored, cube)
    run = ForecastRun(forecasts, scored, metrics, [], [])
    if out is not None:
        run.out = o = Path(out)
        clear_previous(o)  # no scores or chart of another run may stand beside these forecasts
        o.mkdir(parents=True, exist_ok=True)
        _write_forecasts(forecasts, o)
        if "models" in metrics:
            _write_metrics(metrics, o)
        manifest = run_manifest(
            command="forecast --model",
            seed=int(meta["config"]["seed"]),
            panel=panel,
            source=source,
            config=meta["config"],
            extra={"model": str(model_path), "calendar": clean.calendar or "none", "outputs": written(o)},
        )
        write_text(o / "manifest.json", json.dumps(manifest, indent=2, default=_json_default))
    return run
