"""Optuna studies for ``qtrade tune``: storage, sampler, pruner, progress, and the written results.

Any objective (the forecaster's validation NLL, a strategy's validation Sharpe) runs through :func:`run_study`.
"""

from __future__ import annotations

import json
import logging
import random
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from forecasting.atomic import atomic_path, write_text
from forecasting.errors import ConfigError
from forecasting.outputs import clear_previous

__all__ = ["FINISHED", "IMPORTANCE_MIN_TRIALS", "TrialProgress", "finished_trials", "open_study", "run_study",
           "write_study_outputs"]

IMPORTANCE_MIN_TRIALS = 10
"""Fewest complete trials before parameter importances are drawn: PED-ANOVA compares the best tenth of the trials
with the rest, which with fewer trials is noise shown as a ranking."""


def _optuna() -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


FINISHED = ("COMPLETE", "PRUNED")


def open_study(out: Path, *, storage: str | None, study_name: str, seed: int, direction: str,
               pruner: str = "median") -> Any:
    """Create or resume the study; the default storage is a SQLite file in ``out``."""
    optuna = _optuna()
    out.mkdir(parents=True, exist_ok=True)
    url = storage or f"sqlite:///{(out / 'study.db').resolve()}"
    try:
        rdb = _storage(optuna, url)
    except Exception as exc:  # noqa: BLE001 - any database failure is one user-facing line
        raise ConfigError(f"--storage {url}: cannot open ({type(exc).__name__}: {str(exc).splitlines()[0][:120]}); "
                          "check the URL, the server and its driver (pip install qtrade[postgres] for PostgreSQL)") from None
    pruners = {
        "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=3),
        "hyperband": lambda: optuna.pruners.HyperbandPruner(min_resource=2),
        "none": lambda: optuna.pruners.NopPruner(),
    }
    if pruner not in pruners:
        raise ConfigError(f"--pruner {pruner!r} is not known; use median, hyperband or none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = optuna.create_study(storage=rdb, study_name=study_name, load_if_exists=True, direction=direction,
                                    sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruners[pruner]())
    if study.direction.name.lower() != direction:
        raise ConfigError(f"study {study_name!r} in {url} was made to {study.direction.name.lower()}; "
                          "use another --study name for this objective")
    return study


def _storage(optuna: Any, url: str, attempts: int = 5) -> Any:
    """Open the RDB storage; workers started together race to create its tables, and the losers retry."""
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # heartbeats are marked experimental
                return optuna.storages.RDBStorage(url, heartbeat_interval=5, grace_period=20,
                                                  engine_kwargs={"pool_pre_ping": True})
        except (IntegrityError, ProgrammingError):  # "duplicate key" / "already exists" from a concurrent create
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 + random.random() * (attempt + 1))
    raise AssertionError("unreachable")


class TrialProgress:
    """The running trial's epochs, shown on a second bar under the study's; the objective calls :meth:`epoch`."""

    def __init__(self) -> None:
        self._show: Callable[[str, int, int], None] | None = None

    def epoch(self, trial: int, epoch: int, epochs: int, val_loss: float) -> None:
        if self._show is not None:
            self._show(f"trial {trial}: epoch {epoch}/{epochs}, val loss {val_loss:.4f}", epoch, epochs)


def finished_trials(study: Any) -> list[Any]:
    return [t for t in study.get_trials(deepcopy=False) if t.state.name in FINISHED]


