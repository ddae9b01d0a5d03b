"""What a run records about itself: seed, data hash, configuration, library versions."""

from __future__ import annotations

import hashlib
import os
import platform
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version

import pandas as pd

__all__ = ["data_hash", "library_versions", "qtrade_version", "run_manifest"]

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
    >>> from forecasting.synthetic import synthetic_panel
    >>> data_hash(synthetic_panel(1, 10)) == data_hash(synthetic_panel(1, 10))
    True
    """
    hashed = pd.util.hash_pandas_object(panel, index=True).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


def run_manifest(*, command: str, seed: int, panel: pd.DataFrame, source: str, config: dict[str, object],
                 extra: dict[str, object] | None = None) -> dict[str, object]:
    return {
        "command": command,
        "argv": sys.argv,
        "cwd": os.getcwd(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seed": seed,
        "data": {"source": source, "sha256": data_hash(panel), "rows": int(len(panel))},
        "config": config,
        "versions": library_versions(),
        **(extra or {}),
    }
