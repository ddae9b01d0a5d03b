"""Is the model due for a refit? A walk-forward forecast run refits on a schedule
(:mod:`forecasting.preparation.schedule`): its saved model is the last fold's, made to forecast the origins from
that fold's refit date until the next. Once the data reaches the next refit date, the walk-forward would have
forecast from a newer model: the signal says so, and since when.

The schedule is the forecast run's: its ``refit_every``, ``train_window`` and ``val_days`` (``manifest.json``) and
its first refit (``metrics.json``'s ``walk_forward``), laid on the trading days of the latest data, as the
walk-forward lays it on its own data. A run of one split has no schedule: its model is refitted only when it is
trained again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from forecasting.preparation.schedule import DEFAULT_REFIT, DEFAULT_VAL_DAYS, Schedule, parse_span, refit_indices

__all__ = ["RefitStatus", "refit_status"]


@dataclass(frozen=True)
class RefitStatus:
    """Where the saved model stands on its run's walk-forward schedule.

    ``schedule`` is the schedule in words (None: one split, no schedule); ``model_from`` the refit date of the
    model's fold; ``due_since`` the first refit date after it that the data has reached (None: not due);
    ``next_refit`` the next refit date when the data holds it, else ``sessions_left`` (a span of trading days)
    or ``not_before`` (a span of months or years: the first session on or after that date).
    """

    schedule: str | None
    model_from: pd.Timestamp | None = None
    due_since: pd.Timestamp | None = None
    sessions_left: int | None = None
    not_before: pd.Timestamp | None = None

    @property
    def due(self) -> bool:
        return self.due_since is not None

    def sentence(self) -> str:
        """The status in one sentence."""
        if self.schedule is None:
            return "no walk-forward schedule: the model is refitted only when it is trained again"
        if self.model_from is None:
            return f"walk-forward ({self.schedule}), but the run does not record its folds: refit dates unknown"
        since = f"the model is its fold's from {self.model_from:%Y-%m-%d}"
        if self.due_since is not None:
            return (
                f"refit due since {self.due_since:%Y-%m-%d}: the walk-forward would forecast from a model refitted "
                f"there ({since}); train it again with the run's walk-forward options on the latest data"
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
            "sentence": self.sentence(),
        }


def _read(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def refit_status(forecast_dir: Path, dates: pd.DatetimeIndex) -> RefitStatus:
    """The status of the model of the forecast run in ``forecast_dir`` on the trading days ``dates`` of the latest
    data (the last one is the signal's close).

    Examples
    --------
    >>> import tempfile
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
    config = _read(forecast_dir / "manifest.json").get("config", {})
    if not isinstance(config, dict) or (config.get("oos_start") is None and config.get("refit_every") is None):
        return RefitStatus(None)
    folds = (_read(forecast_dir / "metrics.json").get("walk_forward") or {}).get("folds") or []
    window = str(config.get("train_window", "expanding"))
    schedule = Schedule(
        oos_start=pd.Timestamp(folds[0]["refit"] if folds else config.get("oos_start") or dates[0]),
        refit_every=str(config.get("refit_every") or DEFAULT_REFIT),
        train_window=None if window == "expanding" else int(window),
        val_days=int(config.get("val_days") or DEFAULT_VAL_DAYS),
    )
    if not folds:
        return RefitStatus(schedule.describe())
    model_from = pd.Timestamp(folds[-1]["refit"])
    refits = refit_indices(dates, schedule)
    later = [dates[i] for i in refits if dates[i] > model_from]
    if later:
        return RefitStatus(schedule.describe(), model_from, due_since=pd.Timestamp(later[0]))
    k, unit = parse_span(schedule.refit_every)
    if unit == "d":
        left = int(refits[-1]) + k - (len(dates) - 1)
        return RefitStatus(schedule.describe(), model_from, sessions_left=left)
    step = pd.DateOffset(months=k) if unit == "m" else pd.DateOffset(years=k)
    n = 1
    while schedule.oos_start + n * step <= dates[-1]:
        n += 1
    return RefitStatus(schedule.describe(), model_from, not_before=pd.Timestamp(schedule.oos_start + n * step))
