from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from forecasting.errors import CheckpointError, ConfigError
from forecasting.evaluation.metrics import nll
from forecasting.model.checkpoint import load_checkpoint, save_checkpoint
from forecasting.model.network import DOF_MIN, LSTMMLE, ModelConfig, gaussian_nll, studentt_nll


def test_shapes_and_positive_floored_variance() -> None:
    cfg = ModelConfig(n_features=6, hidden=16, layers=2, dropout=0.1, var_floor=1e-3)
    net = LSTMMLE(cfg)
    with torch.no_grad():
        net.head.bias[1] = -50.0  # drive softplus to ~0: the floor must hold
    mean, var, dof = net(torch.randn(7, 20, 6))
    assert mean.shape == (7,) and var.shape == (7,) and dof is None
    assert torch.all(var >= 1e-3) and torch.all(var < 1.1e-3)


def test_nll_matches_the_gaussian_formula_and_is_minimised_at_the_truth() -> None:
    y = torch.tensor([0.3, -1.2, 2.0])
    m = torch.tensor([0.1, -1.0, 1.0])
    v = torch.tensor([0.5, 2.0, 1.5])
    hand = np.mean(
        [0.5 * (math.log(2 * math.pi * vi) + (yi - mi) ** 2 / vi) for yi, mi, vi in zip(y, m, v, strict=True)]
    )
    assert np.isclose(gaussian_nll(m, v, y).item(), hand, rtol=1e-6)
    # for data drawn from N(0, 4), the NLL over a grid of variances is smallest near 4
    g = torch.Generator().manual_seed(0)
    draws = torch.randn(20000, generator=g) * 2
    grid = [1.0, 2.0, 4.0, 8.0, 16.0]
    losses = [gaussian_nll(torch.zeros_like(draws), torch.full_like(draws, s), draws).item() for s in grid]
    assert int(np.argmin(losses)) == 2


def test_training_on_nll_learns_the_variance_of_the_data() -> None:
    """Heteroscedastic toy data: the variance head must track the volatility signal in the window."""
    from forecasting.model.training import TrainConfig, WindowDataset, predict, train_model

    rng = np.random.default_rng(0)
    n, t, w = 4, 600, 5
    vol = np.where(rng.random((n, t)) < 0.5, 0.5, 2.0)
    x = np.zeros((n, t, 1), dtype=np.float32)
    x[:, :, 0] = vol
    target = rng.standard_normal((n, t)) * vol
    samples = np.argwhere(np.ones((n, t), dtype=bool))
    samples = samples[samples[:, 1] >= w - 1]
    split = samples[:, 1] < 450
    xt = torch.from_numpy(x)
    tr = WindowDataset(xt, samples[split], target[samples[split, 0], samples[split, 1]], w)
    va = WindowDataset(xt, samples[~split], target[samples[~split, 0], samples[~split, 1]], w)
    res = train_model(
        tr,
        va,
        ModelConfig(n_features=1, hidden=8, layers=1, dropout=0.0),
        TrainConfig(epochs=15, batch_size=128, lr=1e-2, patience=15, device="cpu"),
    )
    _, var, dof = predict(res.model, va, device=torch.device("cpu"))
    assert dof is None
    v = vol[samples[~split, 0], samples[~split, 1]]
    assert np.median(var[v == 2.0]) > 2.0 and np.median(var[v == 0.5]) < 0.6
    assert res.best_epoch >= 1 and len(res.history) >= res.best_epoch


