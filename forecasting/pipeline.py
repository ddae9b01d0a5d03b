"""``qtrade forecast``: train (or load) the LSTM-MLE model, forecast, score beside the baselines, write outputs.

Outputs in the run folder:

- ``forecasts.csv`` and ``forecasts.parquet``: date (the forecast origin t), ticker, mean, variance (of the
  return the execution mode holds, log(P_{t+lag+1} / P_{t+lag}): by default from the close of t+1 to the
  close of t+2), target (that return; empty where it is not realised yet), split, execution (the mode's
  name, see :mod:`forecasting.execution`);
- ``metrics.json``: every score of the LSTM and the baselines per split, overall and per ticker, with the
  execution and its target in words;
- ``model.pt``: the checkpoint (it records the execution); ``training_curve.png``, ``pit.png``; ``manifest.json``.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from forecasting.atomic import atomic_path, write_text
from forecasting.baselines import ewma, garch11, historical, log_returns
from forecasting.checkpoint import load_checkpoint, save_checkpoint
from forecasting.cleaning import clean_panel
from forecasting.dataset import Prepared, prepare
from forecasting.errors import CheckpointError, ConfigError
from forecasting.evaluation import evaluate
from forecasting.execution import DEFAULT_EXECUTION, execution_mode
from forecasting.features import FEATURES, FeatureCube, build_features
from forecasting.manifest import qtrade_version, run_manifest
from forecasting.model import ModelConfig
from forecasting.plots import plot_pit, plot_training_curve
from forecasting.scaling import ZScoreScaler
from forecasting.splits import SPLIT_NAMES, TEST, TRAIN, UNUSED, VAL, Fold, chronological_split, walk_forward_folds
from forecasting.summary import check_window
from forecasting.training import TrainConfig, WindowDataset, predict, resolve_device, train_model

__all__ = ["FORECAST_COLUMNS", "ForecastConfig", "ForecastRun", "predict_with_model", "run_forecast"]

FORECAST_COLUMNS = ["date", "ticker", "mean", "variance", "target", "split", "execution"]
MODELS = ["lstm", "zero_ewma", "historical", "garch"]


@dataclass(frozen=True)
class ForecastConfig:
    """Every setting of a forecasting run; ``qtrade forecast`` options map one to one onto these fields.

    ``execution`` (:mod:`forecasting.execution`) chooses the target: the return a position entered at the
    mode's fill holds. ``embargo`` dates are left out before the validation and test blocks; ``None`` means
    the target's horizon (``lag + 1``), the least that keeps every training target realised before the block
    that judges it.
    """

    window: int = 30
    hidden: int = 64
    layers: int = 2
    dropout: float = 0.2
    lr: float = 1e-3
    epochs: int = 30
    batch_size: int = 256
    patience: int = 5
    seed: int = 0
    device: str = "auto"
    loss: str = "nll"
    workers: int = 0
    max_gap: int = 5
    execution: str = DEFAULT_EXECUTION
    val: float = 0.15
    test: float = 0.15
    embargo: int | None = None
    walk_forward: int = 0
    walk_mode: str = "expanding"

    def __post_init__(self) -> None:
        mode = execution_mode(self.execution)  # an unknown mode: one line that lists the known ones
        object.__setattr__(self, "execution", mode.name)
        if self.embargo is not None and self.embargo < mode.horizon:
            raise ConfigError(
                f"--embargo {self.embargo} is shorter than the {mode.horizon}-day target of --execution {mode.name}; "
                f"use an embargo of {mode.horizon} or more, or leave it out to follow --execution"
            )
        if self.loss not in ("nll", "mse"):
            raise ConfigError(f"--loss {self.loss!r} is not known; use nll or mse")
        if self.window < 2:
            raise ConfigError(f"--window {self.window} is too short; use 2 or more")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"--dropout {self.dropout} must be in [0, 1)")
        if self.lr <= 0 or self.epochs < 1 or self.batch_size < 1 or self.hidden < 1 or self.layers < 1:
            raise ConfigError("--lr, --epochs, --batch-size, --hidden and --layers must be positive")

    @property
    def split_embargo(self) -> int:
        """The embargo the splits use: ``embargo``, or the horizon of the ``execution``'s target when None."""
        return execution_mode(self.execution).horizon if self.embargo is None else self.embargo

    def with_params(self, path: str | os.PathLike[str]) -> ForecastConfig:
        """Overrides from a JSON object of field names (``best_params.json`` of ``qtrade tune``).

        ``best_params.json`` records the execution its settings were tuned for beside them; a warning says so
        when it is not this config's.
        """
        p = Path(path)
        try:
            record = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{p}: cannot read parameters ({type(exc).__name__}); give a JSON object") from None
        params = record.get("params", record) if isinstance(record, dict) else record
        if not isinstance(params, dict):
            raise ConfigError(f"{p}: parameters must be a JSON object of setting names")
        known = {f.name: f.type for f in fields(self)}
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ConfigError(f"{p}: unknown setting(s) {', '.join(unknown)}; use names of qtrade forecast options")
        config = replace(self, **params)
        tuned_for = record.get("execution") if params is not record else None
        if tuned_for is not None and tuned_for != config.execution:
            warnings.warn(f"{p}: settings tuned for --execution {tuned_for} are used for {config.execution}; pass "
                          f"--execution {tuned_for} to forecast the return they were tuned on", stacklevel=2)
        return config

    def model_config(self) -> ModelConfig:
        return ModelConfig(n_features=len(FEATURES), hidden=self.hidden, layers=self.layers, dropout=self.dropout)

    def train_config(self) -> TrainConfig:
        return TrainConfig(
            epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, patience=self.patience,
            loss=self.loss, seed=self.seed, device=self.device, workers=self.workers,  # type: ignore[arg-type]
        )


