"""The progress a training shows on stderr (rich): a bar of epochs per network with its losses in returns' units,
lines before the baselines' fits, and, for folds fitted in parallel, a bar of folds. ``qtrade forecast`` and
``qtrade refit`` show the same."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from forecasting.folds import EpochHook, FoldResult, LossInReturns
from forecasting.model.threads import use_threads

__all__ = ["FoldProgress", "console", "fold_progress"]


def console(progress: bool) -> Any:
    """The stderr console progress is printed on; silent without ``progress``."""
    from rich.console import Console

    return Console(stderr=True, quiet=not progress)


@dataclass(frozen=True)
class FoldProgress:
    """What :func:`forecasting.folds.run_folds` and :func:`forecasting.folds.fit_fold` are given to show progress:
    ``hook`` (per-epoch callbacks; None for folds fitted elsewhere), ``say`` (lines; likewise) and ``on_fold``."""

    hook: EpochHook | None
    say: Callable[[str], None] | None
    on_fold: Callable[[FoldResult], None]


@contextmanager
def fold_progress(out: Any, config: Any, device: Any, n_folds: int) -> Iterator[FoldProgress]:
    """Show the training of ``n_folds`` folds with ``config`` (a :class:`forecasting.config.ForecastConfig`) on
    ``device`` on the console ``out`` for the block."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    parallel = config.jobs > 1 or config.cluster is not None
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} epochs" if not parallel else "{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=out,
        transient=False,
    ) as bar:

        def hook(fold: int, member: int, tag: str, to_returns: LossInReturns) -> Callable[[dict[str, float]], None]:
            label = f"{tag} " if tag else ""
            task = bar.add_task(f"{label}training on {device.type}", total=config.epochs)

            def on_epoch(rec: dict[str, float]) -> None:
                bar.update(
                    task,
                    advance=1,
                    description=(
                        f"{label}epoch {int(rec['epoch'])}: {to_returns.name} "
                        f"train {to_returns(rec['train_loss']):.4f} val {to_returns(rec['val_loss']):.4f}"
                    ),
                )
                use_threads(config.threads)  # the share changes as other qtrade processes start and end

            return on_epoch

        where = f"on the Dask cluster at {config.cluster}" if config.cluster else f"in {config.jobs} processes"
        fold_task = bar.add_task(f"{n_folds} folds {where}", total=n_folds) if parallel else None

        def say(line: str) -> None:
            out.print(line, highlight=False, soft_wrap=True)

        def on_fold(result: FoldResult) -> None:
            if fold_task is not None:
                bar.update(fold_task, advance=1)
                say(
                    f"fold {result.index + 1}/{n_folds}: trained, baselines refitted and {len(result.scored):,} "
                    f"forecasts scored in {result.seconds:.1f} s"
                )

        yield FoldProgress(None if parallel else hook, None if parallel else say, on_fold)
