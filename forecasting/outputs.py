"""The run folder (``--out``): checked before any work is done, cleared of an earlier run's outputs before writing.

A folder given to ``--out`` is refused at once when it is a file, lies under a file, or cannot be written, so
that no one trains for an hour to learn it. When a run writes into a folder that holds an earlier run, the
earlier run's outputs are removed first (every name a qtrade command writes), so
that no stale ``forecast/`` or ``metrics.json`` of another data set sits beside the new results; files that
are not qtrade's are left alone. The removal happens only once the new run has its results, so a run that
fails or is interrupted before then leaves the earlier outputs as they were.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from forecasting.errors import ConfigError, DataError

__all__ = ["OUTPUT_NAMES", "check_out", "clear_previous", "read_record", "written"]

OUTPUT_NAMES = frozenset(
    {
        # qtrade forecast
        "forecasts.csv",
        "forecasts.parquet",
        "metrics.json",
        "model.pt",
        "training_curve.png",
        "pit.png",
        "manifest.json",
        # qtrade backtest
        "tearsheet.html",
        "returns.csv",
        "trades.csv",
        "decisions.csv",
        "holdings.csv",
        "deciles.csv",
        "stats.json",
        "forecast_metrics.json",
        "forecast",
        "cross_section.csv",
        "history.parquet",
        "folds",
        # qtrade signal
        "signal.json",
        "targets.csv",
        "targets.json",
        "orders.csv",
        "orders.json",
        # qtrade tune (study.db is kept: a study resumes from it)
        "best_params.json",
        "trials.csv",
        "tuning_report.html",
        "history.png",
        "intermediate.png",
        "importances.png",
    }
)
"""Every file and folder name a qtrade command writes into its ``--out``."""


def check_out(out: str | os.PathLike[str], option: str = "--out") -> Path:
    """Refuse, in one line, an output folder that cannot be made or written; create nothing.

    Examples
    --------
    >>> check_out(tempfile.gettempdir()).is_dir()
    True
    """
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path} is a file; give a folder (it is made when missing)")
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{option} {path}: {existing} is a file, so the folder cannot be made; give another folder")
    try:  # os.access says yes to root even on a read-only file system: try it
        fd, probe = tempfile.mkstemp(prefix=".qtrade-probe-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"{option} {path}: cannot write in {existing} ({reason}); give a folder you can write to"
        ) from None
    return path


def clear_previous(out: Path, *, keep: Iterable[str | os.PathLike[str]] = ()) -> list[str]:
    """Remove an earlier run's outputs (every name in :data:`OUTPUT_NAMES`) from ``out``; return the names removed.

    Never removed: an entry that is, or holds, a path in ``keep`` or a file or folder the command line names as
    an input (``--data``, ``--params``, ``--model``, ``--forecasts``, ...: the ``best_params.json`` a forecast
    reads from its own folder stays). The manifest goes first, so that a folder is never described by a stale
    one. Other files stay. A name that vanishes meanwhile (another process removed it) is skipped, not an error.
    """
    if not out.is_dir():
        return []
    inputs = [Path(p).resolve() for p in keep] + _command_line_inputs()
    removed = []
    for name in ["manifest.json", *sorted(OUTPUT_NAMES - {"manifest.json"})]:
        target = out / name
        if not (target.exists() or target.is_symlink()) or _holds_any(target.resolve(), inputs):
            continue
        if _remove(target):
            removed.append(name)
    return removed


def _remove(target: Path) -> bool:
    """Remove a file or folder; another process may remove it first (between the check and here, or while a
    folder's files go), which is no error. Whether this call removed it."""
    if target.is_dir() and not target.is_symlink():
        gone: list[bool] = []

        def vanished(function: object, path: str, excinfo: tuple[type[BaseException], BaseException, object]) -> None:
            if not isinstance(excinfo[1], FileNotFoundError):
                raise excinfo[1]
            gone.append(os.fspath(path) == os.fspath(target))

        shutil.rmtree(target, onerror=vanished)
        return not any(gone)
    try:
        target.unlink()
    except FileNotFoundError:
        return False
    return True


def _holds_any(entry: Path, paths: list[Path]) -> bool:
    return any(p == entry or entry in p.parents for p in paths)


def _command_line_inputs() -> list[Path]:
    from forecasting.manifest import INPUT_OPTIONS

    argv, found = sys.argv, []
    for k, arg in enumerate(argv):
        option, _, value = arg.partition("=")
        if option in INPUT_OPTIONS:
            value = value or (argv[k + 1] if k + 1 < len(argv) else "")
            if value:
                found.append(Path(value).resolve())
    return found


def written(out: Path) -> list[str]:
    """The qtrade outputs ``out`` holds, for the manifest's ``outputs``."""
    return sorted(p.name for p in out.iterdir() if p.name in OUTPUT_NAMES)


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; empty when the file is missing, unreadable or not an object (a record that a
    run may not have written)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def read_record(path: Path, fix: str) -> dict[str, Any]:
    """A JSON object a qtrade run wrote (stats.json, manifest.json, ...), or one line naming the file and ``fix``."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise DataError(f"{path}: missing or unreadable; {fix}") from None
    if not isinstance(value, dict):
        raise DataError(f"{path}: not a qtrade record; {fix}")
    return value
