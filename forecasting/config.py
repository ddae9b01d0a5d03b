"""Every setting of a forecasting run (:class:`ForecastConfig`): the network, its training, the split or the
walk-forward schedule, the target and the machine. ``qtrade forecast`` options map one to one onto its fields;
a wrong value is refused here, in one line, before any data is read.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import pandas as pd

from forecasting.errors import ConfigError
from forecasting.evaluation.shrinkage import parse_shrinkage
from forecasting.market.calendars import calendar_name
from forecasting.model.network import DISTRIBUTIONS, ModelConfig
from forecasting.model.training import TrainConfig
from forecasting.preparation.execution import DEFAULT_EXECUTION, execution_mode
from forecasting.preparation.features import FEATURES
from forecasting.preparation.schedule import DEFAULT_REFIT, DEFAULT_VAL_DAYS, Schedule, parse_span
from forecasting.preparation.splits import TEST, chronological_split

__all__ = ["ForecastConfig"]


@dataclass(frozen=True)
class ForecastConfig:
    """Every setting of a forecasting run; ``qtrade forecast`` options map one to one onto these fields.

    ``execution`` (:mod:`forecasting.preparation.execution`) chooses the target: the return a position entered at the
    mode's fill holds. ``embargo`` dates are left out before the validation and test blocks; ``None`` means
    the target's horizon (``lag + 1``), the least that keeps every training target realised before the block
    that judges it. ``calendar`` (``auto``, ``none`` or an exchange code, :mod:`forecasting.market.calendars`) gives the
    trading days cleaning puts the data on. ``mean_shrinkage`` scales the forecast mean by a factor chosen on the
    validation block (``auto``), by none (``none``) or by a given factor in [0, 1]
    (:mod:`forecasting.evaluation.shrinkage`).

    ``oos_start`` or ``refit_every`` make the run a walk-forward (:mod:`forecasting.preparation.schedule`): out of
    sample from ``oos_start`` (by default the start of the ``test`` share of the dates), refitted every
    ``refit_every`` (``1y`` by default) on an ``expanding`` or rolling ``train_window`` of trading days, with
    ``val_days`` validation days before each refit; without them, one chronological split by the ``val`` and
    ``test`` shares. ``warm_start`` starts each fold from the previous fold's weights; ``jobs`` (processes) or
    ``cluster`` (a Dask scheduler's address) fit independent folds in parallel (:mod:`forecasting.folds`).
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
    oos_start: str | None = None
    refit_every: str | None = None
    train_window: str | int = "expanding"
    val_days: int | None = None
    warm_start: bool = False
    jobs: int = 1
    cluster: str | None = None
    calendar: str = "auto"
    threads: int | None = None
    dist: str | None = None
    ensemble: int = 1
    amp: bool = False
    mean_shrinkage: str | float = "none"  # auto was not preferred on validation everywhere (README, issue 18)

    def __post_init__(self) -> None:
        mode = execution_mode(self.execution)  # an unknown mode: one line that lists the known ones
        object.__setattr__(self, "mean_shrinkage", parse_shrinkage(self.mean_shrinkage))
        object.__setattr__(self, "calendar", calendar_name(self.calendar))  # likewise an unknown calendar
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
        if self.dist is not None and self.dist not in DISTRIBUTIONS:
            raise ConfigError(f"--dist {self.dist!r} is not known; use {' or '.join(DISTRIBUTIONS)}")
        if self.loss == "mse" and self.distribution != "normal":
            raise ConfigError(f"--loss mse trains no {self.dist} distribution; use --loss nll or --dist normal")
        if not isinstance(self.ensemble, int) or self.ensemble < 1:
            raise ConfigError(f"--ensemble {self.ensemble} must be 1 or more (the number of seeds trained)")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"--threads {self.threads} must be 1 or more (leave it out to share the cores)")
        self._check_schedule()
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"--dropout {self.dropout} must be in [0, 1)")
        if not self.lr > 0:
            raise ConfigError(f"--lr {self.lr} must be above 0")
        for option, value in (
            ("epochs", self.epochs),
            ("batch-size", self.batch_size),
            ("hidden", self.hidden),
            ("layers", self.layers),
            ("patience", self.patience),
        ):
            if value < 1:
                raise ConfigError(f"--{option} {value} must be 1 or more")

    def _check_schedule(self) -> None:
        if self.oos_start is not None:
            try:
                stamp = pd.Timestamp(self.oos_start)
            except (ValueError, TypeError):
                stamp = pd.NaT
            if stamp is pd.NaT:
                raise ConfigError(f"--oos-start {self.oos_start!r} is not a date; give one as YYYY-MM-DD")
            object.__setattr__(self, "oos_start", f"{stamp:%Y-%m-%d}")
        if self.refit_every is not None:
            parse_span(self.refit_every)
        window = str(self.train_window).strip().lower()
        if window == "expanding":
            object.__setattr__(self, "train_window", "expanding")
        elif window.isdigit() and int(window) >= 1:
            object.__setattr__(self, "train_window", int(window))
        else:
            raise ConfigError(f"--train-window {self.train_window!r} is neither expanding nor a number of trading days")
        if self.val_days is not None and self.val_days < 1:
            raise ConfigError(f"--val-days {self.val_days} must be 1 or more")
        if self.jobs < 1:
            raise ConfigError(f"--jobs {self.jobs} must be 1 or more")
        if not self.walk_forward:
            given = self.walk_options
            if given:
                raise ConfigError(
                    f"{', '.join(given)} belong{'s' if len(given) == 1 else ''} to a walk-forward; give --oos-start "
                    "DATE or --refit-every SPAN as well, or leave "
                    f"{'it' if len(given) == 1 else 'them'} out for one split"
                )
        if self.warm_start and (self.jobs > 1 or self.cluster):
            raise ConfigError(
                "--warm-start trains each fold from the one before, so folds cannot run in parallel; "
                "leave out --jobs and --cluster, or --warm-start"
            )

    @property
    def walk_options(self) -> list[str]:
        """The walk-forward options set away from their defaults, by their command-line names."""
        return [
            option
            for option, on in (
                ("--oos-start", self.oos_start is not None),
                ("--refit-every", self.refit_every is not None),
                ("--train-window", self.train_window != "expanding"),
                ("--val-days", self.val_days is not None),
                ("--warm-start", self.warm_start),
                ("--jobs", self.jobs != 1),
                ("--cluster", self.cluster is not None),
            )
            if on
        ]

    @property
    def walk_forward(self) -> bool:
        """Whether the run refits on a walk-forward schedule (``oos_start`` or ``refit_every`` given)."""
        return self.oos_start is not None or self.refit_every is not None

    def schedule(self, dates: pd.DatetimeIndex) -> Schedule | None:
        """The walk-forward schedule on ``dates`` (None for one split); without ``oos_start`` the out-of-sample
        period starts where the single split's test block would."""
        if not self.walk_forward:
            return None
        oos = (
            pd.Timestamp(self.oos_start)
            if self.oos_start is not None
            else chronological_split(dates, val=self.val, test=self.test, embargo=self.split_embargo).block(TEST)[0]
        )
        return Schedule(
            oos_start=oos,
            refit_every=self.refit_every or DEFAULT_REFIT,
            train_window=None if self.train_window == "expanding" else int(self.train_window),
            val_days=self.val_days or DEFAULT_VAL_DAYS,
        )

    @property
    def distribution(self) -> str:
        """The predictive distribution trained: ``dist``, or when None Student-t (which won on the validation
        block wherever it was measured), normal with the MSE loss (which trains no density)."""
        if self.dist is not None:
            return self.dist
        return "normal" if self.loss == "mse" else "studentt"

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
        params = _retired(params, p)
        known = {f.name: f.type for f in fields(self)}
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ConfigError(f"{p}: unknown setting(s) {', '.join(unknown)}; use names of qtrade forecast options")
        config = replace(self, **params)
        tuned_for = record.get("execution") if params is not record else None
        if tuned_for is not None and tuned_for != config.execution:
            warnings.warn(
                f"{p}: settings tuned for --execution {tuned_for} are used for {config.execution}; pass "
                f"--execution {tuned_for} to forecast the return they were tuned on",
                stacklevel=2,
            )
        return config

    def model_config(self) -> ModelConfig:
        return ModelConfig(
            n_features=len(FEATURES),
            hidden=self.hidden,
            layers=self.layers,
            dropout=self.dropout,
            dist=self.distribution,
        )

    def train_config(self, member: int = 0) -> TrainConfig:
        """The training of one network; ensemble member k trains with seed ``seed + k``."""
        return TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            patience=self.patience,
            loss=self.loss,  # type: ignore[arg-type]
            seed=self.seed + member,
            device=self.device,
            workers=self.workers,
            amp=self.amp,
        )


def _retired(params: dict[str, Any], path: Path) -> dict[str, Any]:
    """``params`` without the settings of earlier qtrade versions that mean nothing now (files written before
    issue 19 record ``walk_forward: 0``); a walk-forward set by the old ``walk_forward`` is refused with the
    options that replace it."""
    params = dict(params)
    folds, _ = params.pop("walk_forward", 0), params.pop("walk_mode", None)
    if folds:
        raise ConfigError(
            f"{path}: walk_forward {folds} is an option of earlier qtrade versions; give --oos-start DATE and "
            "--refit-every SPAN on the command line instead"
        )
    return params
