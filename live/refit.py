"""Is the model due for a refit? A walk-forward forecast run refits on a schedule
(:mod:`forecasting.preparation.schedule`): its saved model is the last fold's, made to forecast the origins from
that fold's refit date until the next. Once the data reaches the next refit date, the walk-forward would have
forecast from a newer model: the signal says so, and since when.

The schedule is the forecast run's: its ``refit_every``, ``train_window`` and ``val_days`` (``manifest.json``) and
its first refit (``metrics.json``'s ``walk_forward``), laid on the trading days of the latest data, as the
walk-forward lays it on its own data. A run of one split has no schedule: its model is refitted only when it is
trained again.

``qtrade refit`` (:func:`refit_on_schedule`) trains the folds due, as the walk-forward would have
(:mod:`forecasting.refit`), into the run's ``refits/`` folder; from then on the signal forecasts each close with the
model in force there (:meth:`live.run_folder.RunFolder.model_for`) and the status counts from the newest model.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from forecasting.errors import ConfigError, DataError
from forecasting.outputs import read_json_object
from forecasting.preparation.schedule import DEFAULT_REFIT, DEFAULT_VAL_DAYS, Schedule, parse_span, refit_indices

if TYPE_CHECKING:
    from forecasting.refit import RefitRun

__all__ = ["RefitOutcome", "RefitStatus", "refit_on_schedule", "refit_status"]


@dataclass(frozen=True)
class RefitStatus:
    """Where the saved model stands on its run's walk-forward schedule.

    ``schedule`` is the schedule in words (None: one split, no schedule); ``model_from`` the refit date of the
    newest model's fold (the run's own, or its newest refit: ``refits`` counts those); ``due_since`` the first
    refit date after it that the data has reached (None: not due); ``next_refit`` the next refit date when the
    data holds it, else ``sessions_left`` (a span of trading days) or ``not_before`` (a span of months or years:
    the first session on or after that date).
    """

    schedule: str | None
    model_from: pd.Timestamp | None = None
    due_since: pd.Timestamp | None = None
    sessions_left: int | None = None
    not_before: pd.Timestamp | None = None
    refits: int = 0

    @property
    def due(self) -> bool:
        return self.due_since is not None

    def sentence(self) -> str:
        """The status in one sentence."""
        if self.schedule is None:
            return "no walk-forward schedule: the model is refitted only when it is trained again"
        if self.model_from is None:
            return f"walk-forward ({self.schedule}), but the run does not record its folds: refit dates unknown"
        since = f"the model is its fold's from {self.model_from:%Y-%m-%d}" + (
            f" (refits/{self.model_from:%Y-%m-%d})" if self.refits else ""
        )
        if self.due_since is not None:
            return (
                f"refit due since {self.due_since:%Y-%m-%d}: the walk-forward would forecast from a model refitted "
                f"there ({since}); train it with qtrade refit RUN --data LATEST"
            )
        if self.sessions_left is not None:
            n = self.sessions_left
            return f"{since}; next refit in {n} session{'s' if n != 1 else ''}"
        when = f"{self.not_before:%Y-%m-%d}" if self.not_before is not None else "?"
        return f"{since}; next refit at the first session on or after {when}"

    def to_dict(self) -> dict[str, Any]:
        def day(t: pd.Timestamp | None) -> str | None:
            return None if t is None else f"{t:%Y-%m-%d}"

        return {
            "schedule": self.schedule,
            "model_from": day(self.model_from),
            "due": self.due,
            "due_since": day(self.due_since),
            "sessions_left": self.sessions_left,
            "not_before": day(self.not_before),
            "refits": self.refits,
            "sentence": self.sentence(),
        }


def refit_status(forecast_dir: Path, dates: pd.DatetimeIndex) -> RefitStatus:
    """The status of the model of the forecast run in ``forecast_dir`` on the trading days ``dates`` of the latest
    data (the last one is the signal's close).

    Examples
    --------
    >>> import json, tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> config = {"oos_start": "2020-03-02", "refit_every": "20", "train_window": "expanding", "val_days": 10}
    >>> _ = (folder / "manifest.json").write_text(json.dumps({"config": config}))
    >>> folds = [{"refit": "2020-03-02"}, {"refit": "2020-03-30"}]
    >>> _ = (folder / "metrics.json").write_text(json.dumps({"walk_forward": {"folds": folds}}))
    >>> refit_status(folder, pd.bdate_range("2020-01-01", "2020-04-20")).sentence()
    "the model is its fold's from 2020-03-30; next refit in 5 sessions"
    >>> refit_status(folder, pd.bdate_range("2020-01-01", "2020-05-01")).sentence()[:26]
    'refit due since 2020-04-27'
    """
    config = read_json_object(forecast_dir / "manifest.json").get("config", {})
    if not isinstance(config, dict) or (config.get("oos_start") is None and config.get("refit_every") is None):
        return RefitStatus(None)
    folds = (read_json_object(forecast_dir / "metrics.json").get("walk_forward") or {}).get("folds") or []
    window = str(config.get("train_window", "expanding"))
    schedule = Schedule(  # the run's --oos-start; without one, its first refit (on longer data the default moves)
        oos_start=pd.Timestamp(config.get("oos_start") or (folds[0]["refit"] if folds else dates[0])),
        refit_every=str(config.get("refit_every") or DEFAULT_REFIT),
        train_window=None if window == "expanding" else int(window),
        val_days=int(config.get("val_days") or DEFAULT_VAL_DAYS),
    )
    if not folds:
        return RefitStatus(schedule.describe())
    from forecasting.refit import REFITS, saved_models  # torch: imported when a status is asked for

    models = saved_models(forecast_dir)
    model_from = models[-1].refit or pd.Timestamp(folds[-1]["refit"])
    refitted = sum(1 for m in models if REFITS in m.path.parts)  # not the run's own folds' models
    said = {"schedule": schedule.describe(), "model_from": model_from, "refits": refitted}
    refits = refit_indices(dates, schedule)
    later = [dates[i] for i in refits if dates[i] > model_from]
    if later:
        return RefitStatus(**said, due_since=pd.Timestamp(later[0]))
    k, unit = parse_span(schedule.refit_every)
    if unit == "d":
        left = int(refits[-1]) + k - (len(dates) - 1)
        return RefitStatus(**said, sessions_left=left)
    step = pd.DateOffset(months=k) if unit == "m" else pd.DateOffset(years=k)
    n = 1
    while schedule.oos_start + n * step <= dates[-1]:
        n += 1
    return RefitStatus(**said, not_before=pd.Timestamp(schedule.oos_start + n * step))


@dataclass(frozen=True)
class RefitOutcome:
    """What ``qtrade refit`` did: the refits trained (:class:`forecasting.refit.RefitRun`, none when none was due),
    the close of the latest data, the model a signal forecasts that close with now and the status after."""

    forecast_dir: Path
    done: RefitRun
    last: pd.Timestamp
    model: Path
    status: RefitStatus

    def lines(self) -> list[str]:
        """The outcome in a few lines: each refit and where it went, then what the signal uses now."""
        refits = self.done.refits
        if not refits:
            return [f"no refit due: {self.status.sentence()}"]
        out = [
            f"refitted fold {r.fold} on {r.refit:%Y-%m-%d} ({r.describe}; trained through "
            f"{r.trained_through:%Y-%m-%d}) in {r.seconds:.1f} s: written to {r.model}"
            for r in refits
        ]
        if len(refits) > 1:
            out.append(
                f"{len(refits)} refits were due; each is trained, in order, being the model the walk-forward forecast "
                "with from its refit date (a warm start needs the one before)"
            )
        out.append(
            f"qtrade signal now forecasts the close of {self.last:%Y-%m-%d} with {self.model}; {self.status.sentence()}"
        )
        return out


def _forecast_run(run: Path) -> tuple[Path, str, pd.DataFrame | None, list[str], list[str]]:
    """The forecast run behind ``run`` (a backtest folder, or a forecast run's own), its calendar, the history the
    backtest read (None for a forecast run given alone), the tickers read and those forecast."""
    from live.run_folder import read_run

    manifest = read_json_object(run / "manifest.json")
    if str(manifest.get("command", "")) == "forecast" and (run / "model.pt").is_file():
        named = [run / "forecasts.parquet"] if (run / "forecasts.parquet").is_file() else []
        tickers = sorted({str(t) for t in pd.read_parquet(named[0], columns=["ticker"])["ticker"]}) if named else []
        return run, str(manifest.get("calendar") or "none"), None, tickers, tickers
    folder = read_run(run)
    return folder.model.parent, folder.calendar, folder.history, folder.read, folder.forecast_tickers


def refit_on_schedule(
    run: str | os.PathLike[str],
    panel: pd.DataFrame,
    *,
    as_of: pd.Timestamp | None = None,
    device: str | None = None,
    source: str = "data",
    progress: bool = True,
) -> RefitOutcome:
    """Train the refits due of the forecast run behind ``run`` (the folder of a finished backtest, as for
    ``qtrade signal``, or of a walk-forward forecast run) on ``panel``, the latest data
    (:func:`forecasting.refit.refit_run`).

    The data is checked as a signal checks it, before anything is trained: it must end at the latest session
    completed at ``as_of`` (:class:`live.errors.StaleData`) and hold the backtest's history unchanged
    (:class:`live.errors.RestatedHistory`); a forecast run given alone records no history, which a warning says.
    A run of one split, which has no schedule, is refused (:class:`forecasting.errors.ConfigError`). The networks
    train on the tickers the forecast run forecast.
    """
    from forecasting.refit import model_for, refit_run, run_config
    from live.history import check_unchanged
    from live.sessions import as_of_time, check_fresh

    where = Path(run)
    forecast_dir, calendar, history, read, forecast = _forecast_run(where)
    if not run_config(forecast_dir).walk_forward:
        raise ConfigError(
            f"{where}: its forecast run ({forecast_dir}) is one split, with no walk-forward schedule to refit on; "
            "train a walk-forward (qtrade forecast --oos-start DATE --refit-every SPAN) and backtest on it"
        )
    names = panel.index.get_level_values("ticker").astype(str)
    mine = panel[names.isin(read)]
    if mine.empty:
        raise DataError(f"{source}: none of the run's tickers ({', '.join(read[:5])}); give the run's market")
    last = pd.Timestamp(mine.index.get_level_values("date").max())
    check_fresh(last, None if calendar == "none" else calendar, as_of_time(None) if as_of is None else as_of)
    if history is None:
        warnings.warn(
            f"{where} is a forecast run, which records no history: the data's past is not compared with what the "
            "run read; give the backtest's folder to have it checked",
            stacklevel=2,
        )
    else:
        check_unchanged(mine, history, source=source)
    done = refit_run(forecast_dir, panel[names.isin(forecast)], device=device, source=source, progress=progress)
    return RefitOutcome(forecast_dir, done, last, model_for(forecast_dir, last), refit_status(forecast_dir, done.dates))