def run_study(
    study: Any,
    objective: Callable[[Any], float],
    *,
    n_trials: int,
    timeout: float | None,
    progress: bool,
    describe: Callable[[Any], str] = lambda s: "",
    inner: TrialProgress | None = None,
) -> None:
    """Run trials until the study holds ``n_trials`` finished ones (counting other workers' and earlier runs')."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    optuna = _optuna()
    states = tuple(getattr(optuna.trial.TrialState, s) for s in FINISHED)
    if len(finished_trials(study)) >= n_trials:
        return
    console = Console(stderr=True, quiet=not progress)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as bar:
        task = bar.add_task("tuning", total=n_trials, completed=len(finished_trials(study)))
        if inner is not None:
            running = bar.add_task("first trial: starting", total=None)

            def show(text: str, done: int, total: int) -> None:
                bar.update(running, description=text, completed=done, total=total)

            inner._show = show

        def update(study: Any, trial: Any) -> None:
            bar.update(task, completed=len(finished_trials(study)), description=describe(study))

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logging.getLogger("optuna").setLevel(logging.WARNING)
            study.optimize(objective, n_trials=None, timeout=timeout, gc_after_trial=False,
                           callbacks=[optuna.study.MaxTrialsCallback(n_trials, states=states), update])


def write_study_outputs(study: Any, out: Path, best: dict[str, Any]) -> None:
    """``best_params.json``, ``trials.csv`` and the report (PNG charts and ``tuning_report.html``); an earlier
    run's outputs in ``out`` go first (the study itself stays)."""
    clear_previous(out)
    write_text(out / "best_params.json", json.dumps(best, indent=2, default=str))
    frame = study.trials_dataframe(attrs=("number", "value", "state", "params", "user_attrs", "duration"))
    if "duration" in frame:
        frame["duration"] = frame["duration"].dt.total_seconds()
    with atomic_path(out / "trials.csv") as tmp:
        frame.to_csv(tmp, index=False)
    charts = _charts(study, out)
    complete = sum(t.state.name == "COMPLETE" for t in study.get_trials(deepcopy=False))
    notes = "" if complete >= IMPORTANCE_MIN_TRIALS else (
        f"<p>No parameter importances: {complete} complete trial{'s' if complete != 1 else ''}, and they need "
        f"{IMPORTANCE_MIN_TRIALS} or more to mean anything.</p>")
    rows = "".join(f"<tr><td>{k}</td><td>{_shown(v)}</td></tr>" for k, v in best["params"].items())
    imgs = "".join(f'<h3>{title}</h3><img src="{name}" style="max-width:900px">' for title, name in charts)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>qtrade tune</title></head>"
            f"<body style='font-family:Arial,sans-serif;max-width:960px;margin:auto'>"
            f"<h1>qtrade tune: {best['objective']}</h1>"
            f"<p>{best['n_finished']} finished trials ({best['n_pruned']} pruned); best value {best['value']:.5g} "
            f"against {_shown(best.get('default_value'))} for the default settings; {best.get('note', '')}</p>"
            f"{notes}"
            f"<table border=1 cellpadding=4><tr><th>setting</th><th>best</th></tr>{rows}</table>{imgs}</body></html>")
    write_text(out / "tuning_report.html", page)


def _shown(value: Any) -> str:
    """A setting or score as people read it: floats to 5 significant digits."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.5g}"
    return str(value)


def _charts(study: Any, out: Path) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    optuna = _optuna()
    vis = optuna.visualization.matplotlib
    done = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    made: list[tuple[str, str]] = []
    plots: list[tuple[str, str, Callable[[], Any]]] = [
        ("Optimisation history", "history.png", lambda: vis.plot_optimization_history(study)),
    ]
    if any(t.intermediate_values for t in study.get_trials(deepcopy=False)):
        plots.append(("Intermediate values (pruned trials stop early)", "intermediate.png",
                      lambda: vis.plot_intermediate_values(study)))
    if len(done) >= IMPORTANCE_MIN_TRIALS and len(done[0].params) >= 2:
        evaluator = optuna.importance.PedAnovaImportanceEvaluator()
        plots.insert(1, ("Parameter importances (PED-ANOVA)", "importances.png",
                         lambda: vis.plot_param_importances(study, evaluator=evaluator)))
    for title, name, draw in plots:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ax = draw()
            except (ValueError, RuntimeError):  # too few trials for this chart
                continue
        fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
        fig.set_size_inches(8, 4.5)
        fig.tight_layout()
        with atomic_path(out / name) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
        plt.close(fig)
        made.append((title, name))
    return made