@dataclass
class ForecastRun:
    """What a run produced: the forecasts, the scoring frame (every model), the metrics and the folds."""

    forecasts: pd.DataFrame
    scored: pd.DataFrame
    metrics: dict[str, Any]
    histories: list[list[dict[str, float]]]
    best_epochs: list[int]
    out: Path | None = None


def _folds(cube: FeatureCube, config: ForecastConfig) -> list[Fold]:
    embargo = config.split_embargo
    if config.walk_forward:
        return walk_forward_folds(cube.dates, config.walk_forward, mode=config.walk_mode,  # type: ignore[arg-type]
                                  val=config.val, test=config.test, embargo=embargo)
    return [chronological_split(cube.dates, val=config.val, test=config.test, embargo=embargo)]


def _dataset(prep: Prepared, samples: np.ndarray, *, with_target: bool) -> WindowDataset:
    return prep.dataset(samples, with_target=with_target)


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


def _baselines(cube: FeatureCube, prep: Prepared, samples: np.ndarray) -> dict[str, np.ndarray]:
    """Every baseline's forecast of the cube's target at ``samples``: the return series of the execution's price
    up to the origin, forecast ``horizon`` steps ahead (see :mod:`forecasting.baselines`)."""
    returns = log_returns(cube.price)
    real_return = cube.real.copy()  # a return that touches an interpolated price stays out of the fits
    real_return[:, 1:] &= cube.real[:, :-1]
    train_origins = prep.ends & (prep.labels == TRAIN)[None, :]
    first_train, last_train = (int(k) for k in np.flatnonzero(prep.labels == TRAIN)[[0, -1]])
    i, t = samples[:, 0], samples[:, 1]
    out: dict[str, np.ndarray] = {}
    for name, (m, v) in {
        "zero_ewma": ewma(returns),
        "historical": historical(cube.target, train_origins),
        "garch": garch11(returns, last_train, horizon=cube.mode.horizon, train_start=first_train,
                         fit_ok=real_return),
    }.items():
        out[f"{name}_mean"], out[f"{name}_var"] = m[i, t], v[i, t]
    return out


def _scored(cube: FeatureCube, prep: Prepared, samples: np.ndarray, mean: np.ndarray, var: np.ndarray,
            residual_var: float | None, *, baselines: bool = True) -> pd.DataFrame:
    """The scoring frame of ``samples``: the LSTM's forecasts (scaled back to log returns; with the MSE loss the
    variance is the validation residual variance) and, with ``baselines``, every baseline's beside them."""
    s = prep.scaler.target_scale
    frame = _frame(cube, samples, prep.labels)
    frame["lstm_mean"] = mean * s
    frame["lstm_var"] = (var if residual_var is None else np.full_like(var, residual_var)) * s * s
    if baselines:
        for col, values in _baselines(cube, prep, samples).items():
            frame[col] = values
    return frame


def _forecasts(scored: pd.DataFrame, cube: FeatureCube) -> pd.DataFrame:
    """The forecasts file's rows: the LSTM's mean and variance, named for the execution whose target they hold."""
    renamed = scored.rename(columns={"lstm_mean": "mean", "lstm_var": "variance"})
    return renamed.assign(execution=cube.execution)[FORECAST_COLUMNS]


