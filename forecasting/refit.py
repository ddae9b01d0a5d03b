"""Refits on schedule: the next fold of a walk-forward forecast run, trained on the latest data exactly as the
walk-forward would have trained it.

A walk-forward run (:mod:`forecasting.preparation.schedule`) saves its last fold's model (``model.pt``), made to
forecast from that fold's refit date until the next. Once the data reaches the next refit date, :func:`refit_run`
lays the run's schedule on the latest data's trading days (:func:`forecasting.pipeline.folds_of`, with the run's
:class:`~forecasting.config.ForecastConfig` from ``manifest.json``) and trains each fold that follows the newest
model's, one after another, as :func:`forecasting.folds.run_folds` trains it: the same blocks, scaler, seeds,
ensemble and mean shrinkage, and with ``--warm-start`` from the weights of the model before. A fold's models use
no price dated on or after its refit date, so data that runs on changes none of them: the refitted model is, to
the bit on the CPU, the last fold's of a walk-forward run on the latest data.

Each refit is written to ``<run>/refits/<refit date>/``, whole or not at all: ``model.pt`` (a checkpoint that
:func:`forecasting.pipeline.predict_with_model` reads as it reads the run's own) and ``fold.json``. The run's own
files are left as they are. :func:`saved_models` lists the models in force, oldest first.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import pandas as pd

from forecasting.atomic import atomic_folder, folder_lock, write_text
from forecasting.config import ForecastConfig
from forecasting.errors import ConfigError
from forecasting.folds import check_folds, fit_fold
from forecasting.manifest import qtrade_version
from forecasting.market.cleaning import clean_panel
from forecasting.market.summary import check_window
from forecasting.model.checkpoint import load_checkpoint, save_checkpoint
from forecasting.model.threads import shared_threads
from forecasting.model.training import resolve_device
from forecasting.outputs import read_json_object
from forecasting.pipeline import checkpoint_meta, folds_of
from forecasting.preparation.features import build_features
from forecasting.preparation.splits import TEST
from forecasting.progress import console, fold_progress

__all__ = ["REFITS", "Refit", "RefitRun", "SavedModel", "model_for", "refit_run", "run_config", "saved_models"]

REFITS = "refits"
"""The folder of a forecast run that holds its refits, one folder per refit date (YYYY-MM-DD)."""


@dataclass(frozen=True)
class SavedModel:
    """A model of a forecast run: ``path`` (its ``model.pt``), ``refit`` (the first origin its fold forecasts; None
    for a run of one split) and ``fold`` (from 1)."""

    path: Path
    refit: pd.Timestamp | None
    fold: int


@dataclass(frozen=True)
class Refit:
    """One refit written: its folder, refit date, fold (from 1), the fold in words, the last date whose prices its
    models used and the seconds it took."""

    folder: Path
    refit: pd.Timestamp
    fold: int
    describe: str
    trained_through: pd.Timestamp
    seconds: float

    @property
    def model(self) -> Path:
        return self.folder / "model.pt"


@dataclass(frozen=True)
class RefitRun:
    """What :func:`refit_run` did: the refits written, in order (empty when none was due), the model the run
    forecast with before them and the trading days of the latest data."""

    refits: list[Refit]
    before: SavedModel
    dates: pd.DatetimeIndex


def _run_folds(forecast_dir: Path) -> list[dict[str, Any]]:
    """The folds ``metrics.json`` records of a walk-forward run (empty for one split)."""
    return list((read_json_object(forecast_dir / "metrics.json").get("walk_forward") or {}).get("folds") or [])


def run_config(forecast_dir: str | os.PathLike[str]) -> ForecastConfig:
    """The :class:`ForecastConfig` of the forecast run in ``forecast_dir`` (its ``manifest.json``).

    A walk-forward run without ``--oos-start`` began out of sample where its data's test share began; on longer
    data that place moves, so the run's first refit (``metrics.json``) is given as ``oos_start``: the schedule
    stays the run's.
    """
    folder = Path(forecast_dir)
    config = read_json_object(folder / "manifest.json").get("config")
    if not isinstance(config, dict):
        raise ConfigError(f"{folder}: no manifest.json with the run's settings; give the folder of a qtrade forecast")
    known = {f.name for f in fields(ForecastConfig)}
    made = ForecastConfig(**{k: v for k, v in config.items() if k in known})
    folds = _run_folds(folder)
    if made.walk_forward and made.oos_start is None and folds:
        made = replace(made, oos_start=str(folds[0]["refit"]))
    return made


def saved_models(forecast_dir: str | os.PathLike[str]) -> list[SavedModel]:
    """The models of the forecast run in ``forecast_dir``, oldest refit first: a walk-forward's earlier folds'
    (``folds/``), the run's ``model.pt`` (its last fold's), then each refit written by :func:`refit_run`."""
    from forecasting.pipeline import FOLDS

    folder = Path(forecast_dir)
    folds = _run_folds(folder)
    models = [
        SavedModel(
            folder / FOLDS / f"{pd.Timestamp(f['refit']):%Y-%m-%d}" / "model.pt", pd.Timestamp(f["refit"]), k + 1
        )
        for k, f in enumerate(folds[:-1])
        if (folder / FOLDS / f"{pd.Timestamp(f['refit']):%Y-%m-%d}" / "model.pt").is_file()
    ]
    models.append(
        SavedModel(folder / "model.pt", pd.Timestamp(folds[-1]["refit"]) if folds else None, max(len(folds), 1))
    )
    for path in sorted((folder / REFITS).glob("[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]/fold.json")):
        record = read_json_object(path)
        if record and (path.parent / "model.pt").is_file():
            models.append(SavedModel(path.parent / "model.pt", pd.Timestamp(record["refit"]), int(record["fold"])))
    return models


def model_for(forecast_dir: str | os.PathLike[str], day: pd.Timestamp) -> Path:
    """The ``model.pt`` in force at ``day``: the newest model whose refit date is on or before it (the run's own
    for a day before any refit, and for a run of one split)."""
    models = saved_models(forecast_dir)
    in_force = [m for m in models if m.refit is not None and m.refit <= pd.Timestamp(day)]
    return (in_force[-1] if in_force else models[0]).path


def refit_run(
    forecast_dir: str | os.PathLike[str],
    panel: pd.DataFrame,
    *,
    device: str | None = None,
    source: str = "data",
    progress: bool = True,
) -> RefitRun:
    """Train and write every fold of the walk-forward run in ``forecast_dir`` that follows its newest model's, on
    ``panel`` (the latest data), one after another; see the module's text. None is trained when the data has not
    reached the next refit date.

    All the refits due are trained, in order, rather than the next alone: each is the model the walk-forward
    forecast with from its refit date, a warm start needs the one before, and the model in force at the last
    close is the newest. ``device`` (None: the run's own) is where the networks train; on the CPU the result is
    the walk-forward's to the bit, on a GPU within its kernels' rounding.

    Examples
    --------
    >>> import tempfile
    >>> from forecasting.market.synthetic import synthetic_panel
    >>> from forecasting.pipeline import run_forecast
    >>> panel, folder = synthetic_panel(2, 262), Path(tempfile.mkdtemp()) / "fc"
    >>> tiny = ForecastConfig(window=10, hidden=8, epochs=1, device="cpu", refit_every="16", val_days=30)
    >>> _ = run_forecast(panel.loc[:"2017-11-20"], tiny, folder, progress=False)
    >>> done = refit_run(folder, panel, progress=False)
    >>> [f"{r.refit:%Y-%m-%d}" for r in done.refits], model_for(folder, done.dates[-1]).parent.name
    (['2017-12-11', '2018-01-02'], '2018-01-02')
    """
    folder = Path(forecast_dir)
    saved = run_config(folder)
    if not saved.walk_forward:
        raise ConfigError(
            f"{folder}: a run of one split has no walk-forward schedule, so nothing is due to refit; train a "
            "walk-forward (--oos-start, --refit-every) to refit on schedule"
        )
    recorded = str(read_json_object(folder / "manifest.json").get("calendar") or "")
    config = replace(
        saved,
        device=saved.device if device is None else device,
        jobs=1,
        cluster=None,  # one fold after another
        calendar=recorded if saved.calendar == "auto" and recorded else saved.calendar,  # as the run resolved it
    )
    device_used = resolve_device(config.device)  # an absent device is refused before the data is prepared
    before = saved_models(folder)[-1]
    if before.refit is None:
        raise ConfigError(
            f"{folder}: metrics.json records no walk-forward folds, so the refit dates are unknown; train the "
            "walk-forward again with this version of qtrade"
        )
    clean = clean_panel(panel, max_gap=config.max_gap, calendar=config.calendar)
    check_window(clean, config.window, source)
    cube = build_features(clean, execution=config.execution)
    folds = folds_of(cube, config)
    refits = [pd.Timestamp(f.block(TEST)[0]) for f in folds]
    if before.refit not in refits:
        raise ConfigError(
            f"{source}: the run's schedule laid on this data has no refit on {before.refit:%Y-%m-%d}, where its "
            f"newest model ({before.path}) was refitted; give the data the run was trained on, run on to today"
        )
    start = refits.index(before.refit) + 1
    if start == len(folds):
        return RefitRun([], before, cube.dates)
    check_folds(cube, folds, config.window)
    out = console(progress)
    init = [m.state_dict() for m in load_checkpoint(before.path).models] if config.warm_start else None
    written: list[Refit] = []
    with (
        folder_lock(folder / REFITS),
        shared_threads(config.threads),
        fold_progress(out, config, device_used, len(folds)) as shown,
    ):
        for k in range(start, len(folds)):
            target = folder / REFITS / f"{refits[k]:%Y-%m-%d}"
            if target.exists():
                raise ConfigError(
                    f"{target} exists: another qtrade refit wrote it meanwhile, or a folder of that name was left "
                    "there; run qtrade refit again (after removing it, if it is not a refit)"
                )
            started = time.perf_counter()
            result = fit_fold(
                cube, folds[k], k, len(folds), config, init=init, hook=shown.hook, say=shown.say, baselines_too=False
            )
            meta = checkpoint_meta(  # the run's settings, as its own checkpoint records them
                saved, cube, folds[k], result, fold_number=k + 1, calendar=clean.calendar, source=source
            )
            seconds = round(time.perf_counter() - started, 2)
            refit = Refit(target, refits[k], k + 1, folds[k].describe(), result.trained_through, seconds)
            record = {
                "refit": f"{refit.refit:%Y-%m-%d}",
                "fold": refit.fold,
                "folds": len(folds),
                "fold_describe": refit.describe,
                "trained_through": f"{refit.trained_through:%Y-%m-%d}",
                "warm_start_from": str(before.path if not written else written[-1].model) if init else None,
                "best_epochs": result.best_epochs,
                "seconds": seconds,
                "device": str(device_used),
                "source": source,
                "qtrade_version": qtrade_version(),
                "config": asdict(config),
            }
            with atomic_folder(target) as tmp:
                save_checkpoint(tmp / "model.pt", result.networks, meta)
                write_text(tmp / "fold.json", json.dumps(record, indent=2))
            written.append(refit)
            init = [net.state_dict() for net in result.networks] if config.warm_start else None
    return RefitRun(written, before, cube.dates)
