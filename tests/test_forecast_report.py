"""The backtest's forecast report: Student-t scores, the baselines and Diebold-Mariano line, the cross-sectional
section and the JPX score, each checked against figures computed here by hand (numpy, pandas, scipy) from the
forecasts and the prices."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

pytest.importorskip("quantstats")

from backtests import tearsheet
from backtests.engine import Execution
from backtests.inputs import align, load_forecasts
from backtests.pipeline import run_backtest_job
from backtests.stats import forecast_scores
from backtests.tearsheet import ReportInputs, forecast_section
from forecasting.errors import DataError
from forecasting.market.synthetic import synthetic_panel
from tests.browser import load_page
from tests.conftest import table_with


def _held(panel: pd.DataFrame) -> pd.DataFrame:
    """The next-close held return of each (date, ticker), from the closes alone: log(close[t+2] / close[t+1])."""
    close = panel["close"].unstack("ticker").sort_index()
    return np.log(close.shift(-2) / close.shift(-1))


def _forecasts(
    panel: pd.DataFrame, *, test_from: int, seed: int, skill: float = 0.3, dof: str = "none"
) -> pd.DataFrame:
    """Forecasts as qtrade writes them: a mean with some skill (``skill`` x the held return plus noise), a variance
    of the right size, and degrees of freedom: ``none`` (no column), ``all`` (a Student-t each) or ``some``."""
    rng = np.random.default_rng(seed)
    held = _held(panel)
    long = held.stack().rename("target").reset_index()
    n = len(long)
    long["mean"] = skill * long["target"] + rng.normal(0, 0.01, n)
    long["variance"] = rng.uniform(1e-4, 3e-4, n)
    if dof != "none":
        long["dof"] = rng.uniform(3.0, 30.0, n)
        if dof == "some":
            long.loc[rng.random(n) < 0.4, "dof"] = np.nan
    dates = held.index
    long["split"] = np.where(long["date"] >= dates[test_from], "test", "train")
    long["execution"] = "next-close"
    return long


# --- the forecast's own density ---------------------------------------------------------------------------------


def _hand_scores(m: np.ndarray, v: np.ndarray, y: np.ndarray, d: np.ndarray) -> dict[str, Any]:
    """NLL, coverage and PIT with scipy.stats: Student-t (scale sqrt(v (d - 2) / d)) where d is finite, else normal."""
    t = np.isfinite(d)
    logpdf, cdf = np.empty_like(y), np.empty_like(y)
    lo90, hi90 = np.empty_like(y), np.empty_like(y)
    scale = np.sqrt(v[t] * (d[t] - 2) / d[t])
    logpdf[t] = sps.t.logpdf(y[t], df=d[t], loc=m[t], scale=scale)
    cdf[t] = sps.t.cdf(y[t], df=d[t], loc=m[t], scale=scale)
    lo90[t], hi90[t] = sps.t.interval(0.9, df=d[t], loc=m[t], scale=scale)
    sd = np.sqrt(v[~t])
    logpdf[~t] = sps.norm.logpdf(y[~t], loc=m[~t], scale=sd)
    cdf[~t] = sps.norm.cdf(y[~t], loc=m[~t], scale=sd)
    lo90[~t], hi90[~t] = sps.norm.interval(0.9, loc=m[~t], scale=sd)
    return {
        "nll": -logpdf.mean(),
        "coverage_90": np.mean((y >= lo90) & (y <= hi90)),
        "pit": np.histogram(cdf, bins=10, range=(0, 1))[0].tolist(),
    }


@pytest.mark.parametrize(("dof", "density"), [("all", "student-t"), ("some", "mixed"), ("none", "normal")])
def test_forecast_scores_use_each_forecasts_own_density(tmp_path: Path, dof: str, density: str) -> None:
    panel = synthetic_panel(3, 260, seed=4)
    fc = _forecasts(panel, test_from=150, seed=1, dof=dof)
    path = tmp_path / "forecasts.csv"
    fc.to_csv(path, index=False)
    data = align(panel, load_forecasts(path))
    scores = forecast_scores(data)
    test = fc[(fc["split"] == "test") & np.isfinite(fc["target"])]
    d = test["dof"].to_numpy() if "dof" in test else np.full(len(test), np.nan)
    hand = _hand_scores(test["mean"].to_numpy(), test["variance"].to_numpy(), test["target"].to_numpy(), d)
    assert scores["n"] == len(test) and scores["density"] == density
    assert scores["nll"] == pytest.approx(hand["nll"], rel=1e-10)
    assert scores["coverage_90"] == pytest.approx(hand["coverage_90"], abs=1e-12)
    assert scores["pit_histogram"] == hand["pit"]
    if dof == "all":
        normal = -sps.norm.logpdf(test["target"], test["mean"], np.sqrt(test["variance"])).mean()
        assert scores["nll"] != pytest.approx(normal, rel=1e-6)  # the t's score, not the normal's
        assert scores["density_words"].startswith("Student-t, ")
    if dof == "some":
        assert f"normal for the {int(np.isnan(d).sum())} without degrees of freedom" in scores["density_words"]


def test_forecasts_without_a_dof_column_still_load_as_normal(tmp_path: Path) -> None:
    panel = synthetic_panel(3, 260, seed=4)
    fc = _forecasts(panel, test_from=150, seed=1, dof="none")
    old = tmp_path / "old.csv"
    fc.drop(columns=["execution"]).to_csv(old, index=False)  # a file from before dof (and the execution marker)
    with pytest.warns(UserWarning, match="does not say which execution"):
        frame = load_forecasts(old)
    assert frame["dof"].isna().all()
    data = align(panel, frame)
    assert data.dof is None and forecast_scores(data)["density"] == "normal"
    empty = tmp_path / "empty_dof.csv"
    fc.assign(dof=np.nan).to_csv(empty, index=False)  # as qtrade writes a normal forecast: an empty column
    assert align(panel, load_forecasts(empty)).dof is None
    bad = tmp_path / "bad.csv"
    fc.assign(dof=2.0).to_csv(bad, index=False)
    with pytest.raises(DataError, match="the dof column must exceed 2"):
        load_forecasts(bad)


# --- the baselines and the headline Diebold-Mariano line ---------------------------------------------------------


def _scores(nll: float) -> dict[str, Any]:
    return {
        "mse": 2e-4,
        "r2_vs_zero": -0.001,
        "nll": nll,
        "crps": 0.008,
        "coverage_90": 0.9,
        "qlike_sq_return": -7.4,
        "directional_accuracy": 0.51,
        "pit_histogram": [10] * 10,
    }


def _dm(stat: float, p: float) -> dict[str, Any]:
    return {
        "nll": {"statistic": stat, "p_value": p, "n": 480},
        "squared_error": {"statistic": stat / 2, "p_value": min(1.0, 2 * p), "n": 480},
    }


def _report_inputs(returns: pd.DataFrame, metrics: dict[str, Any] | None, **stats: Any) -> ReportInputs:
    base = {
        "split": "test",
        "period": {"first_close": "2020-01-02", "tickers": ["A", "B", "C"]},
        "forecast": {
            "n": 10,
            "nll": -2.9,
            "density": "student-t",
            "density_words": "Student-t, 4.1 to 9.7 degrees of freedom (median 6.2)",
        },
        "fills": 1,
        "rejected_orders": 0,
        "unusable_forecasts": 0,
        **stats,
    }
    return ReportInputs(returns, base, pd.DataFrame(), metrics, None)


def test_baselines_table_and_the_headline_test_name_the_comparator_chosen_on_validation() -> None:
    returns = pd.DataFrame({"strategy": 0.0, "benchmark": 0.0}, index=pd.bdate_range("2020-01-03", periods=5))
    models = {
        "lstm": "LSTM-MLE (Student-t, 3 seeds)",
        "zero_ewma": "zero + EWMA(0.94)",
        "historical": "historical mean/var",
        "garch": "GARCH(1,1)",
        "gjr_garch_t": "GJR-GARCH(1,1,1)-t",
        "har": "HAR (range), t",
    }
    nlls = {"lstm": -2.91, "zero_ewma": -2.80, "historical": -2.70, "garch": -2.88, "gjr_garch_t": -2.90, "har": -2.85}
    tests = {
        m: _dm(s, p)
        for m, s, p in (
            ("zero_ewma", -3.0, 0.003),
            ("historical", -5.0, 1e-6),
            ("garch", -2.2, 0.03),
            ("gjr_garch_t", -0.4, 0.69),
            ("har", -1.1, 0.27),
        )
    }
    block = {
        "first_date": "2020-01-02",
        "overall": {m: _scores(v) for m, v in nlls.items()},
        "diebold_mariano": {"model": "lstm", "against": "garch", "chosen_on": "val", **tests["garch"]},
        "diebold_mariano_all": tests,
        "ensemble": {
            "members": 3,
            "ensemble_nll": -2.91,
            "mean_member_nll": -2.89,
            "best_member_nll": -2.90,
            "gain_over_mean_member": 0.02,
        },
    }
    text = forecast_section(_report_inputs(returns, {"models": models, "test": block}))
    rows = table_with(text, ["model", "MSE x1e4", "R2 vs 0", "NLL", "CRPS x1e2", "90% cover", "QLIKE", "direction"])
    assert [r[0] for r in rows] == list(models.values())  # the LSTM and all five baselines, labelled by the run
    assert [float(r[3]) for r in rows] == pytest.approx(list(nlls.values()))
    assert (
        table_with(text, ["model", "MSE x1e4", "R2 vs zero", "NLL", "90% cover", "95% cover", "direction"])[0][0]
        == "LSTM-MLE (Student-t, 3 seeds)"
    )
    line = re.search(r"<p>Diebold-Mariano \(Harvey-Leybourne-Newbold corrected, p from t\(n-1\).*?</p>", text)
    assert line, "no headline Diebold-Mariano line"
    words = line.group(0)
    assert "LSTM-MLE (Student-t, 3 seeds) against GARCH(1,1)" in words
    assert "the baseline with the lowest NLL on the validation block" in words
    assert "NLL statistic -2.20 (p = 0.030), squared error statistic -1.10 (p = 0.060)" in words
    assert "n = 480 days" in words
    every = table_with(text, ["LSTM against", "NLL statistic", "NLL p", "squared-error statistic", "squared-error p"])
    assert [r[0] for r in every] == [
        "zero + EWMA(0.94)",
        "historical mean/var",
        "GARCH(1,1) (headline)",
        "GJR-GARCH(1,1,1)-t",
        "HAR (range), t",
    ]
    assert every[1][1:3] == ["-5.00", "p < 0.001"]
    assert "Ensemble of 3 seeds" in text and "a gain of +0.0200 nats" in text
    assert "each forecast's own predictive density: Student-t, 4.1 to 9.7 degrees of freedom" in text
    block["diebold_mariano"]["chosen_on"] = "test"  # a run without a validation block says so
    text = forecast_section(_report_inputs(returns, {"models": models, "test": block}))
    assert "the baseline with the lowest NLL on the test block itself (the run has no validation block)" in text


# --- the cross-section, against figures computed by hand ---------------------------------------------------------


def _test_pairs(fc: pd.DataFrame, held: pd.DataFrame) -> pd.DataFrame:
    """The test forecasts beside the return each holds, read from the closes; those with a realised one."""
    test = fc[fc["split"] == "test"].copy()
    test["held"] = [held.at[d, t] for d, t in zip(test["date"], test["ticker"], strict=True)]
    return test[np.isfinite(test["held"])]


def _hand_jpx(fc: pd.DataFrame, held: pd.DataFrame) -> float:
    """The JPX score by a loop: each day the top and bottom min(200, n // 2) by forecast, weights 2 down to 1, the
    long book's weighted mean simple return minus the short book's; mean / sd (ddof 1) over days."""
    daily = []
    for _, g in _test_pairs(fc, held).groupby("date"):
        s, simple = g["mean"].to_numpy(), np.expm1(g["held"].to_numpy())
        order = np.argsort(-s)  # highest forecast first
        k = min(200, len(s) // 2)
        w = np.linspace(2, 1, k)
        daily.append((w @ simple[order[:k]]) / w.mean() - (w @ simple[order[::-1][:k]]) / w.mean())
    return float(np.mean(daily) / np.std(daily, ddof=1))


def _hand_cross_section(fc: pd.DataFrame, held: pd.DataFrame) -> dict[str, Any]:
    """IC, rank IC, quintiles and rank autocorrelation of the test forecasts (5 tickers or more a day), by loops."""
    test = _test_pairs(fc, held)
    ic, rank_ic, quint = {}, {}, {}
    for date, g in test.groupby("date"):
        s, y = g["mean"].to_numpy(), g["held"].to_numpy()
        ic[date] = np.corrcoef(s, y)[0, 1]
        rank_ic[date] = sps.spearmanr(s, y).statistic
        quint[date] = pd.Series(y).groupby(pd.qcut(s, 5, labels=False)).mean().to_numpy()
    q = np.array(list(quint.values()))
    spread = q[:, 4] - q[:, 0]
    wide = test.pivot(index="date", columns="ticker", values="mean")
    autocorr = [sps.spearmanr(wide.iloc[i], wide.iloc[i - 1]).statistic for i in range(1, len(wide))]

    def summary(x: np.ndarray) -> dict[str, float]:
        sd = x.std(ddof=1)
        return {"mean": x.mean(), "std": sd, "icir": x.mean() / sd, "t_stat": x.mean() / sd * np.sqrt(len(x))}

    return {
        "ic": summary(np.array(list(ic.values()))),
        "rank_ic": summary(np.array(list(rank_ic.values()))),
        "quintiles": q.mean(axis=0),
        "spread": summary(spread),
        "autocorr": float(np.mean(autocorr)),
        "jpx": _hand_jpx(fc, held),
        "n_dates": len(ic),
        "ic_daily": pd.Series(ic),
        "rank_ic_daily": pd.Series(rank_ic),
    }


def _close(shown: str, expected: float, fmt: str) -> None:
    """A shown cell equals the figure to its printed precision."""
    digits = int(fmt[-2]) if fmt != "bp" else 2
    value = float(shown) / (1e4 if fmt == "bp" else 1)
    assert value == pytest.approx(expected, abs=0.5 * 10.0**-digits / (1e4 if fmt == "bp" else 1) + 1e-12), (
        shown,
        expected,
    )


class _Figures:
    """Every figure the tearsheet's forecast section embeds, as it was drawn."""

    def __init__(self) -> None:
        self.figures: list[Any] = []

    def __call__(self, original: Any) -> Any:
        def record(fig: Any) -> str:
            self.figures.append(fig)
            return original(fig)

        return record

    def with_gid(self, gid: str) -> Any:
        found = [f for f in self.figures for a in f.axes for art in (*a.patches, *a.lines) if art.get_gid() == gid]
        assert len(found) == 1, f"{len(found)} figures with {gid!r}"
        return found[0]


@pytest.fixture(scope="module")
def eight(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, pd.DataFrame, _Figures]:
    """A longshort backtest of 8 tickers with skilled forecasts, and the figures its tearsheet drew."""
    tmp = tmp_path_factory.mktemp("eight")
    panel = synthetic_panel(8, 300, seed=21)
    fc = _forecasts(panel, test_from=170, seed=3, dof="all")
    fc.to_csv(tmp / "forecasts.csv", index=False)
    recorder = _Figures()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tearsheet, "_svg", recorder(tearsheet._svg))
        run_backtest_job(
            panel,
            tmp / "bt",
            strategy="longshort",
            forecasts=tmp / "forecasts.csv",
            execution=Execution(),
            progress=False,
        )
    return tmp / "bt", fc, _held(panel), recorder


