"""``qtrade rerun DIR``: run again the command recorded in ``DIR/manifest.json`` and say whether it agrees.

The manifest holds the command line, the folder it ran in, the seed, the data's SHA-256, the SHA-256 of every
input file it read (``--data``, ``--forecasts``, ``--params``, ``--model``, ...), the settings and the library
versions. A rerun writes to a new folder and compares: the data and input hashes, then the forecasts and the
backtest statistics, which on the CPU must be identical. :func:`rerun` says whether everything agreed, and
``qtrade rerun`` exits with 1 when anything differs.

A ``qtrade tune`` is rerun as one worker on a fresh SQLite study in the new folder (never in the recorded study's
``--storage``, which would only add trials to it); with the same seed its TPE sampler draws the same settings,
and ``best_params.json`` and every trial's settings, state and value are compared (not the worker's process id
or the trial's duration). A study that several processes ran (parallel workers, or a resumed run) cannot be
repeated trial for trial, and the rerun says so.
"""

from __future__ import annotations

import csv
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
        raise DataError(
            f"{path}: missing or unreadable; give the --out folder of a qtrade forecast, backtest or tune"
        ) from None
    if not isinstance(manifest, dict) or not manifest.get("argv"):
        raise DataError(f"{path}: records no command line; it was not written by qtrade forecast, backtest or tune")
    return manifest


def _without_storage(argv: list[str]) -> list[str]:
    """The command line without ``--storage URL``: a rerun's study is a SQLite file in its own folder."""
    args, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--storage":
            skip = True
        elif not a.startswith("--storage="):
            args.append(a)
    return args


TRIAL_NOISE = ("user_attrs_pid", "duration")
"""Columns of ``trials.csv`` that differ between any two runs: the worker's process id and the trial's duration."""


def _trials(path: Path) -> dict[str, dict[str, str]] | None:
    """``trials.csv`` by trial number, without :data:`TRIAL_NOISE`; ``None`` when there is none."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError:
        return None
    return {row.get("number", ""): {k: v for k, v in row.items() if k not in TRIAL_NOISE} for row in rows}


def _compare_trials(result: Rerun, old: Path, new: Path, processes: int) -> None:
    a, b = _trials(old / "trials.csv"), _trials(new / "trials.csv")
    if a is None or b is None:
        result.compare("trials.csv", False, what=f"DIFFERENT (only in the {'recorded run' if a else 'rerun'})")
        return
    differ = sorted({n for n in a.keys() | b.keys() if a.get(n) != b.get(n)}, key=lambda n: (len(n), n))
    why = (
        (
            f"; the recorded study ran in {processes} processes (parallel workers or a resumed run), whose trials "
            "one rerun cannot repeat"
        )
        if differ and processes > 1
        else ""
    )
    shown = ", ".join(differ[:5]) + (" ..." if len(differ) > 5 else "")
    result.compare(
        "trials.csv",
        not differ,
        detail=f" (trial {shown}{why})" if differ else f" ({len(a)} trials: settings, states and values)",
    )


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
    tune = str(manifest.get("command", "")).startswith("tune")
    argv = [a for a in manifest["argv"][1:] if a not in ("-q", "--quiet")]
    args = [*_with_out(_without_storage(argv) if tune else argv, new), "--quiet"]
    cwd = manifest.get("cwd") if manifest.get("cwd") and Path(manifest["cwd"]).is_dir() else None
    done = subprocess.run(
        [sys.executable, "-m", "qtrade.cli", *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        message = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise DataError(f"the rerun failed: {message}")
    result = Rerun()
    if tune and _without_storage(argv) != argv:
        result.lines.append(
            f"--storage {manifest.get('study', {}).get('storage', '?')}: not used; the rerun's study "
            f"is {new / 'study.db'}"
        )
    again = _manifest(new)
    sha = again["data"]["sha256"]
    result.compare(
        "data",
        sha == manifest["data"]["sha256"],
        what="the same" if sha == manifest["data"]["sha256"] else "DIFFERENT",
        detail=f" (sha256 {sha[:12]}...)",
    )
    recorded, now = manifest.get("inputs"), again.get("inputs", {})
    for option, entry in sorted(now.items()):
        before = (recorded or {}).get(option)
        if recorded is None or before is None:
            result.lines.append(f"{option} {entry['path']}: not recorded by the earlier run, not compared")
            continue
        equal = before.get("sha256") == entry.get("sha256") and entry.get("sha256") is not None
        shown = "missing" if entry.get("sha256") is None else f"sha256 {entry['sha256'][:12]}..."
        result.compare(
            f"{option} {entry['path']}", equal, what="the same" if equal else "DIFFERENT", detail=f" ({shown})"
        )
    for name in (*COMPARED, *(("best_params.json",) if tune else ())):
        a, b = old / name, new / name
        if a.is_file() or b.is_file():
            equal = a.is_file() and b.is_file() and a.read_bytes() == b.read_bytes()
            result.compare(
                name,
                equal,
                what=""
                if a.is_file() and b.is_file()
                else f"DIFFERENT (only in the {'recorded run' if a.is_file() else 'rerun'})",
            )
    if tune:
        _compare_trials(result, old, new, int(manifest.get("study", {}).get("processes", 1)))
    return result
