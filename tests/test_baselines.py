"""Each baseline against a hand computation."""

from __future__ import annotations

import numpy as np
from arch import arch_model

from forecasting.baselines import ewma, garch11, historical
from forecasting.synthetic import synthetic_panel


def _returns(n_days: int = 700, seed: int = 3) -> np.ndarray:
    close = synthetic_panel(1, n_days, seed=seed)["close"].to_numpy()
    return np.r_[np.nan, np.diff(np.log(close))][None, :]


def test_ewma_recursion_by_hand() -> None:
    r = _returns(50)
    r[0, 20] = np.nan
    _, var = ewma(r, lam=0.94)
    state = r[0, 1] ** 2
    assert var[0, 1] == state
    for t in range(2, 50):
        if np.isfinite(r[0, t]):
            state = 0.94 * state + 0.06 * r[0, t] ** 2
        assert np.isclose(var[0, t], state, rtol=1e-12)
    assert np.isnan(var[0, 0])


def test_historical_uses_training_targets_only() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(0.001, 0.02, (2, 200))
    train = np.zeros((2, 200), dtype=bool)
    train[:, :120] = True
    m, v = historical(y, train)
    assert np.allclose(m[0], y[0, :120].mean()) and np.allclose(v[1], y[1, :120].var())
    y2 = y.copy()
    y2[:, 120:] *= 10  # the future moves nothing
    m2, v2 = historical(y2, train)
    assert np.array_equal(m, m2) and np.array_equal(v, v2)


def test_garch_forecasts_follow_the_recursion_with_training_parameters() -> None:
    r = _returns(700)
    train_end = 450
    mean, var = garch11(r, train_end)
    rr = r[0, 1:] * 100
    fit = arch_model(rr, mean="Constant", vol="GARCH", p=1, q=1, rescale=False).fit(last_obs=train_end, disp="off")
    mu, omega, alpha, beta = fit.params
    # seq[k]: variance of rr[k] given rr[:k]; rr[k] is r[k + 1], so seq[d] is the forecast at origin date d
    seq = [fit.conditional_volatility[0] ** 2]
    for t in range(len(rr)):
        seq.append(omega + alpha * (rr[t] - mu) ** 2 + beta * seq[-1])
    expected = np.array(seq) / 1e4
    # compare after the start-up transient (arch's backcast of the first variance fades within ~100 days)
    np.testing.assert_allclose(var[0, 300:], expected[300:700], rtol=1e-6)
    assert np.allclose(mean[0, 1:], mu / 100)
    # parameters come from the training block: the future changes no forecast at or before train_end
    r2 = r.copy()
    r2[0, train_end + 1 :] *= 3
    _, var2 = garch11(r2, train_end)
    np.testing.assert_allclose(var2[0, 300 : train_end + 1], var[0, 300 : train_end + 1], rtol=1e-9)
