"""Walk-forward over the whole history: the schedule, what each fold may see, the baselines' refits, parallel folds.

The schedule's dates are computed here from the options' definitions (a refit on the first trading day on or after
each step from ``--oos-start``), not read back from the code's folds.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

from forecasting.errors import ConfigError
from forecasting.market.synthetic import synthetic_panel
from forecasting.pipeline import ForecastConfig, run_forecast
from forecasting.tuning.search import tuning_data
from qtrade.cli import app

TINY = ForecastConfig(window=10, hidden=8, epochs=2, patience=2, batch_size=64, device="cpu")
N_DAYS = 480
OOS = 300  # index of the first out-of-sample date
EVERY = 40  # trading days between refits: refits at 300, 340, ..., 460


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return synthetic_panel(2, N_DAYS, seed=31)


@pytest.fixture(scope="module")
def dates(panel: pd.DataFrame) -> pd.DatetimeIndex:
    return panel.index.get_level_values("date").unique().sort_values()


def _walk(dates: pd.DatetimeIndex, **kw: object) -> ForecastConfig:
    settings: dict[str, object] = {"oos_start": f"{dates[OOS]:%Y-%m-%d}", "refit_every": str(EVERY), "val_days": 60}
    return ForecastConfig(**{**TINY.__dict__, **settings, **kw})


@pytest.fixture(scope="module")
def walked(panel: pd.DataFrame, dates: pd.DatetimeIndex) -> object:
    return run_forecast(panel, _walk(dates), None, progress=False)


def _after(panel: pd.DataFrame, when: pd.Timestamp, seed: int = 0) -> pd.DataFrame:
    """Every price and volume dated after ``when`` moved (bars stay consistent: one factor per row)."""
    changed = panel.copy()
    later = changed.index.get_level_values("date") > when
    factor = np.exp(np.random.default_rng(seed).normal(0, 0.1, (int(later.sum()), 1)))
    changed.loc[later, ["open", "high", "low", "close"]] *= factor
    changed.loc[later, "volume"] *= 2.0
    return changed


def test_every_out_of_sample_forecast_comes_from_the_fold_of_its_date(walked, dates) -> None:  # type: ignore[no-untyped-def]
    refits = list(range(OOS, N_DAYS, EVERY))
    test = walked.forecasts[walked.forecasts["split"] == "test"]
    assert test["date"].min() == dates[OOS] and test["date"].max() == dates[-1]
    assert sorted(test["fold"].unique()) == list(range(1, len(refits) + 1))
    for k, refit in enumerate(refits):
        rows = test[test["fold"] == k + 1]
        end = refits[k + 1] if k + 1 < len(refits) else N_DAYS
        assert rows["date"].min() == dates[refit] and rows["date"].max() == dates[end - 1]
        # the next-close target of origin t is realised at the close of t+2 and the embargo is 2 days: the last
        # validation origin is refit - 3, its target's price the close of refit - 1
        assert (rows["trained_through"] == dates[refit - 1]).all()
    assert (pd.to_datetime(test["trained_through"]) < test["date"]).all()
    folds = walked.metrics["walk_forward"]["folds"]
    assert [f["refit"] for f in folds] == [f"{dates[r]:%Y-%m-%d}" for r in refits]
    assert sum(f["n"] for f in folds) == walked.metrics["test"]["n"]  # the whole period is every fold's rows


def test_changing_every_price_after_a_date_moves_no_forecast_up_to_it(panel, dates, walked) -> None:  # type: ignore[no-untyped-def]
    cut = dates[OOS + 2 * EVERY + 15]  # inside the third fold: refits on both sides of it
    again = run_forecast(_after(panel, cut), _walk(dates), None, progress=False)
    for a, b, mean in ((walked.forecasts, again.forecasts, "mean"), (walked.scored, again.scored, "lstm_mean")):
        # the target, its range proxy and entry price are realised after the origin: only the forecasts are compared
        realised = [c for c in ("target", "parkinson", "entry") if c in a]
        before = [frame[frame["date"] <= cut].drop(columns=realised).reset_index(drop=True) for frame in (a, b)]
        pd.testing.assert_frame_equal(before[0], before[1], check_exact=True)  # bit for bit, baselines too
        after = [frame.loc[frame["date"] > cut, mean].to_numpy() for frame in (a, b)]
        assert not np.allclose(after[0], after[1])  # the forecasts after it do move


def test_each_fold_refits_gjr_garch_t_on_its_own_training_block(walked, dates) -> None:  # type: ignore[no-untyped-def]
    from arch import arch_model

    scored = walked.scored[walked.scored["split"] == "test"]
    panel = synthetic_panel(2, N_DAYS, seed=31)
    close = panel["close"].unstack("ticker").reindex(dates)
    # r_s = log(P_s / P_{s-1}) in percent, as arch advises (the fit moves by 4e-4 in nu if it is written as a
    # difference of logs: its optimiser stops within a tolerance, so the test follows the baselines' definition)
    returns = np.log(close / close.shift(1)) * 100.0
    for k, refit in enumerate(range(OOS, N_DAYS, EVERY)):
        # the training block, from the options' definitions: origins before the validation block's 60 days, with 2
        # embargo dates before the validation block and 2 before the refit
        last_train = refit - 2 - 60 - 2 - 1
        for ticker in close.columns:
            r = returns[ticker].iloc[1 : last_train + 1].to_numpy()
            with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):  # as the baselines fit
                warnings.simplefilter("ignore")
                fit = arch_model(r, mean="Constant", vol="GARCH", p=1, o=1, q=1, dist="t", rescale=False).fit(
                    disp="off", show_warning=False
                )
            rows = scored[(scored["fold"] == k + 1) & (scored["ticker"] == ticker)]
            np.testing.assert_allclose(rows["gjr_garch_t_dof"], fit.params["nu"], rtol=1e-9)
            # the two-step variance at the fold's first origin, with the parameters fitted by hand held fixed
            full = returns[ticker].iloc[1 : refit + 1].to_numpy()
            fixed = arch_model(full, mean="Constant", vol="GARCH", p=1, o=1, q=1, dist="t", rescale=False).fix(
                fit.params, first_obs=0, last_obs=last_train
            )
            expect = fixed.forecast(horizon=2, start=refit - 1, reindex=False).variance.to_numpy()[0, 1] / 1e4
            first = rows[rows["date"] == dates[refit]]
            np.testing.assert_allclose(first["gjr_garch_t_var"], expect, rtol=1e-7)


def test_calendar_spans_refit_on_the_first_session_of_each_step(panel, dates) -> None:  # type: ignore[no-untyped-def]
    from forecasting.market.cleaning import clean_panel
    from forecasting.pipeline import folds_of
    from forecasting.preparation.features import build_features
    from forecasting.preparation.splits import TEST

    cube = build_features(clean_panel(panel))
    start = pd.Timestamp("2017-12-31")  # a Sunday: the first refit is the next session
    config = ForecastConfig(oos_start=f"{start:%Y-%m-%d}", refit_every="3m", val_days=40, train_window="150")
    folds = folds_of(cube, config)
    expected = []
    for k in range(20):
        step = start + pd.DateOffset(months=3 * k)
        if step > dates[-1]:
            break
        expected.append(dates[dates >= step][0])
    assert [f.block(TEST)[0] for f in folds] == expected
    assert all(int((f.labels == 0).sum()) == 150 for f in folds)  # a rolling window of 150 training days


def test_a_schedule_too_early_for_its_training_is_refused_naming_the_days_needed(panel, dates) -> None:  # type: ignore[no-untyped-def]
    early = ForecastConfig(**{**TINY.__dict__, "oos_start": f"{dates[150]:%Y-%m-%d}", "val_days": 60})
    with pytest.raises(ConfigError) as err:
        run_forecast(panel, early, None, progress=False)
    message = str(err.value)
    assert "training days" in message and "--oos-start" in message
    # the fewest: the first whole window, 113 days for the baselines' fits, 60 validation days, two embargoes
    need = int(message.split("at least ")[1].split(" trading days", maxsplit=1)[0])
    earliest = message.split("give --oos-start ")[1].split(" ", maxsplit=1)[0]
    ok = ForecastConfig(**{**early.__dict__, "oos_start": earliest, "refit_every": "200", "epochs": 1})
    run_forecast(panel, ok, None, progress=False)  # the date it names is enough
    assert dates.get_loc(pd.Timestamp(earliest)) == need
    too_early = ForecastConfig(**{**ok.__dict__, "oos_start": f"{dates[need - 1]:%Y-%m-%d}"})
    with pytest.raises(ConfigError, match="training days"):
        run_forecast(panel, too_early, None, progress=False)  # and one day less is not
    short = ForecastConfig(**{**ok.__dict__, "train_window": "50"})
    with pytest.raises(ConfigError, match="--train-window 50 leaves each fold 50 training days"):
        run_forecast(panel, short, None, progress=False)


def test_bad_schedules_are_one_line_on_the_command_line(tmp_path: Path) -> None:
    runner = CliRunner()
    cases = {
        ("--oos-start", "2030-01-01"): "outside the data",
        ("--oos-start", "soon"): "is not a date",
        ("--refit-every", "fortnightly"): "is not a span",
        ("--train-window", "-3"): "neither expanding nor a number",
        ("--val-days", "40"): "belongs to a walk-forward",
        ("--oos-start", "2012-01-03", "--warm-start", "--jobs", "2"): "cannot run in parallel",
        ("--oos-start", "2013-02-28"): "leaves no out-of-sample forecast with a realised return",  # 2 days to the end
        ("--model", str(tmp_path / "model.pt"), "--oos-start", "2012-01-03"): "--model forecasts with a saved model",
    }
    for args, words in cases.items():
        res = runner.invoke(app, ["forecast", "--out", str(tmp_path / "x"), "-q", *args])
        assert res.exit_code == 1, res.output
        lines = res.output.strip().splitlines()
        assert len(lines) == 1 and words in lines[0] and "Traceback" not in res.output, res.output
        assert not (tmp_path / "x").exists()
    res = runner.invoke(
        app, ["backtest", "--forecasts", str(tmp_path), "--refit-every", "1y", "--out", str(tmp_path / "x")]
    )
    assert res.exit_code == 1 and "which --forecasts replaces" in res.output.strip(), res.output


def test_folds_in_two_processes_equal_folds_one_after_another(panel, dates, walked) -> None:  # type: ignore[no-untyped-def]
    parallel = run_forecast(panel, _walk(dates, jobs=2), None, progress=False)
    pd.testing.assert_frame_equal(parallel.forecasts, walked.forecasts, check_exact=True)
    assert parallel.metrics["walk_forward"]["folds"][0]["nll"] == walked.metrics["walk_forward"]["folds"][0]["nll"]


def test_folds_on_a_local_dask_cluster_equal_folds_one_after_another(panel, dates, walked) -> None:  # type: ignore[no-untyped-def]
    distributed = pytest.importorskip("dask.distributed", reason="dask[distributed] (pip install 'qtrade[cluster]')")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        on_cluster = run_forecast(panel, _walk(dates, cluster=c.scheduler_address), None, progress=False)
    pd.testing.assert_frame_equal(on_cluster.forecasts, walked.forecasts, check_exact=True)
    assert on_cluster.metrics["run"]["cluster"].startswith("tcp://")


def test_a_cluster_that_does_not_answer_is_one_clear_line(panel, dates) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("dask.distributed", reason="dask[distributed] (pip install 'qtrade[cluster]')")
    with pytest.raises(ConfigError, match="no Dask scheduler answers there"):
        run_forecast(panel, _walk(dates, cluster="tcp://127.0.0.1:1"), None, progress=False)


def test_a_warm_start_begins_each_fold_from_the_last_and_sees_no_more(panel, dates, walked) -> None:  # type: ignore[no-untyped-def]
    warm = run_forecast(panel, _walk(dates, warm_start=True), None, progress=False)
    first = warm.forecasts["fold"] == 1  # the first fold has no fold before it: as cold
    pd.testing.assert_frame_equal(warm.forecasts[first], walked.forecasts[first], check_exact=True)
    assert not np.allclose(warm.forecasts.loc[~first, "mean"], walked.forecasts.loc[~first, "mean"])
    cut = dates[OOS + 2 * EVERY + 15]
    again = run_forecast(_after(panel, cut), _walk(dates, warm_start=True), None, progress=False)
    a, b = (
        f[f["date"] <= cut].drop(columns="target").reset_index(drop=True) for f in (warm.forecasts, again.forecasts)
    )
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_tuning_with_an_out_of_sample_start_sees_nothing_from_it_on(panel, dates) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=r"training days .* give --oos-start (\S+) or later") as err:
        tuning_data(panel, _walk(dates, oos_start=f"{dates[150]:%Y-%m-%d}"))  # refused as the forecast refuses it
    earliest = str(err.value).split("give --oos-start ")[1].split(" ")[0]
    assert tuning_data(panel, _walk(dates, oos_start=earliest)).first_test_date == pd.Timestamp(earliest)
    config = _walk(dates)
    data = tuning_data(panel, config)
    assert data.first_test_date == dates[OOS] and data.cube.dates.max() < dates[OOS]
    val = data.cube.dates[data.fold.labels == 1]
    assert len(val) == 60 and val[-1] == dates[OOS - 3]  # the first fold's validation block
    rolling = tuning_data(panel, _walk(dates, train_window="150"))  # and its training block, a rolling one too
    train = rolling.cube.dates[rolling.fold.labels == 0]
    assert len(train) == 150 and train[-1] == dates[OOS - 2 - 60 - 2 - 1]


def test_a_parameters_file_of_an_earlier_version_still_loads(tmp_path: Path) -> None:
    old = tmp_path / "best_params.json"
    old.write_text(json.dumps({"params": {"window": 12, "walk_forward": 0, "walk_mode": "expanding"}}))
    assert TINY.with_params(old).window == 12
    old.write_text(json.dumps({"params": {"window": 12, "walk_forward": 3, "walk_mode": "rolling"}}))
    with pytest.raises(ConfigError, match="--oos-start DATE and --refit-every SPAN"):
        TINY.with_params(old)


def test_the_forecasts_file_records_fold_and_trained_through(panel, dates, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run_forecast(panel, _walk(dates, refit_every="1y"), tmp_path / "wf", progress=False)
    frame = pd.read_csv(tmp_path / "wf" / "forecasts.csv", parse_dates=["date", "trained_through"])
    test = frame[frame["split"] == "test"]
    assert (test["trained_through"] < test["date"]).all() and test["fold"].min() == 1
    metrics = json.loads((tmp_path / "wf" / "metrics.json").read_text())
    assert metrics["walk_forward"]["schedule"].startswith(
        f"out of sample from {dates[OOS]:%Y-%m-%d}, refit every 1 year,"
    )
    assert metrics["walk_forward"]["of_folds"] == test["fold"].nunique()


def test_each_folds_scores_and_chart_follow_its_own_rows(walked, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from scipy import stats

    from forecasting.evaluation.by_fold import fold_gaps
    from forecasting.pipeline import _write_metrics

    scored = walked.scored[(walked.scored["split"] == "test")].dropna(subset=["target", "har_var", "garch_var"])
    for record in walked.metrics["walk_forward"]["folds"]:
        rows = scored[scored["fold"] == record["fold"]]
        y = rows["target"]
        # the Student-t of the forecast file: scale from the variance, sqrt(var (dof - 2) / dof)
        scale = np.sqrt(rows["lstm_var"] * (rows["lstm_dof"] - 2) / rows["lstm_dof"])
        lstm = -stats.t.logpdf(y, rows["lstm_dof"], loc=rows["lstm_mean"], scale=scale).mean()
        garch = -stats.norm.logpdf(y, loc=rows["garch_mean"], scale=np.sqrt(rows["garch_var"])).mean()
        assert record["n"] == len(rows)
        assert record["nll"]["lstm"] == pytest.approx(lstm, rel=1e-9)
        assert fold_gaps(walked.metrics["walk_forward"])[record["refit"]]["garch"] == pytest.approx(lstm - garch)
    _write_metrics(walked.metrics, tmp_path)
    assert (tmp_path / "walk_forward.png").stat().st_size > 10_000
