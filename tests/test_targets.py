"""The target of each execution mode: by hand on a tiny panel, never from an interpolated price, and the splits
that keep it honest (an embargo of at least its horizon)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecasting.errors import ConfigError
from forecasting.market.cleaning import clean_panel
from forecasting.market.synthetic import synthetic_panel
from forecasting.pipeline import ForecastConfig, folds_of
from forecasting.preparation.execution import DEFAULT_EXECUTION, EXECUTIONS, execution_mode
from forecasting.preparation.features import build_features
from forecasting.preparation.splits import TEST, TRAIN, UNUSED, VAL
from forecasting.tuning.search import tuning_data
from qtrade.cli import app

CLOSE = [100.0, 102.0, 99.0, 105.0, 104.0, 108.0]
OPEN = [99.0, 101.0, 100.0, 103.0, 106.0, 107.0]
HIGH = [101.0, 103.0, 101.0, 106.0, 107.0, 109.0]
LOW = [98.0, 100.0, 98.0, 102.0, 103.0, 106.0]
NAN = np.nan


def _tiny(
    close: list[float] = CLOSE, open_: list[float] = OPEN, high: list[float] = HIGH, low: list[float] = LOW
) -> pd.DataFrame:
    dates = pd.bdate_range("2021-03-01", periods=len(close), name="date")
    idx = pd.MultiIndex.from_product([dates, ["A"]], names=["date", "ticker"])
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": 1000.0}, index=idx)


def _pk(high: float, low: float) -> float:
    return float(np.log(high / low) ** 2 / (4 * np.log(2)))


# written from the definition, log(P_{t+lag+1} / P_{t+lag}), with the numbers of the panel above
EXPECTED = {
    "same-close": [np.log(102 / 100), np.log(99 / 102), np.log(105 / 99), np.log(104 / 105), np.log(108 / 104), NAN],
    "next-close": [np.log(99 / 102), np.log(105 / 99), np.log(104 / 105), np.log(108 / 104), NAN, NAN],
    "next-open": [np.log(100 / 101), np.log(103 / 100), np.log(106 / 103), np.log(107 / 106), NAN, NAN],
}
# Parkinson's proxy of the day the target spans: t+1 for same-close and next-open, t+2 for next-close
PARKINSON = {
    "same-close": [_pk(103, 100), _pk(101, 98), _pk(106, 102), _pk(107, 103), _pk(109, 106), NAN],
    "next-close": [_pk(101, 98), _pk(106, 102), _pk(107, 103), _pk(109, 106), NAN, NAN],
    "next-open": [_pk(103, 100), _pk(101, 98), _pk(106, 102), _pk(107, 103), NAN, NAN],
}
ENTRY = {
    "same-close": [100, 102, 99, 105, 104, 108],
    "next-close": [102, 99, 105, 104, 108, NAN],
    "next-open": [101, 100, 103, 106, 107, NAN],
}


@pytest.mark.parametrize("execution", EXECUTIONS)
def test_each_modes_target_by_hand(execution: str) -> None:
    cube = build_features(clean_panel(_tiny()), execution=execution)
    assert cube.execution == execution
    np.testing.assert_allclose(cube.target[0], EXPECTED[execution], rtol=1e-12)
    np.testing.assert_allclose(cube.parkinson[0], PARKINSON[execution], rtol=1e-12)
    np.testing.assert_allclose(cube.entry[0], ENTRY[execution], rtol=1e-12)
    # the target moves; which days are origins does not (day 0 has no previous close for its features)
    assert cube.origin_ok[0].tolist() == [False, True, True, True, True, True]


def test_the_default_is_next_close() -> None:
    assert DEFAULT_EXECUTION == "next-close"
    assert build_features(clean_panel(_tiny())).execution == "next-close"
    config = ForecastConfig()
    assert config.execution == "next-close" and config.embargo is None and config.split_embargo == 2
    assert ForecastConfig(execution="same-close").split_embargo == 1
    assert ForecastConfig(execution=" Next-Open ").execution == "next-open"


def test_interpolated_prices_never_enter_a_target() -> None:
    close = [100.0, 102.0, 99.0, NAN, 104.0, 108.0, 107.0, 110.0]
    open_ = [99.0, 101.0, 100.0, NAN, 106.0, 107.0, 108.0, 109.0]
    high = [101.0, 103.0, 101.0, NAN, 107.0, 109.0, 109.0, 111.0]
    low = [98.0, 100.0, 98.0, NAN, 103.0, 106.0, 106.0, 107.0]
    clean = clean_panel(_tiny(close, open_, high, low))
    assert clean.filled[3, 0] and np.isfinite(clean.values["close"][3, 0])  # day 3 was filled
    expected = {  # every target that would use day 3's price is missing
        "same-close": [
            np.log(102 / 100),
            np.log(99 / 102),
            NAN,
            NAN,
            np.log(108 / 104),
            np.log(107 / 108),
            np.log(110 / 107),
            NAN,
        ],
        "next-close": [np.log(99 / 102), NAN, NAN, np.log(108 / 104), np.log(107 / 108), np.log(110 / 107), NAN, NAN],
        "next-open": [np.log(100 / 101), NAN, NAN, np.log(107 / 106), np.log(108 / 107), np.log(109 / 108), NAN, NAN],
    }
    for execution, want in expected.items():
        cube = build_features(clean, execution=execution)
        np.testing.assert_allclose(cube.target[0], want, rtol=1e-12, err_msg=execution)
        assert np.isnan(cube.parkinson[0][np.isnan(want)]).all()
        assert not cube.origin_ok[0, 3]


@pytest.mark.parametrize("execution", EXECUTIONS)
def test_every_target_is_a_log_return_of_two_real_prices(execution: str) -> None:
    panel = synthetic_panel(3, 200, seed=8, missing=0.05)
    clean = clean_panel(panel, max_gap=5)
    cube = build_features(clean, execution=execution)
    mode = execution_mode(execution)
    raw = panel[mode.price].unstack("ticker").reindex(index=clean.dates, columns=clean.tickers).to_numpy().T
    real = ~clean.filled.T
    n = raw.shape[1]
    checked = 0
    for i in range(raw.shape[0]):
        for t in range(n):
            a, b = t + mode.lag, t + mode.lag + 1
            ok = b < n and real[i, a] and real[i, b] and np.isfinite(raw[i, a]) and np.isfinite(raw[i, b])
            if ok:
                assert cube.target[i, t] == pytest.approx(np.log(raw[i, b] / raw[i, a]), rel=1e-12)
                checked += 1
            else:
                assert np.isnan(cube.target[i, t]), (execution, i, t)
    assert checked > 400


def test_unknown_modes_and_short_embargoes_are_one_line_errors() -> None:
    with pytest.raises(ConfigError, match="--execution 'next-week' is not known; use one of next-close"):
        ForecastConfig(execution="next-week")
    with pytest.raises(ConfigError, match="--embargo 1 is shorter than the 2-day target of --execution next-close"):
        ForecastConfig(embargo=1)
    with pytest.raises(ConfigError, match=r"--embargo 0 .* --execution same-close"):
        ForecastConfig(execution="same-close", embargo=0)
    assert ForecastConfig(execution="same-close", embargo=1).split_embargo == 1
    assert ForecastConfig(embargo=5).split_embargo == 5


def test_params_files_set_the_execution_and_say_what_they_were_tuned_for(tmp_path: Path) -> None:
    hand = tmp_path / "hand.json"
    hand.write_text(json.dumps({"execution": "next-open", "window": 12}))
    config = ForecastConfig().with_params(hand)
    assert config.execution == "next-open" and config.window == 12 and config.split_embargo == 2
    tuned = tmp_path / "best_params.json"
    tuned.write_text(json.dumps({"params": {"window": 12}, "execution": "same-close"}))
    with pytest.warns(UserWarning, match="tuned for --execution same-close are used for next-close"):
        ForecastConfig().with_params(tuned)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ForecastConfig(execution="same-close").with_params(tuned).window == 12


def _gap_after(labels: np.ndarray, block: int, following: int) -> int:
    """Dates left unused between the last origin of ``block`` and the first of ``following``."""
    return int(np.flatnonzero(labels == following).min() - np.flatnonzero(labels == block).max() - 1)


@pytest.mark.parametrize("execution", EXECUTIONS)
@pytest.mark.parametrize("refit_every", [None, "15"])
def test_folds_leave_the_targets_horizon_before_each_judging_block(execution: str, refit_every: str | None) -> None:
    cube = build_features(clean_panel(synthetic_panel(2, 300, seed=3)), execution=execution)
    horizon = execution_mode(execution).horizon
    folds = folds_of(
        cube, ForecastConfig(execution=execution, refit_every=refit_every, val_days=40 if refit_every else None)
    )
    assert len(folds) == (1 if refit_every is None else 3)  # the last 45 days in folds of 15
    for fold in folds:
        labels = fold.labels
        assert _gap_after(labels, TRAIN, VAL) == horizon and _gap_after(labels, VAL, TEST) == horizon
        # the last training target ends before the first validation origin, the last validation one before the test
        assert np.flatnonzero(labels == TRAIN).max() + horizon < np.flatnonzero(labels == VAL).min()
        assert np.flatnonzero(labels == VAL).max() + horizon < np.flatnonzero(labels == TEST).min()
    wide = folds_of(cube, ForecastConfig(execution=execution, embargo=4))[0]
    assert _gap_after(wide.labels, TRAIN, VAL) == 4


@pytest.mark.parametrize("execution", EXECUTIONS)
def test_the_tuning_cut_leaves_every_validation_target_realised(execution: str) -> None:
    panel = synthetic_panel(2, 260, seed=4)  # no gaps: every target that ends before the cut is there
    config = ForecastConfig(window=10, execution=execution)
    data = tuning_data(panel, config)
    assert data.cube.execution == execution and data.cube.dates.max() < data.first_test_date
    val = data.fold.labels == VAL
    assert val.any() and np.isfinite(data.cube.target[:, val]).all()
    after_val = data.fold.labels[np.flatnonzero(val).max() + 1 :]
    assert len(after_val) == execution_mode(execution).horizon and (after_val == UNUSED).all()


def test_an_unknown_execution_on_the_command_line_exits_1_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["forecast", "--out", str(out), "--execution", "next-week", "--quiet"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--execution 'next-week' is not known" in lines[0]
    assert not out.exists()
    result = CliRunner().invoke(app, ["tune", "--out", str(out), "--execution", "next-week", "--quiet"])
    assert result.exit_code == 1 and "--execution 'next-week' is not known" in result.stderr
    assert not out.exists()