def test_cross_section_table_agrees_with_figures_computed_by_hand(eight) -> None:
    out, fc, held, _ = eight
    hand = _hand_cross_section(fc, held)
    page = (out / "tearsheet.html").read_text(encoding="utf-8")
    rows = {r[0]: r[1] for r in table_with(page, ["figure", "traded period (recomputed)"])}
    assert rows["Dates (median tickers a date)"] == f"{hand['n_dates']} (median 8 tickers)"
    for label, key in (("IC (Pearson)", "ic"), ("Rank IC (Spearman)", "rank_ic")):
        _close(rows[f"{label}, mean across dates"], hand[key]["mean"], ".4f")
        short = label.split(" (")[0]
        _close(rows[f"{short}, standard deviation across dates"], hand[key]["std"], ".4f")
        _close(rows[f"{short}IR (mean / sd)"], hand[key]["icir"], ".3f")
        _close(rows[f"{short} t-statistic (ICIR x sqrt(dates))"], hand[key]["t_stat"], ".2f")
    assert hand["rank_ic"]["mean"] > 0.1  # the forecasts have skill, so the check is not of noise around 0
    _close(rows["Top-minus-bottom quintile spread, mean (bp a day)"], hand["spread"]["mean"], "bp")
    _close(rows["Spread t-statistic (mean / sd x sqrt(dates))"], hand["spread"]["t_stat"], ".2f")
    _close(rows["Rank autocorrelation of the forecast, day to day"], hand["autocorr"], ".3f")
    _close(rows["JPX score of the forecast (daily spread mean / sd)"], hand["jpx"], ".3f")
    quint = table_with(page, ["forecast quintile", "1 (lowest)", "2", "3", "4", "5 (highest)", "5 minus 1"])[0]
    for shown, expected in zip(quint[1:6], hand["quintiles"], strict=True):
        _close(shown, expected, "bp")
    _close(quint[6], hand["spread"]["mean"], "bp")


