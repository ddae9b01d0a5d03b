"""Cross-sectional figures against a hand computation on 3 dates x 5 tickers, and the JPX score against the
competition's own formula."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from forecasting.evaluation.crosssection import cross_section, jpx_score, jpx_spread_returns

DATES = pd.to_datetime(["2024-01-04", "2024-01-05", "2024-01-08"])
#            A     B     C     D     E
SIGNAL = [[1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 2.0, 3.0, 4.0, 10.0], [5.0, 4.0, 3.0, 2.0, 1.0]]
TARGET = [
    [1.0, 3.0, 2.0, 5.0, 4.0],  # percent
    [1.0, 2.0, 3.0, 4.0, 5.0],
    [1.0, 2.0, 3.0, 4.0, 5.0],
]


def _tiny() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": np.repeat(DATES, 5),
            "ticker": list("ABCDE") * 3,
            "mean": np.ravel(SIGNAL),
            "target": np.ravel(TARGET) / 100,
        }
    )


def _sd(values: list[float]) -> float:
    m = sum(values) / len(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def test_figures_match_the_hand_computation() -> None:
    cs = cross_section(_tiny(), log_target=False)
    s = cs.summary
    assert cs.absent is None and s["n_dates"] == 3 and s["n_dates_left_out"] == 0
    # Pearson IC per date: sum(ds dy) / sqrt(sum ds^2 sum dy^2), the deviations from the date's means
    #   date 1: ds = -2 -1 0 1 2, dy = -2 0 -1 2 1: 8 / sqrt(10 * 10) = 0.8
    #   date 2: ds = -3 -2 -1 0 6, dy = -2 -1 0 1 2: 20 / sqrt(50 * 10)
    #   date 3: the signal falls as the target rises in a straight line: -1
    ic = [0.8, 20 / math.sqrt(500), -1.0]
    np.testing.assert_allclose(cs.ic.to_numpy(), ic, rtol=1e-12)
    assert list(cs.ic.index) == list(DATES)
    # Spearman: the ranks of date 1 are the values themselves (0.8); date 2's signal ranks 1..5 like its target
    rank_ic = [0.8, 1.0, -1.0]
    np.testing.assert_allclose(cs.rank_ic.to_numpy(), rank_ic, rtol=1e-12)
    for key, daily in (("ic", ic), ("rank_ic", rank_ic)):
        mean, sd = sum(daily) / 3, _sd(daily)
        assert s[key]["mean"] == pytest.approx(mean, rel=1e-12)
        assert s[key]["std"] == pytest.approx(sd, rel=1e-12)
        assert s[key]["icir"] == pytest.approx(mean / sd, rel=1e-12)
        assert s[key]["t_stat"] == pytest.approx(mean / (sd / math.sqrt(3)), rel=1e-12)
        assert s[key]["n_dates"] == 3
    assert s["rank_ic"]["mean"] == pytest.approx(0.8 / 3) and s["rank_ic"]["std"] == pytest.approx(1.1015141, rel=1e-6)
    # five tickers: quintile k is the ticker with the k-th lowest signal; its target per date (percent):
    #   date 1: 1 3 2 5 4, date 2: 1 2 3 4 5, date 3 (signal reversed): E D C B A = 5 4 3 2 1
    quintile = [(1 + 1 + 5) / 3, (3 + 2 + 4) / 3, (2 + 3 + 3) / 3, (5 + 4 + 2) / 3, (4 + 5 + 1) / 3]
    np.testing.assert_allclose(s["quantile_mean_target"], np.array(quintile) / 100, rtol=1e-12)
    spread = [4 - 1, 5 - 1, 1 - 5]
    np.testing.assert_allclose(cs.spread.to_numpy(), np.array(spread) / 100, rtol=1e-12)
    assert s["spread"]["mean"] == pytest.approx(0.01, rel=1e-12)
    assert s["spread"]["std"] == pytest.approx(math.sqrt(19) / 100, rel=1e-12)  # deviations 2, 3, -5: 38 / 2
    assert s["spread"]["t_stat"] == pytest.approx(1 / (math.sqrt(19) / math.sqrt(3)), rel=1e-12)
    # rank autocorrelation: date 2 ranks A..E as date 1 does (+1), date 3 reverses them (-1)
    assert s["rank_autocorrelation"] == {"mean": 0.0, "n_dates": 2}
    # JPX with 5 tickers: books of 2, weights 2 and 1 (mean 1.5), in percent
    #   date 1: long E, D = (2*4 + 5) / 1.5, short A, B = (2*1 + 3) / 1.5: 8 / 1.5
    #   date 2: (2*5 + 4 - 2*1 - 2) / 1.5 = 10 / 1.5; date 3: long A, B, short E, D: -10 / 1.5
    jpx = [8 / 1.5, 10 / 1.5, -10 / 1.5]
    assert s["jpx"]["score"] == pytest.approx((sum(jpx) / 3) / _sd(jpx), rel=1e-12)
    assert s["jpx"]["portfolio_size"] == [2, 2]
    json.dumps(s)  # plain types only


def test_the_jpx_score_uses_simple_returns_of_a_log_target() -> None:
    frame = _tiny()
    logged = cross_section(frame).summary["jpx"]["score"]
    simple = cross_section(frame.assign(target=np.expm1(frame["target"])), log_target=False).summary["jpx"]["score"]
    assert logged == pytest.approx(simple, rel=1e-12)


def test_fewer_than_five_tickers_gives_a_reason_not_figures() -> None:
    four = _tiny()[lambda f: f["ticker"] != "E"]
    cs = cross_section(four)
    assert cs.absent == "fewer than 5 tickers with a forecast and a realised return on most dates (median 4 of 3 dates)"
    assert set(cs.summary) == {"signal", "min_tickers", "quantiles", "absent"} and cs.ic.empty
    json.dumps(cs.summary)
    # a missing target counts as a missing ticker
    holes = _tiny()
    holes.loc[holes["ticker"] == "C", "target"] = np.nan
    assert cross_section(holes).absent is not None
    assert cross_section(holes.iloc[:0]).absent == "no row has both a forecast and a realised return"


def test_a_minority_of_thin_dates_is_left_out_and_counted() -> None:
    frame = _tiny()
    thin = frame[~((frame["date"] == DATES[1]) & (frame["ticker"] == "E"))]
    cs = cross_section(thin, log_target=False)
    assert cs.summary["n_dates"] == 2 and cs.summary["n_dates_left_out"] == 1
    np.testing.assert_allclose(cs.rank_ic.to_numpy(), [0.8, -1.0])
    # the autocorrelation needs only the signal: date 2 still has 4 tickers, fewer than 5, so no pair is used
    assert cs.summary["rank_autocorrelation"] == {"mean": None, "n_dates": 0}


def test_quantiles_match_qcut_without_ties_and_ties_share_one() -> None:
    rng = np.random.default_rng(0)
    frames = []
    for k, n in enumerate(range(5, 31)):
        frames.append(
            pd.DataFrame(
                {
                    "date": pd.Timestamp("2024-01-01") + pd.Timedelta(days=k),
                    "ticker": [f"T{j:02d}" for j in range(n)],
                    "mean": rng.normal(size=n),
                    "target": rng.normal(size=n),
                }
            )
        )
    frame = pd.concat(frames, ignore_index=True)
    q = frame.groupby("date")["mean"].transform(lambda s: pd.qcut(s, 5, labels=False) + 1)
    expected = frame.assign(q=q).groupby(["date", "q"])["target"].mean().unstack().mean()
    cs = cross_section(frame, log_target=False)
    np.testing.assert_allclose(cs.summary["quantile_mean_target"], expected.to_numpy(), rtol=1e-12)
    # a constant signal puts every ticker in one quantile: no top or bottom, no spread, no IC that day
    flat = frame.copy()
    first = flat["date"] == flat["date"].min()
    flat.loc[first, "mean"] = 1.0
    cs_flat = cross_section(flat, log_target=False)
    assert np.isnan(cs_flat.spread.iloc[0]) and np.isnan(cs_flat.ic.iloc[0]) and cs_flat.summary["ic"]["n_dates"] == 25


def test_rank_autocorrelation_is_alphalens_when_the_tickers_stay() -> None:
    rng = np.random.default_rng(1)
    dates = pd.bdate_range("2024-01-01", periods=30)
    wide = pd.DataFrame(np.cumsum(rng.normal(size=(30, 12)), axis=0), index=dates, columns=[f"T{j}" for j in range(12)])
    frame = wide.stack().rename("mean").rename_axis(["date", "ticker"]).reset_index()
    frame["target"] = rng.normal(size=len(frame))
    ranks = wide.rank(axis=1)  # alphalens' factor_rank_autocorrelation, period 1
    expected = ranks.corrwith(ranks.shift(1), axis=1).dropna().mean()
    assert cross_section(frame).summary["rank_autocorrelation"]["mean"] == pytest.approx(expected, rel=1e-12)


def _competition_score(df: pd.DataFrame, portfolio_size: int = 200, toprank_weight_ratio: float = 2) -> float:
    """The JPX competition's calc_spread_return_sharpe, as published (Rank 0 is the highest expected return)."""

    def per_day(day: pd.DataFrame) -> float:
        weights = np.linspace(start=toprank_weight_ratio, stop=1, num=portfolio_size)
        purchase = (day.sort_values(by="Rank")["Target"][:portfolio_size] * weights).sum() / weights.mean()
        short = (
            day.sort_values(by="Rank", ascending=False)["Target"][:portfolio_size] * weights
        ).sum() / weights.mean()
        return float(purchase - short)

    buf = pd.Series({d: per_day(g) for d, g in df.groupby("Date")})
    return float(buf.mean() / buf.std())