def _console(progress: bool) -> Any:
    from rich.console import Console

    return Console(stderr=True, quiet=not progress)


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
    >>> from forecasting.synthetic import synthetic_panel
    >>> run = run_forecast(synthetic_panel(2, 300), ForecastConfig(window=10, hidden=8, epochs=2), None,
    ...                    progress=False)
    >>> list(run.forecasts.columns)
    ['date', 'ticker', 'mean', 'variance', 'target', 'split', 'execution']
    >>> run.metrics["target"]
    'log return from the close of t+1 to the close of t+2'
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    started = time.perf_counter()
    console = _console(progress)
    device = resolve_device(config.device)
    clean = clean_panel(panel, max_gap=config.max_gap)
    check_window(clean, config.window, source)
    cube = build_features(clean, execution=config.execution)
    folds = _folds(cube, config)
    frames, histories, best_epochs, speeds = [], [], [], []
    last: tuple[Any, Prepared] | None = None
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} epochs"),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        for k, fold in enumerate(folds):
            prep = prepare(cube, fold, config.window)
            train_ds = _dataset(prep, prep.samples(TRAIN), with_target=True)
            val_ds = _dataset(prep, prep.samples(VAL), with_target=True)
            tag = f"fold {k + 1}/{len(folds)} " if len(folds) > 1 else ""
            task = bar.add_task(f"{tag}training on {device.type}", total=config.epochs)

            def on_epoch(rec: dict[str, float], task: Any = task, tag: str = tag) -> None:
                bar.update(task, advance=1, description=(
                    f"{tag}epoch {int(rec['epoch'])}: train {rec['train_loss']:.4f} val {rec['val_loss']:.4f}"))

            result = train_model(train_ds, val_ds, config.model_config(), config.train_config(), on_epoch=on_epoch)
            bar.update(task, total=len(result.history))
            histories.append(result.history)
            best_epochs.append(result.best_epoch)
            speeds.append(result.windows_per_second)
            wanted = [TRAIN, VAL, TEST] if k == 0 else [TEST]
            samples = np.concatenate([prep.samples(lab, with_target=False) for lab in wanted])
            samples = samples[np.lexsort((samples[:, 0], samples[:, 1]))]
            mean, var = predict(result.model, _dataset(prep, samples, with_target=False), device=device)
            frames.append(_scored(cube, prep, samples, mean, var, result.residual_var))
            last = (result, prep)
    scored = pd.concat(frames, ignore_index=True).sort_values(["date", "ticker"], ignore_index=True)
    metrics = evaluate(scored, MODELS, execution=cube.execution)
    assert last is not None
    result, prep = last
    metrics["run"] = {
        "folds": [f.describe() for f in folds],
        "best_epochs": best_epochs,
        "epochs_run": [len(h) for h in histories],
        "training_windows_per_second": speeds,
        "device": str(device),
        "seconds": round(time.perf_counter() - started, 2),
        "repaired_values": clean.repaired,
    }
    forecasts = _forecasts(scored, cube)
    run = ForecastRun(forecasts, scored, metrics, histories, best_epochs)
    if out is not None:
        run.out = Path(out)
        meta = {
            "qtrade_version": qtrade_version(),
            "features": list(cube.features),
            "window": config.window,
            "max_gap": config.max_gap,
            "loss": config.loss,
            "execution": config.execution,
            "scaler": prep.scaler.to_dict(),
            "residual_var": result.residual_var,
            "split_dates": _split_dates(prep.fold),
            "config": asdict(config),
            "source": source,
        }
        _write_outputs(run, panel, config, source, meta, result.model)
        metrics["run"]["seconds"] = round(time.perf_counter() - started, 2)
    return run


def _split_dates(fold: Fold) -> dict[str, str]:
    return {name: f"{fold.block(label)[-1]:%Y-%m-%d}" for label, name in SPLIT_NAMES.items() if label != TEST}


def _write_forecasts(forecasts: pd.DataFrame, out: Path) -> None:
    frame = forecasts.copy()
    frame["split"] = frame["split"].astype(str)
    with atomic_path(out / "forecasts.csv") as tmp:
        frame.to_csv(tmp, index=False, date_format="%Y-%m-%d", float_format="%.10g")
    with atomic_path(out / "forecasts.parquet") as tmp:
        frame.to_parquet(tmp, index=False)


def _write_outputs(run: ForecastRun, panel: pd.DataFrame, config: ForecastConfig, source: str,
                   meta: dict[str, Any], model: Any) -> None:
    out = run.out
    assert out is not None
    out.mkdir(parents=True, exist_ok=True)
    _write_forecasts(run.forecasts, out)
    save_checkpoint(out / "model.pt", model, meta)
    plot_training_curve(run.histories, run.best_epochs, out / "training_curve.png", loss=config.loss)
    _write_metrics(run.metrics, out)
    manifest = run_manifest(command="forecast", seed=config.seed, panel=panel, source=source, config=asdict(config),
                            extra={"outputs": sorted(p.name for p in out.iterdir() if not p.name.startswith("."))})
    write_text(out / "manifest.json", json.dumps(manifest, indent=2, default=_json_default))