def test_cross_section_charts_draw_the_figures_computed_by_hand(eight) -> None:
    _, fc, held, figures = eight
    hand = _hand_cross_section(fc, held)
    bars = figures.with_gid("quintile-1")
    heights = {p.get_gid(): p.get_height() for p in bars.axes[0].patches if p.get_gid()}
    np.testing.assert_allclose([heights[f"quintile-{q}"] for q in range(1, 6)], hand["quintiles"] * 1e4, rtol=1e-9)
    assert heights["quintile-spread"] == pytest.approx(hand["spread"]["mean"] * 1e4, rel=1e-9)
    assert f"top minus bottom {hand['spread']['mean'] * 1e4:+.2f} bp a day" in bars.axes[0].get_title()
    ic = figures.with_gid("rank-ic-daily")
    lines = {ln.get_gid(): ln for ln in ic.axes[0].lines}

    def drawn(gid: str) -> pd.Series:
        ln = lines[gid]
        return pd.Series(np.asarray(ln.get_ydata(), float), index=pd.DatetimeIndex(np.asarray(ln.get_xdata())))

    daily = hand["rank_ic_daily"].sort_index()
    np.testing.assert_allclose(drawn("rank-ic-daily").to_numpy(), daily.to_numpy(), rtol=1e-9)
    assert drawn("rank-ic-daily").index.equals(pd.DatetimeIndex(daily.index))
    rolled = pd.Series(daily.to_numpy()).rolling(21).mean().to_numpy()  # blank until 21 dates are in
    np.testing.assert_allclose(drawn("rank-ic-rolling").to_numpy(), rolled, rtol=1e-9, atol=1e-12, equal_nan=True)
    rolled_ic = pd.Series(hand["ic_daily"].sort_index().to_numpy()).rolling(21).mean().to_numpy()
    np.testing.assert_allclose(drawn("ic-rolling").to_numpy(), rolled_ic, rtol=1e-9, atol=1e-12, equal_nan=True)
    assert drawn("rank-ic-mean").iloc[0] == pytest.approx(daily.mean(), rel=1e-9)


