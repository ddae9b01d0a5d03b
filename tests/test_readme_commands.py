"""The README's commands are the commands qtrade has: every ``qtrade ...`` it shows names a real command with real
options, and every command of its command table runs, with tiny settings, on a small data file."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import typer

from forecasting.market.synthetic import synthetic_panel
from qtrade.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"
EXAMPLE = README.with_name("examples") / "custom_rules.py"
QTRADE = str(Path(sys.executable).with_name("qtrade"))


def _commands() -> dict[str, set[str]]:
    """Each qtrade command and the options it takes (``--help`` included)."""
    group = typer.main.get_command(app)
    out = {}
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        options = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
        out[name] = options | {"--help"}
    return out


def readme_invocations(text: str) -> list[str]:
    """Every ``qtrade <command> ...`` the README shows: in code blocks (one a line, continuations joined) and in
    backticks (the command table's first column among them)."""
    found: list[str] = []
    for block in re.findall(r"```(?:bash|sh|console)?\n(.*?)```", text, flags=re.S):
        for raw in block.replace("\\\n", " ").splitlines():
            line = raw.split("#", 1)[0].strip().removeprefix("$ ")
            if line.startswith("qtrade "):
                found.append(line)
    found += list(re.findall(r"`(qtrade [a-z][^`]*)`", text))
    return found


def _options(invocation: str) -> tuple[str, list[str]]:
    words = invocation.replace("\\|", "|").split()
    return words[1], [w.split("=", 1)[0].strip("[]") for w in words[2:] if w.lstrip("[").startswith("--")]


def test_every_command_the_readme_shows_exists_with_its_options() -> None:
    text = README.read_text(encoding="utf-8")
    commands = _commands()
    shown = readme_invocations(text)
    assert len(shown) >= 20, "the README's commands were not found: has its layout changed?"
    wrong = []
    for invocation in shown:
        name, options = _options(invocation)
        if name not in commands:
            if not name.startswith("-"):
                wrong.append(f"{invocation!r}: no command {name!r}")
            continue
        wrong += [f"{invocation!r}: {name} has no option {opt}" for opt in options if opt not in commands[name]]
    assert wrong == []


def test_the_check_catches_a_command_or_option_that_does_not_exist() -> None:
    commands = _commands()
    shown = readme_invocations(
        "```bash\nqtrade forecast --no-such-option 3 --out x\nqtrade launch\n```\n"
        "and `qtrade backtest --strategy kelly --out y`"
    )
    assert [_options(s) for s in shown] == [
        ("forecast", ["--no-such-option", "--out"]),
        ("launch", []),
        ("backtest", ["--strategy", "--out"]),
    ]
    assert "--no-such-option" not in commands["forecast"] and "launch" not in commands


def _table_rows(text: str) -> list[str]:
    section = text.split("## The command line", 1)[1].split("\n## ", 1)[0]
    return list(re.findall(r"^\| `(qtrade [^`]*)` \|", section, flags=re.M))


def _ok(args: list[str]) -> str:
    """Run ``qtrade args`` as a user would, in its own process (a manifest records that process's command line)."""
    run = subprocess.run(
        [QTRADE, *args], capture_output=True, text=True, timeout=600, env={**os.environ, "QTRADE_THREADS": "1"}
    )
    assert run.returncode == 0, f"qtrade {shlex.join(args)}: {(run.stdout + run.stderr)[-1500:]}"
    return run.stdout


@pytest.mark.slow
def test_every_command_of_the_readme_table_runs(tmp_path: Path) -> None:
    rows = _table_rows(README.read_text(encoding="utf-8"))
    names = [r.split()[1] for r in rows]
    data = tmp_path / "prices.csv"
    synthetic_panel(2, 260, seed=3).reset_index().to_csv(data, index=False)
    tiny = ["--window", "5", "--hidden", "4", "--epochs", "1", "--quiet"]
    ran: list[str] = []

    _ok(["data", str(data), "--calendar", "none"])
    ran.append("data")
    _ok(
        [
            "forecast",
            "--data",
            str(data),
            "--execution",
            "next-close",
            "--dist",
            "normal",
            "--ensemble",
            "1",
            *tiny,
            "--out",
            str(tmp_path / "fc"),
        ]
    )
    assert (tmp_path / "fc" / "forecasts.csv").is_file() and (tmp_path / "fc" / "model.pt").is_file()
    _ok(
        [
            "forecast",
            "--model",
            str(tmp_path / "fc" / "model.pt"),
            "--data",
            str(data),
            "--out",
            str(tmp_path / "again"),
        ]
    )
    assert (tmp_path / "again" / "forecasts.csv").is_file()
    _ok(
        [
            "forecast",
            "--data",
            str(data),
            "--oos-start",
            "2017-09-01",
            "--refit-every",
            "30",
            "--train-window",
            "150",
            "--val-days",
            "20",
            "--jobs",
            "2",
            *tiny,
            "--out",
            str(tmp_path / "wf"),
        ]
    )
    assert json.loads((tmp_path / "wf" / "metrics.json").read_text())["walk_forward"]["folds"]
    ran.append("forecast")
    assert "kelly" in _ok(["strategies"])
    assert "hysteresis" in _ok(["strategies", "--from", str(EXAMPLE)])
    ran.append("strategies")
    _ok(
        [
            "backtest",
            "--strategy",
            "kelly",
            "--forecasts",
            str(tmp_path / "fc"),
            "--data",
            str(data),
            "--param",
            "fraction=0.5",
            "--execution",
            "next-close",
            "--commission-bps",
            "1",
            "--out",
            str(tmp_path / "bt"),
        ]
    )
    page = tmp_path / "bt" / "tearsheet.html"
    assert page.is_file()
    _ok(
        [
            "backtest",
            "--strategy",
            f"{EXAMPLE}:hysteresis",
            "--param",
            "enter=0.55",
            "--forecasts",
            str(tmp_path / "fc"),
            "--data",
            str(data),
            "--out",
            str(tmp_path / "mine"),
        ]
    )
    assert (tmp_path / "mine" / "tearsheet.html").is_file()
    _ok(
        [
            "backtest",
            "--strategy",
            "all",
            "--forecasts",
            str(tmp_path / "wf"),
            "--data",
            str(data),
            "-o",
            str(tmp_path / "all"),
        ]
    )
    assert (tmp_path / "all" / "comparison.json").is_file()
    ran.append("backtest")
    page.unlink()
    _ok(["report", str(tmp_path / "bt")])
    assert page.is_file()
    ran.append("report")
    last = str(pd.read_csv(data)["date"].max())[:10]
    _ok(["signal", str(tmp_path / "bt"), "--data", str(data), "--as-of", last, "--out", str(tmp_path / "signal")])
    assert (tmp_path / "signal" / "orders.csv").is_file() and (tmp_path / "signal" / "targets.json").is_file()
    ran.append("signal")
    ledger = f"sqlite:///{tmp_path / 'paper.db'}"
    paper = ["paper", str(tmp_path / "all" / "kelly"), "--data", str(data), "--as-of", last, "--ledger", ledger]
    _ok([*paper, "--out", str(tmp_path / "paper")])  # a strategy of a --strategy all folder: its history is shared
    assert (tmp_path / "paper" / "orders.csv").is_file() and (tmp_path / "paper" / "paper.json").is_file()
    ran.append("paper")
    _ok(["report", "--ledger", ledger, "--data", str(data), "--out", str(tmp_path / "ledger")])
    assert json.loads((tmp_path / "ledger" / "report.json").read_text())["sessions"] == 1
    said = _ok(["refit", str(tmp_path / "wf"), "--data", str(data), "--as-of", last])
    assert said.startswith("no refit due: the model is its fold's from ")  # the walk-forward ran to the data's end
    ran.append("refit")
    _ok(
        [
            "tune",
            "--data",
            str(data),
            "--n-trials",
            "2",
            "--epochs",
            "1",
            "--objective",
            "nll",
            "--quiet",
            "--out",
            str(tmp_path / "tune"),
        ]
    )
    assert json.loads((tmp_path / "tune" / "best_params.json").read_text())["params"]
    ran.append("tune")
    _ok(["rerun", str(tmp_path / "fc"), "--out", str(tmp_path / "rerun")])
    ran.append("rerun")
    assert sorted(set(names)) == sorted(ran), "a command of the README's table is not run here, or one is gone"
