"""The model confidence set and the VaR backtests of the test block: arch's MCS by hand, a true density against a
miscalibrated one, and sentences that follow the figures."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from arch.bootstrap import MCS, optimal_block_length
from scipy import stats

from forecasting.evaluation.confidence_set import MIN_DATES, mcs_block_length, model_confidence_set
from forecasting.evaluation.scoring import MCS_REPS, MCS_SEED, MCS_SIZE, evaluate


def _panel(n_dates: int = 500, n_tickers: int = 3, seed: int = 0) -> pd.DataFrame:
    """Returns whose volatility wanders (log-AR(1)) with Student-t(5) shocks, and four forecasts of them: the true
    density, a normal a third as wide (far too thin), a normal with the true variance, and each ticker's
    constant variance (historical)."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2020-01-01", periods=n_dates)
    logvol = np.zeros((n_dates, n_tickers))
    for t in range(1, n_dates):
        logvol[t] = 0.97 * logvol[t - 1] + 0.15 * rng.standard_normal(n_tickers)
    sd = 0.01 * np.exp(logvol)
    y = sd * rng.standard_t(5, (n_dates, n_tickers)) * np.sqrt(3 / 5)
    var = (sd**2).ravel()
    n = n_dates * n_tickers
    return pd.DataFrame(
        {
            "date": np.repeat(dates, n_tickers),
            "ticker": np.tile([f"T{k}" for k in range(n_tickers)], n_dates),
            "split": np.where(np.repeat(np.arange(n_dates), n_tickers) < n_dates // 5, "val", "test"),
            "target": y.ravel(),
            "parkinson": var,
            "entry": np.full(n, 100.0),
            "true_mean": 0.0,
            "true_var": var,
            "true_dof": 5.0,
            "thin_mean": 0.0,
            "thin_var": var / 9.0,
            "normal_mean": 0.0,
            "normal_var": var,
            "historical_mean": 0.0,
            "historical_var": np.tile((sd**2).mean(axis=0), n_dates),
        }
    )


MODELS = ["true", "thin", "normal", "historical"]
Scored = tuple[pd.DataFrame, dict[str, Any]]


@pytest.fixture(scope="module")
def scored() -> Scored:
    frame = _panel()
    return frame, evaluate(frame, MODELS)


def _daily_nll_by_hand(frame: pd.DataFrame) -> pd.DataFrame:
    test = frame[frame["split"] == "test"]
    y = test["target"].to_numpy()
    t_scale = np.sqrt(test["true_var"].to_numpy() * 3 / 5)
    nll = {
        "true": -stats.t.logpdf(y, 5.0, scale=t_scale),
        "thin": -stats.norm.logpdf(y, scale=np.sqrt(test["thin_var"].to_numpy())),
        "normal": -stats.norm.logpdf(y, scale=np.sqrt(test["normal_var"].to_numpy())),
        "historical": -stats.norm.logpdf(y, scale=np.sqrt(test["historical_var"].to_numpy())),
    }
    return pd.DataFrame(nll).groupby(test["date"].to_numpy()).mean()


def test_the_confidence_set_is_archs_mcs_on_the_daily_mean_nll(scored: Scored) -> None:
    frame, metrics = scored
    mcs = metrics["test"]["model_confidence_set"]
    losses = _daily_nll_by_hand(frame)
    # the block length by its rule: the longest Politis-White stationary block of the pairwise differences,
    # rounded up, between the horizon (2 for the default target) and sqrt(T)
    pairs = np.column_stack([losses[a] - losses[b] for a, b in itertools.combinations(MODELS, 2)])
    longest = float(optimal_block_length(pairs)["stationary"].max())
    block = min(max(math.ceil(longest), 2), math.isqrt(len(losses)))
    assert mcs["settings"]["block_size"] == block and mcs["settings"]["block_size_estimate"] == pytest.approx(longest)
    assert (mcs["settings"]["size"], mcs["settings"]["reps"], mcs["settings"]["seed"]) == (0.1, 1000, 0)
    assert mcs["settings"]["bootstrap"] == "stationary" and mcs["n_dates"] == len(losses) == 400
    by_hand = MCS(losses, MCS_SIZE, reps=MCS_REPS, block_size=block, method="R", seed=MCS_SEED)
    by_hand.compute()
    want = by_hand.pvalues["Pvalue"]
    assert mcs["pvalues"] == pytest.approx({m: float(want[m]) for m in MODELS}, abs=1e-12)
    assert sorted(mcs["included"]) == sorted(map(str, by_hand.included))
    assert sorted(mcs["excluded"]) == sorted(map(str, by_hand.excluded))


def test_the_true_density_stays_in_the_set_and_passes_the_var_tests_the_thin_one_fails_both(scored: Scored) -> None:
    _, metrics = scored
    test = metrics["test"]
    mcs = test["model_confidence_set"]
    assert "true" in mcs["included"] and mcs["pvalues"]["true"] > 0.5
    assert {"thin", "historical"} <= set(mcs["excluded"]) and mcs["pvalues"]["thin"] == 0.0
    var = test["var_backtests"]
    assert var["levels"] == [0.01, 0.05] and var["significance"] == 0.05
    for level in ("0.01", "0.05"):
        good, bad = var["true"][level], var["thin"][level]
        assert good["n"] == bad["n"] == 1200 and good["alpha"] == float(level)
        assert abs(good["hit_rate"] - float(level)) < 0.01
        assert good["uc_p"] > 0.05 and good["ind_p"] > 0.05 and good["cc_p"] > 0.05
        assert bad["hit_rate"] > 3 * float(level) and bad["uc_p"] < 1e-6 and bad["cc_p"] < 1e-6
        assert "too many: the model understates the risk" in bad["meaning"]
        assert "coverage is consistent with the model" in good["meaning"]
        rejected = bad["per_ticker_rejections"]
        assert (rejected["tickers"], rejected["uc"], rejected["cc"]) == (3, 3, 3)
    # the constant variance misses the wandering volatility: its 5% hits cluster in the turbulent spells
    assert var["historical"]["0.05"]["ind_p"] < 0.05 and "hits cluster" in var["historical"]["0.05"]["meaning"]


def test_the_var_figures_are_each_models_own_quantiles_pooled_over_tickers(scored: Scored) -> None:
    frame, metrics = scored
    test = frame[frame["split"] == "test"]
    y = test["target"].to_numpy()
    for level in (0.01, 0.05):
        quantile = stats.t.ppf(level, 5.0) * np.sqrt(test["true_var"].to_numpy() * 3 / 5)
        hits = y < quantile
        got = metrics["test"]["var_backtests"]["true"][f"{level:g}"]
        assert got["hits"] == int(hits.sum())
        consecutive = pd.DataFrame({"hit": hits, "ticker": test["ticker"].to_numpy()})
        after = consecutive.groupby("ticker")["hit"].shift(1)
        n11 = int(((after == True) & consecutive["hit"]).sum())  # noqa: E712
        assert got["n11"] == n11


def test_the_sentences_follow_the_figures(scored: Scored) -> None:
    _, metrics = scored
    test = metrics["test"]
    mcs = test["model_confidence_set"]
    assert mcs["included"] == ["true"]  # the normal with the true variance is out too, on tails alone
    nearest = max(mcs["excluded"], key=lambda m: mcs["pvalues"][m])
    assert mcs["meaning"] == (
        "The 90% model confidence set holds only true: no other model is as good on the log score (the nearest, "
        f"{nearest}, has MCS p = {mcs['pvalues'][nearest]:.2g})."
    )
    dm = test["diebold_mariano"]
    assert dm["against"] == "normal"  # the best baseline on validation
    p = dm["nll"]["p_value"]
    if p < 0.05:
        assert dm["nll"]["statistic"] < 0 and dm["meaning"].startswith("The log score of true is better than that of")
    else:
        assert dm["meaning"].startswith("The log scores of true and normal cannot be told apart")
    assert f"p = {p:.2g}" in dm["meaning"] or (p < 0.001 and "p < 0.001" in dm["meaning"])


def _losses(**means: float) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    common = rng.standard_normal(300)
    return pd.DataFrame({m: mu + common + 0.3 * rng.standard_normal(300) for m, mu in means.items()})


def test_each_case_of_the_sentence() -> None:
    labels = {"lstm": "the LSTM", "har": "HAR", "garch": "GARCH"}
    only = model_confidence_set(_losses(lstm=0.0, har=1.0, garch=1.5), head="lstm", labels=labels, loss="log score")
    assert only.included == ("lstm",) and only.meaning.startswith(
        "The 90% model confidence set holds only the LSTM: no other model is as good on the log score (the nearest, HAR"
    )
    tie = model_confidence_set(_losses(lstm=0.0, har=0.01, garch=1.5), head="lstm", labels=labels, loss="log score")
    assert tie.included == ("lstm", "har") and tie.excluded == ("garch",)
    assert tie.meaning == (
        "The 90% model confidence set holds the LSTM and HAR: the data cannot tell them apart on the log score; "
        "GARCH is worse."
    )
    out = model_confidence_set(_losses(lstm=1.0, har=0.0, garch=0.01), head="lstm", labels=labels, loss="log score")
    assert out.excluded == ("lstm",)
    assert out.meaning == (
        f"The 90% model confidence set holds HAR and GARCH: the LSTM is worse on the log score than the best of them "
        f"(its MCS p = {out.pvalues['lstm']:.2g})."
    )
    every = model_confidence_set(_losses(lstm=0.0, har=0.0, garch=0.01), head="lstm", labels=labels)
    assert every.excluded == () and "holds every model (the LSTM, HAR and GARCH)" in every.meaning


def test_identical_models_share_one_p_value_and_too_few_dates_give_no_set() -> None:
    losses = _losses(a=0.0, b=1.0)
    losses["c"] = losses["a"]
    r = model_confidence_set(losses, reps=200)
    assert r.identical == {"c": "a"} and r.pvalues["c"] == r.pvalues["a"] == 1.0 and r.included == ("a", "c")
    same = model_confidence_set(pd.DataFrame({"a": losses["a"], "b": losses["a"]}))
    assert same.pvalues == {"a": 1.0, "b": 1.0} and "holds every model" in same.meaning
    with pytest.raises(ValueError, match=f"at least {MIN_DATES} dates"):
        model_confidence_set(losses.head(MIN_DATES - 1))
    frame = _panel(n_dates=40, n_tickers=2)  # 32 test dates: a set; the validation block has none
    assert "included" in evaluate(frame, MODELS)["test"]["model_confidence_set"]
    short = _panel(n_dates=20, n_tickers=2)
    assert "at least 20 dates" in evaluate(short, MODELS)["test"]["model_confidence_set"]["absent"]


def test_the_block_length_is_bounded_by_the_horizon_and_sqrt_of_the_dates() -> None:
    rng = np.random.default_rng(4)
    white = pd.DataFrame(rng.standard_normal((400, 3)))
    assert mcs_block_length(white, horizon=5)[0] == 5
    walk = pd.DataFrame({"a": np.cumsum(rng.standard_normal(400)), "b": 0.0})  # no finite block suits a walk
    assert mcs_block_length(walk)[0] == 20
    assert mcs_block_length(pd.DataFrame({"a": np.ones(50), "b": 0.0})) == (1, None)  # a constant difference


def test_the_summary_prints_the_set_and_the_var_line(
    scored: Scored, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from qtrade.printing import print_comparison

    frame, _ = scored
    lstm = frame.rename(columns=lambda c: c.replace("true_", "lstm_"))  # the summary prints the LSTM's price MSE
    metrics = evaluate(lstm, ["lstm", *MODELS[1:]])
    print_comparison(metrics, tmp_path)
    text = " ".join(capsys.readouterr().out.split())
    assert "Model confidence set" in text
    assert " ".join(metrics["test"]["model_confidence_set"]["meaning"].split()) in text
    assert "hit rate at 1% / 5%" in text and "Kupiec: thin" in text
    assert " ".join(metrics["test"]["diebold_mariano"]["meaning"].split()) in text