def _write_metrics(metrics: dict[str, Any], out: Path) -> None:
    """``metrics.json`` and the calibration chart of the test block."""
    test = metrics.get("test", {})
    if isinstance(test, dict) and "overall" in test:
        hists = {metrics["models"][m]: s["pit_histogram"] for m, s in test["overall"].items()}
        plot_pit(hists, out / "pit.png", title="Calibration on the test block (PIT)")
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
) -> ForecastRun:
    """Forecast every valid origin of ``panel`` with a saved model; no training.

    The split column follows the dates the model was trained with: up to its last training date ``train``,
    up to its last validation date ``val``, later dates ``test``. With ``score``, the forecasts are scored beside
    the baselines on the same dates, as ``qtrade forecast`` scores them, when ``panel`` covers the model's
    training period (on which the historical and GARCH baselines are fitted); otherwise ``metrics`` holds only
    a ``note`` that says why there are no scores.

    The forecasts and scores are of the target the model was trained for: the checkpoint's ``execution``
    (``same-close``, the only target there was, for a checkpoint that does not record one). ``execution``, when
    given, must be that one.
    """
    ckpt = load_checkpoint(model_path)
    meta = ckpt.meta
    if meta.get("features") != list(FEATURES):
        raise CheckpointError(
            f"{model_path}: made for features {meta.get('features')}, this qtrade builds {list(FEATURES)}; retrain"
        )
    trained_for = execution_mode(str(meta.get("execution", "same-close"))).name
    if execution is not None and execution_mode(execution).name != trained_for:
        raise ConfigError(f"{model_path}: trained to forecast the return of --execution {trained_for}, not "
                          f"{execution_mode(execution).name}; leave --execution out, or retrain with it")
    started = time.perf_counter()
    window = int(meta["window"])
    clean = clean_panel(panel, max_gap=int(meta.get("max_gap", 5)))
    check_window(clean, window, source)
    cube = build_features(clean, execution=trained_for)
    labels = np.full(len(cube.dates), TEST, dtype=np.int8)
    dates = cube.dates
    labels[dates <= pd.Timestamp(meta["split_dates"]["val"])] = VAL
    labels[dates <= pd.Timestamp(meta["split_dates"]["train"])] = TRAIN
    scaler = ZScoreScaler.from_dict(meta["scaler"])
    prep = prepare(cube, Fold(labels, dates), window, scaler=scaler)
    samples = np.argwhere(prep.ends & (labels != UNUSED)[None, :])
    samples = samples[np.lexsort((samples[:, 0], samples[:, 1]))]
    dev = resolve_device(device)
    model = ckpt.model.to(dev)
    mean, var = predict(model, _dataset(prep, samples, with_target=False), device=dev)
    residual_var = None if meta.get("residual_var") is None else float(meta["residual_var"])
    fitted = bool((prep.ends & (labels == TRAIN)[None, :] & np.isfinite(cube.target)).any())
    scored = _scored(cube, prep, samples, mean, var, residual_var, baselines=score and fitted)
    if score and fitted:
        metrics: dict[str, Any] = evaluate(scored, MODELS, execution=cube.execution)
        metrics["run"] = {"model": str(model_path), "device": str(dev),
                          "seconds": round(time.perf_counter() - started, 2), "repaired_values": clean.repaired}
    else:
        metrics = {"note": "not scored" if not score else (
            f"not scored: the data holds none of the model's training period (to {meta['split_dates']['train']}), "
            "on which the baselines are fitted; include it to have the forecasts scored beside them")}
    forecasts = _forecasts(scored, cube)
    run = ForecastRun(forecasts, scored, metrics, [], [])
    if out is not None:
        run.out = o = Path(out)
        o.mkdir(parents=True, exist_ok=True)
        _write_forecasts(forecasts, o)
        if "models" in metrics:
            _write_metrics(metrics, o)
        else:  # no scores of another run may stand beside these forecasts
            for name in ("metrics.json", "pit.png"):
                (o / name).unlink(missing_ok=True)
        manifest = run_manifest(command="forecast --model", seed=int(meta["config"]["seed"]), panel=panel,
                                source=source, config=meta["config"], extra={"model": str(model_path)})
        write_text(o / "manifest.json", json.dumps(manifest, indent=2, default=_json_default))
    return run