def test_jpx_spread_and_score_follow_the_competition() -> None:
    rng = np.random.default_rng(2)
    dates = pd.bdate_range("2022-01-03", periods=6)
    frame = pd.DataFrame(
        {
            "date": np.repeat(dates, 450),
            "ticker": np.tile([f"{1000 + j}" for j in range(450)], 6),
            "mean": rng.normal(size=2700),
        }
    )
    frame["target"] = 0.3 * frame["mean"] * 0.01 + rng.normal(0, 0.02, size=2700)
    jpx = frame.rename(columns={"date": "Date", "target": "Target"})
    jpx["Rank"] = jpx.groupby("Date")["mean"].rank(ascending=False, method="first").astype(int) - 1
    ours = jpx_score(jpx_spread_returns(frame))
    assert ours == pytest.approx(_competition_score(jpx), rel=1e-10)
    assert cross_section(frame, log_target=False).summary["jpx"]["score"] == pytest.approx(ours, rel=1e-12)
    assert math.isnan(jpx_score(np.array([0.01]))) and math.isnan(jpx_score(np.array([0.01, 0.01])))


def test_missing_columns_are_named() -> None:
    with pytest.raises(ValueError, match=r"\['signal_x'\]"):
        cross_section(_tiny(), signal="signal_x")
