"""``qtrade rerun DIR``: run again the command recorded in ``DIR/manifest.json`` and say whether it agrees.

The manifest holds the command line, the folder it ran in, the seed, the data's SHA-256, the settings and the
library versions. A rerun writes to a new folder and compares: the data hash, then the forecasts and the
backtest statistics, which on the CPU must be identical.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from forecasting.errors import DataError

__all__ = ["rerun"]

COMPARED = ("forecasts.csv", "forecast/forecasts.csv", "stats.json", "returns.csv")


def _manifest(folder: Path) -> dict[str, Any]:
    path = folder / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise DataError(f"{path}: missing or unreadable; give the --out folder of a qtrade forecast or backtest") from None
    if not isinstance(manifest, dict) or not manifest.get("argv"):
        raise DataError(f"{path}: records no command line; it was not written by qtrade forecast or backtest")
    return manifest


def _with_out(argv: list[str], out: Path) -> list[str]:
    args = list(argv)
    for flag in ("--out", "-o"):
        if flag in args:
            args[args.index(flag) + 1] = str(out)
            return args
        for k, a in enumerate(args):
            if a.startswith(flag + "="):
                args[k] = f"{flag}={out}"
                return args
    return [*args, "--out", str(out)]


def rerun(folder: str | os.PathLike[str], out: str | os.PathLike[str]) -> list[str]:
    """Run the recorded command into ``out``; return one line per comparison."""
    old, new = Path(folder), Path(out).resolve()
    if new == old.resolve():
        raise DataError(f"--out {out} is the recorded run's folder; give a new folder to compare against")
    manifest = _manifest(old)
    args = _with_out([a for a in manifest["argv"][1:] if a not in ("-q", "--quiet")], new) + ["--quiet"]
    cwd = manifest.get("cwd") if manifest.get("cwd") and Path(manifest["cwd"]).is_dir() else None
    done = subprocess.run([sys.executable, "-m", "qtrade.cli", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        message = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise DataError(f"the rerun failed: {message}")
    lines = []
    again = _manifest(new)
    same_data = again["data"]["sha256"] == manifest["data"]["sha256"]
    lines.append(f"data: {'the same' if same_data else 'DIFFERENT'} (sha256 {again['data']['sha256'][:12]}...)")
    for name in COMPARED:
        a, b = old / name, new / name
        if a.is_file() and b.is_file():
            lines.append(f"{name}: {'identical' if a.read_bytes() == b.read_bytes() else 'DIFFERENT'}")
    return lines
