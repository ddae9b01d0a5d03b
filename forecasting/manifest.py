"""What a run records about itself: seed, data hash, configuration, library versions."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.atomic import write_text

__all__ = [
    "INPUT_OPTIONS",
    "data_hash",
    "file_hash",
    "history_table",
    "input_hashes",
    "library_versions",
    "note_rebuild",
    "qtrade_version",
    "row_hashes",
    "run_manifest",
]

INPUT_OPTIONS = ("--data", "--forecasts", "--params", "--forecast-params", "--model", "--space")
"""Options of the qtrade commands that name an input file or folder; the manifest records their SHA-256."""

STRATEGY_OPTIONS = ("--strategy", "-s")
"""Options that may name a rules file of the user's (``path/rules.py:name``), whose SHA-256 is recorded too."""

_LIBRARIES = ("qtrade", "torch", "numpy", "pandas", "arch", "scipy", "backtrader", "quantstats", "optuna")


def qtrade_version() -> str:
    try:
        return version("qtrade")
    except PackageNotFoundError:
        return "0+unknown"


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def data_hash(panel: pd.DataFrame) -> str:
    """SHA-256 of the canonical panel (index and values); equal data give equal hashes.

    Examples
    --------
    >>> from forecasting.market.synthetic import synthetic_panel
    >>> data_hash(synthetic_panel(1, 10)) == data_hash(synthetic_panel(1, 10))
    True
    """
    hashed = pd.util.hash_pandas_object(panel, index=True).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


HISTORY_COLUMNS = ("open", "high", "low", "close", "volume")
"""The columns of a row whose restatement (an unadjusted split, a corrected print) :func:`row_hashes` notices."""


def row_hashes(panel: pd.DataFrame) -> pd.Series:
    """A 64-bit hash of each (date, ticker) row's open, high, low, close and volume, read as float64 (a volume
    read as integers hashes as the same volume read as floats); indexed as ``panel``.

    A backtest folder keeps them (``history.parquet``) so that ``qtrade signal`` can tell which rows of later data
    differ from the history the run was made on.

    Examples
    --------
    >>> from forecasting.market.synthetic import synthetic_panel
    >>> a = synthetic_panel(2, 5)
    >>> b = a.copy()
    >>> b.iloc[3, 3] *= 1.0001
    >>> (row_hashes(a) != row_hashes(b)).tolist()
    [False, False, False, True, False, False, False, False, False, False]
    """
    values = panel[[c for c in HISTORY_COLUMNS if c in panel.columns]].astype("float64")
    hashed = pd.util.hash_pandas_object(values, index=False).to_numpy()
    return pd.Series(hashed, index=panel.index, name="hash")


def history_table(panel: pd.DataFrame) -> pd.DataFrame:
    """What a backtest folder's ``history.parquet`` holds: date, ticker and the low 32 bits of each row's
    :func:`row_hashes`, sorted by ticker then date (a run of one ticker compresses; 2,000 tickers x 1,250 days
    take 13 MB where the full 64 bits took 21). A row changed by chance to one of the same 32 bits goes unseen
    once in four billion.

    Examples
    --------
    >>> from forecasting.market.synthetic import synthetic_panel
    >>> table = history_table(synthetic_panel(2, 3))
    >>> list(table.columns), str(table["hash"].dtype), table["ticker"].tolist()
    (['date', 'ticker', 'hash'], 'uint32', ['T0000', 'T0000', 'T0000', 'T0001', 'T0001', 'T0001'])
    """
    table = row_hashes(panel).reset_index()
    table["hash"] = (table["hash"].to_numpy(dtype=np.uint64) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    table["ticker"] = table["ticker"].astype(str)
    return table.sort_values(["ticker", "date"], ignore_index=True)[["date", "ticker", "hash"]]


def file_hash(path: str | os.PathLike[str]) -> str | None:
    """SHA-256 of a file's bytes, or of a folder's files (their relative paths and bytes, hidden ones left out);
    ``None`` when there is nothing at ``path``."""
    p = Path(path)
    digest = hashlib.sha256()
    if p.is_file():
        files = [(p.name, p)]
    elif p.is_dir():
        files = sorted(
            (f.relative_to(p).as_posix(), f)
            for f in p.rglob("*")
            if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts)
        )
    else:
        return None
    for name, f in files:
        digest.update(name.encode() + b"\0")
        with f.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def input_hashes(argv: list[str]) -> dict[str, dict[str, str | None]]:
    """The input files and folders named on a command line (:data:`INPUT_OPTIONS`), each with its SHA-256.

    Examples
    --------
    >>> input_hashes(["qtrade", "forecast", "--out", "x", "--model=/no/such/model.pt"])
    {'--model': {'path': '/no/such/model.pt', 'sha256': None}}
    >>> input_hashes(["qtrade", "backtest", "--strategy", "/no/such/rules.py:mine", "-o", "x"])
    {'--strategy': {'path': '/no/such/rules.py', 'sha256': None}}
    """
    found: dict[str, dict[str, str | None]] = {}
    for k, arg in enumerate(argv):
        option, _, value = arg.partition("=")
        if option not in (*INPUT_OPTIONS, *STRATEGY_OPTIONS):
            continue
        if not value and k + 1 < len(argv):
            value = argv[k + 1]
        if option in STRATEGY_OPTIONS:
            option, value = "--strategy", _rules_file(value)
        if value:
            found[option] = {"path": value, "sha256": file_hash(value)}
    return found


def _rules_file(strategy: str) -> str:
    """The file of ``path/rules.py:name`` or ``path/rules.py``; empty for a strategy's name."""
    path = strategy.rpartition(":")[0] if strategy.rpartition(":")[0].endswith(".py") else strategy
    return path if path.endswith(".py") else ""


def run_manifest(
    *,
    command: str,
    seed: int,
    panel: pd.DataFrame,
    source: str,
    config: dict[str, object],
    extra: dict[str, object] | None = None,
) -> dict[str, object]:
    return {
        "command": command,
        "argv": sys.argv,
        "cwd": os.getcwd(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": seed,
        "data": {"source": source, "sha256": data_hash(panel), "rows": len(panel)},
        "inputs": input_hashes(sys.argv),
        "config": config,
        "versions": library_versions(),
        **(extra or {}),
    }


def note_rebuild(folder: str | os.PathLike[str], *, command: str, outputs: list[str]) -> bool:
    """Add to ``folder``'s manifest that ``command`` wrote ``outputs`` again there (``qtrade report`` rebuilding a
    backtest's tearsheet), when and with which library versions; the run it describes stays as it was recorded.
    ``False`` when the folder has no manifest to add to.

    Examples
    --------
    >>> import json, pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "manifest.json").write_text('{"command": "backtest --strategy kelly"}')
    >>> note_rebuild(folder, command="report", outputs=["tearsheet.html"])
    True
    >>> manifest = json.loads((folder / "manifest.json").read_text())
    >>> manifest["command"], manifest["rebuilt"][0]["outputs"]
    ('backtest --strategy kelly', ['tearsheet.html'])
    """
    path = Path(folder) / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(manifest, dict):
        return False
    entry = {
        "command": command,
        "argv": sys.argv,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "outputs": outputs,
        "versions": library_versions(),
    }
    manifest["rebuilt"] = [*manifest.get("rebuilt", []), entry]
    write_text(path, json.dumps(manifest, indent=2, default=str))
    return True
