"""Users' own strategies (issue 20, item 6): a rules file named on the command line, installed packages' entry
points, ``qtrade strategies --from``, one line for every mistake, and a rerun that notices an edited rules file.

The example file ``examples/custom_rules.py`` is run end to end, and the weights it held are checked against
weights computed here from the forecasts alone."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from typer.testing import CliRunner

from backtests.engine import run_backtest
from backtests.inputs import align
from forecasting.errors import ConfigError
from forecasting.manifest import file_hash, input_hashes
from forecasting.market.synthetic import synthetic_panel
from qtrade.cli import app
from qtrade.rerun import rerun
from strategies import available, get, parse_params, registry, user_rules
from tests.test_backtests import FREE, oracle_forecasts

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "custom_rules.py"
FREE_ARGS = ["--commission-bps", "0", "--half-spread-bps", "0", "--impact", "0", "--participation", "1", "-q"]
VAR = 1e-4  # the oracle forecasts' variance

runner = CliRunner()


@pytest.fixture(scope="module")
def market() -> pd.DataFrame:
    return synthetic_panel(3, 320, seed=11)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, market: pd.DataFrame) -> tuple[Path, Path]:
    """The market as a data file and its oracle forecasts (mean: the realised held return; variance 1e-4)."""
    folder = tmp_path_factory.mktemp("inputs")
    data, fc = folder / "panel.csv", folder / "forecasts.csv"
    market.reset_index().to_csv(data, index=False)
    oracle_forecasts(market, var=VAR).to_csv(fc, index=False)
    return data, fc


def _backtest(files: tuple[Path, Path], out: Path, strategy: str, *extra: str) -> object:
    data, fc = files
    args = ["backtest", "--strategy", strategy, "--forecasts", str(fc), "--data", str(data), "--out", str(out)]
    return runner.invoke(app, [*args, *FREE_ARGS, *extra])


def _test_means(fc: Path) -> pd.DataFrame:
    frame = pd.read_csv(fc, parse_dates=["date"])
    return frame[frame["split"] == "test"].pivot(index="date", columns="ticker", values="mean")


def _holdings(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "holdings.csv", index_col="date", parse_dates=["date"])


# --- the example file, end to end -----------------------------------------------------------------------------


def test_the_example_proportional_rule_holds_the_weights_its_definition_gives(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "prop"
    res = _backtest(files, out, f"{EXAMPLE}:proportional", "--param", "gross=0.8")
    assert res.exit_code == 0, res.output
    held = _holdings(out)
    means = _test_means(files[1]).reindex(index=held.index, columns=held.columns)
    full = means.notna().all(axis=1)
    assert full.sum() > 100
    score = np.maximum(means[full] / np.sqrt(VAR), 0.0)  # long only, in proportion to mean / sd, summing to gross
    total = score.sum(axis=1)
    expected = score.div(total.where(total > 0), axis=0).fillna(0.0) * 0.8
    np.testing.assert_allclose(held[full].to_numpy(), expected.to_numpy(), atol=1e-9)
    assert (total == 0).any() and (total > 0).any()  # days with every forecast negative, and days without
    stats = json.loads((out / "stats.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    assert stats["strategy"] == "proportional"
    assert manifest["config"]["strategy"] == f"{EXAMPLE}:proportional" and manifest["config"]["params"] == {
        "gross": 0.8
    }
    assert (out / "tearsheet.html").is_file()


def test_the_example_hysteresis_rule_enters_leaves_and_holds_in_its_band(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "hyst"
    res = _backtest(files, out, f"{EXAMPLE}:hysteresis", "--param", "enter=0.7", "--param", "leave=0.4")
    assert res.exit_code == 0, res.output
    held = _holdings(out)
    means = _test_means(files[1]).reindex(index=held.index, columns=held.columns)
    p = norm.cdf(means.to_numpy() / np.sqrt(VAR))  # NaN where there is no forecast
    n = held.shape[1]
    previous = np.zeros(n)  # nothing is held before the first decision
    decided = kept = 0
    for row, (held_now, prob) in enumerate(zip(held.to_numpy(), p, strict=True)):
        target = np.where(prob >= 0.7, 1.0 / n, np.where(prob < 0.4, 0.0, np.nan))  # one sleeve of 3 when long
        decide = np.isfinite(target)
        np.testing.assert_allclose(held_now[decide], target[decide], atol=1e-9, err_msg=f"row {row}")
        # in the band (or without a forecast) the position is kept: long stays long (its weight drifts), flat flat
        assert ((held_now[~decide] > 0) == (previous[~decide] > 0)).all(), f"row {row}"
        previous = np.where(decide, target, held_now)
        decided += int(decide.sum())
        kept += int((~decide).sum())
    assert decided > 100 and kept > 100  # both kinds of day were checked


def test_a_file_with_one_rule_needs_no_name_and_the_names_show_in_its_listing(tmp_path: Path) -> None:
    one = tmp_path / "one.py"
    one.write_text(
        "import numpy as np\nfrom strategies import register\n\n\n"
        '@register("always_long", "long every ticker")\ndef always_long(bar):\n    return np.ones_like(bar.mean)\n'
    )
    assert get(str(one)).name == "always_long"
    res = runner.invoke(app, ["strategies", "--from", str(EXAMPLE)])
    assert res.exit_code == 0, res.output
    for text in ("hysteresis", "proportional", "enter=0.6", "leave=0.5", "gross=1.0", "per sleeve", "portfolio"):
        assert text in res.output
    assert f"qtrade backtest --strategy {EXAMPLE}:hysteresis" in res.output
    assert "kelly" not in res.output.split("per sleeve:")[0]  # the file's rules, not the built-ins


def test_a_rules_file_stays_out_of_the_registry() -> None:
    before = [s.name for s in available()]
    spec = get(f"{EXAMPLE}:hysteresis")
    assert spec.name == "hysteresis" and parse_params(spec, ["enter=0.8"])["enter"] == 0.8
    assert [s.name for s in available()] == before and "hysteresis" not in before  # never in --strategy all


# --- every mistake is one line, exit code 1, nothing written -----------------------------------------------------

HEAD = "import numpy as np\nfrom strategies import Param, register\n\n"


def _rule(body: str, name: str = "mine", settings: str = "") -> str:
    return f'{HEAD}@register("{name}", "a rule"{settings})\ndef rule(bar, **settings):\n    {body}\n'


CASES = {
    "missing file": (None, "nosuch.py:mine", "nosuch.py: no such rules file; give the path of a .py file"),
    "not python": ("rules.txt", "rules.txt:mine", "rules.txt: not a Python file; rules live in a .py file"),
    "syntax error": (HEAD + "def rule(bar)\n    return 1\n", "rules.py:mine", "rules.py:4: syntax error: expected ':'"),
    "import raises": (
        HEAD + "LOOKBACK = int('twenty')\n",
        "rules.py:mine",
        "rules.py:4: importing it raised ValueError: invalid literal for int() with base 10: 'twenty'; fix the file",
    ),
    "missing import": (
        "import no_such_module_here\n",
        "rules.py:mine",
        "rules.py:1: importing it raised ModuleNotFoundError: No module named 'no_such_module_here'",
    ),
    "unknown name": (
        _rule("return bar.mean"),
        "rules.py:other",
        "rules.py registers no strategy 'other'; it registers mine (qtrade strategies --from",
    ),
    "no name after the colon": (_rule("return bar.mean"), "rules.py:", "name the strategy after the colon"),
    "registers nothing": ("x = 1\n", "rules.py", "rules.py registers no strategy; decorate a rule with @register"),
    "several, none named": (
        _rule("return bar.mean") + _rule("return bar.mean", name="other"),
        "rules.py",
        "rules.py registers 2 strategies (mine, other); name one, such as rules.py:mine",
    ),
    "clashes with a built-in": (
        _rule("return bar.mean", name="kelly"),
        "rules.py:kelly",
        "registers 'kelly', the name of a strategy qtrade already has; rename it",
    ),
    "settings the function does not take": (
        HEAD + '@register("mine", "a rule", k=Param(1.0, "k"))\ndef rule(bar, *, j):\n    return bar.mean\n',
        "rules.py:mine",
        "strategy mine's function (bar, *, j) does not take its registered settings (k)",
    ),
    "wrong shape": (
        _rule("return np.ones(2)"),
        "rules.py:mine",
        "strategy mine (rules.py) returned weights of shape (2,) for 3 tickers; return one weight per ticker",
    ),
    "a number, not one per ticker": (_rule("return 0.5"), "rules.py:mine", "returned weights of shape () for 3"),
    "no return": (_rule("pass"), "rules.py:mine", "strategy mine (rules.py) returned None (no return statement?)"),
    "not numbers": (_rule("return ['a', 'b', 'c']"), "rules.py:mine", "returned list ['a', 'b', 'c'], which is not"),
    "ragged": (_rule("return [1.0, [0.5, 0.5], 0.0]"), "rules.py:mine", "returned list [1.0, [0.5, 0.5], 0.0], which"),
    "infinite": (_rule("return bar.mean / 0.0"), "rules.py:mine", "returned an infinite weight"),
    "the rule raises": (
        _rule("return bar.mean * settings['scale']"),
        "rules.py:mine",
        "strategy mine (rules.py, line 6) raised KeyError: 'scale'; fix the rule",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_mistake_in_a_rules_file_is_one_line_and_writes_nothing(
    case: str, files: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, strategy, message = CASES[case]
    if source is not None:
        (tmp_path / strategy.split(":")[0]).write_text(source)
    monkeypatch.chdir(tmp_path)  # the messages name the file as the command line gave it
    out = tmp_path / "out"
    with np.errstate(divide="ignore"):
        res = _backtest(files, out, strategy)
    assert res.exit_code == 1, res.output
    assert res.output.startswith("error: ") and message in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output
    assert not out.exists()
    assert not (tmp_path / "__pycache__").exists()  # no bytecode is written beside the user's file


def test_strategies_from_a_bad_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(HEAD + "def rule(bar)\n")
    res = runner.invoke(app, ["strategies", "--from", str(bad)])
    assert res.exit_code == 1
    assert res.output == f"error: {bad}:4: syntax error: expected ':'; fix the file and run again\n"


def test_the_registrys_own_shape_check_reaches_the_user_in_one_line(
    files: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @registry.register("test_two_weights", "two weights for any number of tickers")
    def two(bar: registry.Bar) -> np.ndarray:
        return np.ones(2)

    res = _backtest(files, tmp_path / "out", "test_two_weights")
    assert res.exit_code == 1 and len(res.output.strip().splitlines()) == 1
    assert "strategy test_two_weights returned (2,) weights for 3 tickers" in res.output
    assert not (tmp_path / "out").exists()


def test_a_rules_file_that_fails_leaves_the_registry_as_it_was(tmp_path: Path) -> None:
    before = dict(registry._REGISTRY)
    bad = tmp_path / "half.py"
    bad.write_text(_rule("return bar.mean", name="half_registered") + "raise RuntimeError('stop here')\n")
    with pytest.raises(ConfigError, match=r"half\.py:7: importing it raised RuntimeError: stop here"):
        get(f"{bad}:half_registered")
    assert before == registry._REGISTRY


# --- installed packages: the qtrade.strategies entry-point group -------------------------------------------------

PLUGIN = "qtrade_test_plugin_rules"


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path holding a module and the dist-info of a package that declares it in qtrade.strategies;
    the registry and the cache of installed strategies are restored afterwards."""
    site = tmp_path / "site"
    info = site / "qtrade_test_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: qtrade-test-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[qtrade.strategies]\nupdown = {PLUGIN}\n")
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(user_rules, "_installed", None)
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop(PLUGIN, None)