def test_jpx_score_of_a_longshort_backtest_in_stats_page_and_summary(eight) -> None:
    out, fc, held, _ = eight
    hand = _hand_cross_section(fc, held)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["jpx"]["score"] == pytest.approx(hand["jpx"], rel=1e-9)
    assert stats["jpx"]["winner_score"] == 0.381 and stats["jpx"]["n_dates"] == hand["n_dates"]
    net = pd.read_csv(out / "returns.csv")["strategy"]
    assert stats["jpx"]["strategy_net_mean_over_std"] == pytest.approx(net.mean() / net.std(ddof=1), rel=1e-9)
    assert stats["cross_section"]["jpx"]["score"] == pytest.approx(hand["jpx"], rel=1e-9)
    page = (out / "tearsheet.html").read_text(encoding="utf-8")
    summary = {r[0]: r[1:] for r in table_with(page, ["Forecast and costs", "Strategy", "Zero / benchmark"])}
    _close(summary["JPX score (daily spread mean / sd)"][0], hand["jpx"], ".3f")
    assert summary["JPX score (daily spread mean / sd)"][1] == "0.381 (winner)"
    assert f"<b>JPX competition score: {hand['jpx']:.3f}</b>" in page and "winner scored 0.381" in page
    assert (out / "cross_section.csv").is_file()


