"""Optuna studies for ``qtrade tune``: storage, sampler, pruner, progress, and the written results.

Any objective (the forecaster's validation NLL, a strategy's validation Sharpe) runs through :func:`run_study`.

Workers of one study (the same study name in the same storage, started together or resuming it later) are one
run. Each writes the study's outputs when it finishes, holding the folder's lock, from the study as it stands
then; so the last to finish describes every trial, and no worker removes another's outputs: only the outputs of
an earlier run (another command, another study, or a study of the same name made anew) are cleared.
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

from forecasting.atomic import atomic_path, folder_lock, write_text
from forecasting.errors import ConfigError
from forecasting.outputs import clear_previous, written

__all__ = [
    "FINISHED",
    "IMPORTANCE_MIN_TRIALS",
    "TrialProgress",
    "finished_trials",
    "open_study",
    "run_study",
    "shown_url",
    "storage_url",
    "study_run",
    "write_study_outputs",
]

IMPORTANCE_MIN_TRIALS = 10
"""Fewest complete trials before parameter importances are drawn: PED-ANOVA compares the best tenth of the trials
with the rest, which with fewer trials is noise shown as a ranking."""


def _optuna() -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


FINISHED = ("COMPLETE", "PRUNED")


def open_study(
    out: Path, *, storage: str | None, study_name: str, seed: int, direction: str, pruner: str = "median"
) -> Any:
    """Create or resume the study; the default storage is a SQLite file in ``out``."""
    optuna = _optuna()
    out.mkdir(parents=True, exist_ok=True)
    url = storage_url(out, storage)
    try:
        rdb = _storage(optuna, url)
    except Exception as exc:  # any database failure is one user-facing line
        first = str(exc).splitlines()[0][:120]
        raise ConfigError(
            f"--storage {shown_url(url)}: cannot open ({type(exc).__name__}: {first}); check the URL, "
            "the server and its driver (pip install qtrade[postgres] for PostgreSQL)"
        ) from None
    pruners = {
        "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=3),
        "hyperband": lambda: optuna.pruners.HyperbandPruner(min_resource=2),
        "none": optuna.pruners.NopPruner,
    }
    if pruner not in pruners:
        raise ConfigError(f"--pruner {pruner!r} is not known; use median, hyperband or none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = optuna.create_study(
            storage=rdb,
            study_name=study_name,
            load_if_exists=True,
            direction=direction,
            sampler=optuna.samplers.TPESampler(seed=seed),
            pruner=pruners[pruner](),
        )
    if study.direction.name.lower() != direction:
        raise ConfigError(
            f"study {study_name!r} in {shown_url(url)} was made to {study.direction.name.lower()}; "
            "use another --study name for this objective"
        )
    return study


def storage_url(out: Path, storage: str | None) -> str:
    """The study's storage: ``storage``, or by default the SQLite file ``study.db`` in ``out``."""
    return storage or f"sqlite:///{(out / 'study.db').resolve()}"


def shown_url(url: str) -> str:
    """A storage URL with its password hidden, as it may be printed or recorded.

    Examples
    --------
    >>> shown_url("postgresql://me:secret@db.example.com/optuna")
    'postgresql://me:***@db.example.com/optuna'
    >>> shown_url("sqlite:///runs/tune/study.db")
    'sqlite:///runs/tune/study.db'
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def study_run(study: Any) -> str:
    """What makes a study one run: its name and the start of its trial 0, which every worker sees the same and
    which a study made anew under the same name does not share."""
    first = next((t for t in study.get_trials(deepcopy=False) if t.number == 0), None)
    start = getattr(first, "datetime_start", None)
    return f"{study.study_name}@{start.isoformat() if start is not None else '-'}"


def _recorded_run(out: Path) -> str | None:
    """The study run that wrote the outputs in ``out``, from its manifest; ``None`` for any other folder."""
    try:
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    study = manifest.get("study") if isinstance(manifest, dict) and manifest.get("command") == "tune" else None
    return study.get("run") if isinstance(study, dict) else None


def _storage(optuna: Any, url: str, attempts: int = 5) -> Any:
    """Open the RDB storage; workers started together race to create its tables, and the losers retry (SQLite
    says "table ... already exists" or "database is locked", PostgreSQL "duplicate key" or "already exists")."""
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # heartbeats are marked experimental
                return optuna.storages.RDBStorage(
                    url, heartbeat_interval=5, grace_period=20, engine_kwargs={"pool_pre_ping": True}
                )
        except (IntegrityError, ProgrammingError, OperationalError) as exc:
            concurrent = not isinstance(exc, OperationalError) or any(
                words in str(exc) for words in ("already exists", "database is locked")
            )
            if not concurrent or attempt == attempts - 1:
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
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as bar:
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
            started = time.monotonic()
            while len(finished_trials(study)) < n_trials:
                left = None if timeout is None else timeout - (time.monotonic() - started)
                if left is not None and left <= 0:
                    break
                try:
                    study.optimize(
                        objective,
                        n_trials=None,
                        timeout=left,
                        gc_after_trial=False,
                        callbacks=[optuna.study.MaxTrialsCallback(n_trials, states=states), update],
                    )
                    break
                except (ValueError, optuna.exceptions.UpdateFinishedTrialError) as exc:
                    if not _told_elsewhere(exc):
                        raise
                    # SQLite: two workers started together can both pop the same enqueued trial (pysqlite reads
                    # outside a transaction), and the slower one finds it finished; its duplicate result is
                    # dropped and it goes on with the next trial


def _told_elsewhere(exc: Exception) -> bool:
    """True for Optuna's refusal to tell, or to report to, a trial that another worker has finished."""
    text = str(exc)
    return text.startswith("Cannot tell a ") or "has already finished" in text or "is already finished" in text