def test_an_installed_package_registers_a_rule_usable_by_name(installed: Path, market: pd.DataFrame) -> None:
    (installed / f"{PLUGIN}.py").write_text(
        "import numpy as np\nfrom strategies import Param, register\n\n\n"
        '@register("updown", "long a rise, short a fall", size=Param(1.0, "weight"))\n'
        "def updown(bar, *, size):\n    return size * np.sign(bar.mean)\n"
    )
    spec = get("updown")  # not a built-in: the installed packages are looked in
    assert "updown" in [s.name for s in available()]
    fc = oracle_forecasts(market, var=VAR)
    data = align(market, fc)
    result = run_backtest(data, spec, parse_params(spec, ["size=0.5"]), FREE)
    means = fc[fc["split"] == "test"].pivot(index="date", columns="ticker", values="mean")
    expected = 0.5 * np.sign(means.reindex(index=result.decisions.index, columns=result.decisions.columns)) / 3
    full = expected.notna().all(axis=1)
    assert full.sum() > 100
    np.testing.assert_allclose(result.decisions[full].to_numpy(), expected[full].to_numpy())
    res = runner.invoke(app, ["strategies"])
    assert res.exit_code == 0 and "updown" in res.output and "long a rise" in res.output and "kelly" in res.output


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "import numpy as np\nraise ImportError('needs talib')\n",
            "installed strategies: entry point updown = qtrade_test_plugin_rules (qtrade-test-plugin 1.0) failed to "
            "load: ImportError: needs talib at ",
        ),
        (
            "from strategies import register\n\n\n@register('kelly', 'mine')\ndef kelly(bar):\n    return bar.mean\n",
            "(qtrade-test-plugin 1.0) registers 'kelly', the name of a strategy qtrade already has; rename it",
        ),
    ],
)
def test_a_broken_installed_package_is_one_line_naming_it(installed: Path, source: str, message: str) -> None:
    (installed / f"{PLUGIN}.py").write_text(source)
    before = dict(registry._REGISTRY)
    res = runner.invoke(app, ["strategies"])
    assert res.exit_code == 1 and len(res.output.strip().splitlines()) == 1
    assert message in res.output, res.output
    assert before == registry._REGISTRY  # kelly is still qtrade's
    assert get("kelly") is before["kelly"]  # a built-in's name never imports the installed packages