def test_batches_gathered_in_place_draw_what_a_dataloader_draws() -> None:
    """Training gathers batches where the model runs instead of through a DataLoader; each epoch must give the same
    batches and leave the global generator (which drives dropout) where the DataLoader left it, so that a seed
    trains the same weights as before."""
    from forecasting.model.training import WindowDataset, _batches, _loader

    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.standard_normal((3, 120, 2)).astype(np.float32))
    samples = np.argwhere(np.ones((3, 120), dtype=bool))
    samples = samples[samples[:, 1] >= 5]
    ds = WindowDataset(x, samples, rng.standard_normal(len(samples)), 6)
    runs = []
    for source in ("dataloader", "in place"):
        torch.manual_seed(3)
        if source == "dataloader":
            loader = _loader(ds, 50, seed=7, workers=0, pin=False)
            epochs = [list(loader) for _ in range(3)]
        else:
            shuffle = torch.Generator().manual_seed(7)
            epochs = [list(_batches(ds, 50, shuffle)) for _ in range(3)]
        runs.append((epochs, torch.get_rng_state()))
    (a, state_a), (b, state_b) = runs
    assert [len(e) for e in a] == [len(e) for e in b] == [7, 7, 7]
    for epoch_a, epoch_b in zip(a, b, strict=False):
        for (xa, ya), (xb, yb) in zip(epoch_a, epoch_b, strict=False):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(a[0][0][1], a[1][0][1])  # epochs are shuffled afresh
    assert torch.equal(state_a, state_b)
    moved = ds.to(torch.device("meta"))
    assert moved.flat.device.type == "meta" and ds.flat.device.type == "cpu"


def test_studentt_nll_matches_scipy_with_the_variance_parameterisation() -> None:
    y = torch.tensor([0.3, -1.2, 2.0, 0.0, 8.0], dtype=torch.float64)
    m = torch.tensor([0.1, -1.0, 1.0, 0.0, 0.0], dtype=torch.float64)
    v = torch.tensor([0.5, 2.0, 1.5, 1.0, 1.0], dtype=torch.float64)
    d = torch.tensor([2.2, 3.0, 5.0, 5.0, 40.0], dtype=torch.float64)
    scale = np.sqrt(v.numpy() * (d.numpy() - 2) / d.numpy())
    ref = -stats.t.logpdf(y.numpy(), d.numpy(), m.numpy(), scale)
    assert np.isclose(studentt_nll(m, v, d, y).item(), ref.mean(), rtol=1e-12)
    assert np.isclose(studentt_nll(m[3:4], v[3:4], d[3:4], y[3:4]).item(), 0.713207, atol=1e-6)
    # many degrees of freedom: the Gaussian NLL
    big = torch.full_like(d, 1e7)
    assert np.isclose(studentt_nll(m, v, big, y).item(), gaussian_nll(m, v, y).item(), rtol=1e-5)
    # the numpy NLL of the scores agrees
    assert np.allclose(nll(y.numpy(), m.numpy(), v.numpy(), dof=d.numpy()), ref, rtol=1e-12)


def test_studentt_head_keeps_dof_above_two_with_finite_gradients_at_extremes() -> None:
    net = LSTMMLE(ModelConfig(n_features=3, hidden=8, layers=1, dropout=0.0, dist="studentt"))
    assert net.head.out_features == 3
    x = torch.randn(16, 10, 3)
    _, _, dof = net(x)
    assert torch.all((dof > 5.5) & (dof < 8.5))  # starts near 7
    y = torch.randn(16) * 3
    for raw in (-1e4, -50.0, 50.0, 1e4):
        with torch.no_grad():
            net.head.weight[2].zero_()
            net.head.bias[2] = raw
        net.zero_grad()
        mean, var, dof = net(x)
        assert dof.dtype == torch.float32 and torch.all(dof > 2) and torch.all(dof >= DOF_MIN - 1e-6)
        loss = studentt_nll(mean, var, dof, y)
        loss.backward()
        assert torch.isfinite(loss)
        assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
    # under low-precision autocast the heads still come out in float32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mean, var, dof = net(x)
    assert mean.dtype == var.dtype == dof.dtype == torch.float32
    assert torch.isfinite(studentt_nll(mean, var, dof, y))


def test_unknown_distribution_is_refused() -> None:
    with pytest.raises(ConfigError, match="--dist 'laplace'"):
        ModelConfig(dist="laplace")