def test_fewer_than_five_tickers_say_why_the_cross_section_is_absent(tmp_path: Path) -> None:
    panel = synthetic_panel(4, 260, seed=6)
    fc = _forecasts(panel, test_from=150, seed=2)
    fc.to_csv(tmp_path / "forecasts.csv", index=False)
    run_backtest_job(panel, tmp_path / "bt", strategy="longshort", forecasts=tmp_path / "forecasts.csv", progress=False)
    stats = json.loads((tmp_path / "bt" / "stats.json").read_text())
    assert stats["cross_section"]["absent"].startswith("fewer than 5 tickers")
    page = (tmp_path / "bt" / "tearsheet.html").read_text(encoding="utf-8")
    absent = re.search(r'<p id="qtrade-cross-section-absent">(.*?)</p>', page, re.DOTALL)
    assert absent and "the backtest traded 4 tickers, and they need at least 5" in absent.group(1)
    assert "traded period (recomputed)" not in page and not (tmp_path / "bt" / "cross_section.csv").exists()
    # the JPX score needs only two tickers a day: here two books of two
    assert stats["jpx"]["score"] == pytest.approx(_hand_jpx(fc, _held(panel)), rel=1e-9)
    assert stats["jpx"]["portfolio_size"] == [2, 2]


def test_a_backtest_folder_of_an_older_qtrade_says_its_cross_section_was_not_recorded() -> None:
    returns = pd.DataFrame({"strategy": 0.0, "benchmark": 0.0}, index=pd.bdate_range("2020-01-03", periods=5))
    text = forecast_section(_report_inputs(returns, None, forecast={"n": 10, "nll": -2.9}))
    assert "Cross-sectional figures were not recorded (a backtest of an older qtrade)" in text
    assert "NLL, interval coverage and the PIT are those of each forecast's own predictive density: normal." in text
    assert (
        table_with(text, ["model", "MSE x1e4", "R2 vs zero", "NLL", "90% cover", "95% cover", "direction"])[0][0]
        == "LSTM-MLE (normal)"
    )


def test_the_page_with_the_cross_section_loads_without_errors_or_blank_charts(eight) -> None:
    page = eight[0] / "tearsheet.html"
    assert 'id="qtrade-cross-section"' in page.read_text(encoding="utf-8")
    loaded = load_page(page)
    assert loaded.errors == [] and loaded.outside_requests == []
    assert loaded.charts and loaded.blank_charts == [], loaded.blank_charts