# --- reruns notice an edited rules file -----------------------------------------------------------------------


def test_the_manifest_hashes_the_rules_file_named_by_strategy(tmp_path: Path) -> None:
    rules = tmp_path / "rules.py"
    rules.write_text("x = 1\n")
    for argv in (["--strategy", f"{rules}:mine"], [f"--strategy={rules}"], ["-s", f"{rules}:mine"]):
        assert input_hashes(["qtrade", "backtest", *argv]) == {
            "--strategy": {"path": str(rules), "sha256": file_hash(rules)}
        }
    assert input_hashes(["qtrade", "backtest", "--strategy", "kelly"]) == {}


@pytest.mark.slow
def test_rerun_notices_an_edited_rules_file(
    files: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = tmp_path / "my_rules.py"
    shutil.copy(EXAMPLE, rules)
    out = tmp_path / "run"
    data, fc = files
    argv = ["backtest", "--strategy", f"{rules}:proportional", "--forecasts", str(fc), "--data", str(data)]
    monkeypatch.setattr(sys, "argv", ["qtrade", *argv, "--out", str(out), *FREE_ARGS])  # what the manifest records
    res = runner.invoke(app, sys.argv[1:])
    assert res.exit_code == 0, res.output
    recorded = json.loads((out / "manifest.json").read_text())["inputs"]["--strategy"]
    assert recorded == {"path": str(rules), "sha256": file_hash(rules)}
    same = rerun(out, tmp_path / "same")
    assert same.same and f"--strategy {rules}: the same" in "\n".join(same.lines)
    rules.write_text(rules.read_text() + "\n# an edit that changes no weight\n")
    changed = rerun(out, tmp_path / "changed")
    assert not changed.same
    assert f"--strategy {rules}: DIFFERENT" in "\n".join(changed.lines)
    assert "stats.json: identical" in changed.lines  # only the rules file differs


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:proportional made no trade")  # one epoch's forecasts: every mean below zero
def test_a_rule_of_ones_own_can_be_tuned_with_a_search_space(tmp_path: Path) -> None:
    from backtests.tuning import tune_strategy
    from forecasting.pipeline import ForecastConfig

    space = tmp_path / "space.json"
    space.write_text(json.dumps({"gross": {"type": "float", "low": 0.5, "high": 1.0}}))
    strategy = f"{EXAMPLE}:proportional"
    tiny = ForecastConfig(window=10, hidden=8, epochs=1, patience=1)
    with pytest.raises(ConfigError, match="has no default search space; give one with --space FILE"):
        tune_strategy(synthetic_panel(3, 320, seed=2), tmp_path / "none", strategy=strategy, base=tiny)
    record = tune_strategy(
        synthetic_panel(3, 320, seed=2),
        tmp_path / "t",
        strategy=strategy,
        base=tiny,
        space_file=space,
        n_trials=2,
        progress=False,
    )
    assert set(record["params"]) == {"gross"} and 0.5 <= record["params"]["gross"] <= 1.0
    assert np.isfinite(record["value"])