def test_checkpoints_keep_the_distribution_and_old_ones_load_as_normal(tmp_path: Path) -> None:
    x = torch.randn(4, 10, 3)
    t_net = LSTMMLE(ModelConfig(n_features=3, hidden=8, layers=1, dist="studentt")).eval()
    save_checkpoint(tmp_path / "t.pt", t_net, {"window": 10})
    loaded = load_checkpoint(tmp_path / "t.pt").model
    assert loaded.config.dist == "studentt"
    for a, b in zip(t_net(x), loaded(x), strict=False):
        assert torch.equal(a, b)
    # a checkpoint written before the Student-t: its model_config has no "dist"
    n_net = LSTMMLE(ModelConfig(n_features=3, hidden=8, layers=1)).eval()
    save_checkpoint(tmp_path / "old.pt", n_net, {"window": 10})
    payload = torch.load(tmp_path / "old.pt", weights_only=True)
    config = json.loads(payload["model_config"])
    del config["dist"]
    payload["model_config"] = json.dumps(config)
    torch.save(payload, tmp_path / "old.pt")
    old = load_checkpoint(tmp_path / "old.pt").model
    assert old.config.dist == "normal" and old(x)[2] is None and torch.equal(old(x)[1], n_net(x)[1])
    config["dist"] = "laplace"
    payload["model_config"] = json.dumps(config)
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="distribution"):
        load_checkpoint(tmp_path / "bad.pt")


def _fat_tailed_data(dof: float = 4.0) -> tuple[object, object, np.ndarray]:
    """Heteroscedastic t(dof) targets with unit-variance shocks; the volatility is the feature."""
    from forecasting.model.training import WindowDataset

    rng = np.random.default_rng(0)
    n, t, w = 6, 600, 5
    vol = np.where(rng.random((n, t)) < 0.5, 0.5, 2.0)
    x = torch.from_numpy(vol[:, :, None].astype(np.float32))
    target = rng.standard_t(dof, (n, t)) * np.sqrt((dof - 2) / dof) * vol
    samples = np.argwhere(np.ones((n, t), dtype=bool))
    samples = samples[samples[:, 1] >= w - 1]
    split = samples[:, 1] < 400
    tr = WindowDataset(x, samples[split], target[samples[split, 0], samples[split, 1]], w)
    va = WindowDataset(x, samples[~split], target[samples[~split, 0], samples[~split, 1]], w)
    return tr, va, va.y.double().numpy()


def test_studentt_training_learns_fat_tails_and_beats_the_normal_nll() -> None:
    from forecasting.model.training import TrainConfig, predict, train_model

    tr, va, y = _fat_tailed_data(4.0)
    fits = {}
    for dist in ("normal", "studentt"):
        res = train_model(
            tr,
            va,
            ModelConfig(n_features=1, hidden=8, layers=1, dropout=0.0, dist=dist),
            TrainConfig(epochs=12, batch_size=128, lr=1e-2, patience=12, device="cpu"),
        )
        mean, var, dof = predict(res.model, va, device=torch.device("cpu"))
        fits[dist] = (float(np.mean(nll(y, mean, var, dof=dof))), dof, res)
    t_nll, dof, res = fits["studentt"]
    assert 2.5 < np.median(dof) < 8.0
    assert t_nll < fits["normal"][0] - 0.03
    best = res.history[res.best_epoch - 1]
    assert np.isclose(best["val_loss"], best["val_nll"]) and np.isclose(best["val_nll"], t_nll, rtol=1e-6)


def test_mse_loss_with_a_studentt_model_is_refused() -> None:
    from forecasting.model.training import TrainConfig, train_model

    tr, va, _ = _fat_tailed_data()
    with pytest.raises(ConfigError, match="--loss nll or --dist normal"):
        train_model(tr, va, ModelConfig(n_features=1, hidden=8, layers=1, dist="studentt"), TrainConfig(loss="mse"))
