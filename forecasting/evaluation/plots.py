"""Pictures of a forecasting run: convergence curves and calibration (PIT)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from forecasting.atomic import atomic_path

__all__ = ["pit_figure", "plot_folds", "plot_pit", "plot_training_curve"]


def plot_training_curve(
    histories: Sequence[Sequence[dict[str, float]]],
    best_epochs: Sequence[int],
    path: str | os.PathLike[str],
    *,
    loss: str = "nll",
    labels: Sequence[str] | None = None,
    dist: str = "normal",
) -> None:
    """Train and validation loss per epoch, one pair of lines per training (fold, or ensemble member: ``labels``),
    the restored epoch marked; the losses are those of log returns (the NLL, or the MSE x1e4), as the reports
    give them."""
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for k, (hist, best) in enumerate(zip(histories, best_epochs, strict=True)):
        epochs = [h["epoch"] for h in hist]
        name = labels[k] if labels is not None else f"fold {k + 1}"
        tag = f" ({name})" if len(histories) > 1 else ""
        line = ax.plot(epochs, [h["train_loss"] for h in hist], label=f"train{tag}")[0]
        ax.plot(epochs, [h["val_loss"] for h in hist], "--", color=line.get_color(), label=f"validation{tag}")
        ax.axvline(best, color=line.get_color(), alpha=0.3, lw=4)
    ax.set_xlabel("epoch")
    density = "Student-t" if dist == "studentt" else "Gaussian"
    ax.set_ylabel(f"{density} NLL of log returns" if loss == "nll" else "MSE of log returns x1e4")
    ax.set_title("Convergence; the shaded line marks the epoch restored by early stopping")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def plot_pit(hists: dict[str, list[int]], path: str | os.PathLike[str], *, title: str) -> None:
    """PIT histograms side by side, saved as PNG; a calibrated forecast gives a flat histogram at 1."""
    fig = pit_figure(hists, title=title)
    _save(fig, path)


def pit_figure(hists: dict[str, list[int]], *, title: str) -> Figure:
    """The figure of :func:`plot_pit`, for callers that embed it elsewhere (the backtest tearsheet)."""
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    names = list(hists)
    width = 0.8 / len(names)
    for j, name in enumerate(names):
        counts = hists[name]
        total = sum(counts) or 1
        dens = [c * len(counts) / total for c in counts]
        ax.bar([i + j * width for i in range(len(counts))], dens, width=width, label=name, align="edge")
    ax.axhline(1.0, color="black", lw=1)
    ax.set_xticks(range(len(hists[names[0]]) + 1))
    ax.set_xticklabels([f"{i / len(hists[names[0]]):.1f}" for i in range(len(hists[names[0]]) + 1)])
    ax.set_xlabel("probability integral transform")
    ax.set_ylabel("density (1 = calibrated)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_folds(gaps: dict[str, dict[str, float]], labels: dict[str, str], path: str | os.PathLike[str]) -> None:
    """A walk-forward fold by fold: the LSTM's out-of-sample NLL minus each baseline's on every fold's test block
    (``gaps``: refit date -> baseline -> gap), one line per baseline; below 0 the LSTM's log score is better."""
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    refits = list(gaps)
    baselines = sorted({b for g in gaps.values() for b in g})
    for b in baselines:
        ax.plot(range(len(refits)), [gaps[r].get(b, float("nan")) for r in refits], "o-", label=labels.get(b, b))
    ax.axhline(0.0, color="black", lw=1)
    ax.set_xticks(range(len(refits)))
    ax.set_xticklabels(refits, rotation=45, ha="right", fontsize=8)
    ax.set_xlabel("fold (refit date)")
    ax.set_ylabel("LSTM NLL minus the baseline's")
    ax.set_title("Out of sample, fold by fold: below 0 the LSTM's log score is better")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def _save(fig: Figure, path: str | os.PathLike[str]) -> None:
    """Write ``fig`` as PNG to ``path`` whole or not at all, and free it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