def write_study_outputs(
    study: Any, out: Path, record: Callable[[], dict[str, Any]], *, manifest: dict[str, Any], storage: str | None
) -> dict[str, Any]:
    """Write ``best_params.json`` (what ``record`` returns), ``trials.csv``, the report (PNG charts and
    ``tuning_report.html``) and ``manifest.json``; return the record.

    All of it happens under the folder's lock and from the study as it stands then, so workers that finish
    together write one after the other and the last describes every trial. Outputs of an earlier run go first
    (the study itself stays); those of this study's run, written by another worker or an earlier session of a
    resumed study, are replaced in place, never removed. ``manifest`` is :func:`forecasting.manifest.run_manifest`'s
    record of this worker's command; the study's name, storage and trials are added to it.
    """
    url = storage_url(out, storage)
    with folder_lock(out):
        best = record()
        run = study_run(study)
        if _recorded_run(out) != run:
            clear_previous(out)
        _write_files(study, out, best)
        trials = study.get_trials(deepcopy=False)
        processes = {t.user_attrs["pid"] for t in trials if "pid" in t.user_attrs and t.state.name in FINISHED}
        described = {
            **manifest,
            "argv": _without_passwords(manifest.get("argv", [])),
            "study": {
                "name": study.study_name,
                "storage": shown_url(url),
                "run": run,
                "n_trials": len(trials),
                "n_finished": best["n_finished"],
                "n_complete": sum(t.state.name == "COMPLETE" for t in trials),
                "n_pruned": best["n_pruned"],
                "best_trial": best["trial"],
                "best_value": best["value"],
                "processes": len(processes),
            },
        }
        described["outputs"] = sorted({*written(out), "manifest.json"})
        write_text(out / "manifest.json", json.dumps(described, indent=2, default=str))
    return best


def _without_passwords(argv: list[str]) -> list[str]:
    """The command line with the password of a ``--storage`` URL hidden."""
    shown = list(argv)
    for k, arg in enumerate(shown):
        if arg == "--storage" and k + 1 < len(shown):
            shown[k + 1] = shown_url(shown[k + 1])
        elif arg.startswith("--storage="):
            shown[k] = "--storage=" + shown_url(arg.partition("=")[2])
    return shown


def _write_files(study: Any, out: Path, best: dict[str, Any]) -> None:
    write_text(out / "best_params.json", json.dumps(best, indent=2, default=str))
    frame = study.trials_dataframe(attrs=("number", "value", "state", "params", "user_attrs", "duration"))
    if "duration" in frame:
        frame["duration"] = frame["duration"].dt.total_seconds()
    with atomic_path(out / "trials.csv") as tmp:
        frame.to_csv(tmp, index=False)
    charts = _charts(study, out)
    complete = sum(t.state.name == "COMPLETE" for t in study.get_trials(deepcopy=False))
    notes = (
        ""
        if complete >= IMPORTANCE_MIN_TRIALS
        else (
            f"<p>No parameter importances: {complete} complete trial{'s' if complete != 1 else ''}, and they need "
            f"{IMPORTANCE_MIN_TRIALS} or more to mean anything.</p>"
        )
    )
    rows = "".join(f"<tr><td>{k}</td><td>{_shown(v)}</td></tr>" for k, v in best["params"].items())
    imgs = "".join(f'<h3>{title}</h3><img src="{name}" style="max-width:900px">' for title, name in charts)
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>qtrade tune</title></head>"
        f"<body style='font-family:Arial,sans-serif;max-width:960px;margin:auto'>"
        f"<h1>qtrade tune: {best['objective']}</h1>"
        f"<p>{best['n_finished']} finished trials ({best['n_pruned']} pruned); best value {best['value']:.5g} "
        f"against {_shown(best.get('default_value'))} for the default settings; {best.get('note', '')}</p>"
        f"{notes}"
        f"<table border=1 cellpadding=4><tr><th>setting</th><th>best</th></tr>{rows}</table>{imgs}</body></html>"
    )
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
        ("Optimisation history", "history.png", lambda: vis.plot_optimization_history(study))
    ]
    if any(t.intermediate_values for t in study.get_trials(deepcopy=False)):
        plots.append(
            (
                "Intermediate values (pruned trials stop early)",
                "intermediate.png",
                lambda: vis.plot_intermediate_values(study),
            )
        )
    if len(done) >= IMPORTANCE_MIN_TRIALS and len(done[0].params) >= 2:
        evaluator = optuna.importance.PedAnovaImportanceEvaluator()
        plots.insert(
            1,
            (
                "Parameter importances (PED-ANOVA)",
                "importances.png",
                lambda: vis.plot_param_importances(study, evaluator=evaluator),
            ),
        )
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
