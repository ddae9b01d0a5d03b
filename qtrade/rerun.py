"""``qtrade rerun DIR``: run again the command recorded in ``DIR/manifest.json`` and say whether it agrees.

The manifest holds the command line, the folder it ran in, the seed, the data's SHA-256, the SHA-256 of every
input file it read (``--data``, ``--forecasts``, ``--params``, ``--model``, ...), the settings and the library
versions. A rerun writes to a new folder and compares: the data and input hashes, then the forecasts and the
backtest statistics, which on the CPU must be identical. :func:`rerun` says whether everything agreed, and
``qtrade rerun`` exits with 1 when anything differs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forecasting.errors import DataError

__all__ = ["Rerun", "rerun"]

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


@dataclass
class Rerun:
    """One line per comparison; ``same`` when every compared input and output agrees."""

    lines: list[str] = field(default_factory=list)
    same: bool = True

    def compare(self, name: str, equal: bool, *, what: str = "", detail: str = "") -> None:
        self.same &= equal
        word = what or ("identical" if equal else "DIFFERENT")
        self.lines.append(f"{name}: {word}{detail}")


def rerun(folder: str | os.PathLike[str], out: str | os.PathLike[str]) -> Rerun:
    """Run the recorded command into ``out`` and compare its data, inputs and outputs with the recorded run's."""
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
    result = Rerun()
    again = _manifest(new)
    sha = again["data"]["sha256"]
    result.compare("data", sha == manifest["data"]["sha256"], what="the same" if sha == manifest["data"]["sha256"]
                   else "DIFFERENT", detail=f" (sha256 {sha[:12]}...)")
    recorded, now = manifest.get("inputs"), again.get("inputs", {})
    for option, entry in sorted(now.items()):
        before = (recorded or {}).get(option)
        if recorded is None or before is None:
            result.lines.append(f"{option} {entry['path']}: not recorded by the earlier run, not compared")
            continue
        equal = before.get("sha256") == entry.get("sha256") and entry.get("sha256") is not None
        shown = "missing" if entry.get("sha256") is None else f"sha256 {entry['sha256'][:12]}..."
        result.compare(f"{option} {entry['path']}", equal, what="the same" if equal else "DIFFERENT",
                       detail=f" ({shown})")
    for name in COMPARED:
        a, b = old / name, new / name
        if a.is_file() or b.is_file():
            equal = a.is_file() and b.is_file() and a.read_bytes() == b.read_bytes()
            result.compare(name, equal, what="" if a.is_file() and b.is_file() else
                           f"DIFFERENT (only in the {'recorded run' if a.is_file() else 'rerun'})")
    return result
