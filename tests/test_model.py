from __future__ import annotations

import math

import numpy as np
import torch

from forecasting.model import LSTMMLE, ModelConfig, gaussian_nll


def test_shapes_and_positive_floored_variance() -> None:
    cfg = ModelConfig(n_features=6, hidden=16, layers=2, dropout=0.1, var_floor=1e-3)
    net = LSTMMLE(cfg)
    with torch.no_grad():
        net.head.bias[1] = -50.0  # drive softplus to ~0: the floor must hold
    mean, var = net(torch.randn(7, 20, 6))
    assert mean.shape == (7,) and var.shape == (7,)
    assert torch.all(var >= 1e-3) and torch.all(var < 1.1e-3)


def test_nll_matches_the_gaussian_formula_and_is_minimised_at_the_truth() -> None:
    y = torch.tensor([0.3, -1.2, 2.0])
    m = torch.tensor([0.1, -1.0, 1.0])
    v = torch.tensor([0.5, 2.0, 1.5])
    hand = np.mean([0.5 * (math.log(2 * math.pi * vi) + (yi - mi) ** 2 / vi) for yi, mi, vi in zip(y, m, v)])
    assert np.isclose(gaussian_nll(m, v, y).item(), hand, rtol=1e-6)
    # for data drawn from N(0, 4), the NLL over a grid of variances is smallest near 4
    g = torch.Generator().manual_seed(0)
    draws = torch.randn(20000, generator=g) * 2
    grid = [1.0, 2.0, 4.0, 8.0, 16.0]
    losses = [gaussian_nll(torch.zeros_like(draws), torch.full_like(draws, s), draws).item() for s in grid]
    assert int(np.argmin(losses)) == 2


def test_training_on_nll_learns_the_variance_of_the_data() -> None:
    """Heteroscedastic toy data: the variance head must track the volatility signal in the window."""
    from forecasting.training import TrainConfig, WindowDataset, predict, train_model

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
    res = train_model(tr, va, ModelConfig(n_features=1, hidden=8, layers=1, dropout=0.0),
                      TrainConfig(epochs=15, batch_size=128, lr=1e-2, patience=15, device="cpu"))
    _, var = predict(res.model, va, device=torch.device("cpu"))
    v = vol[samples[~split, 0], samples[~split, 1]]
    assert np.median(var[v == 2.0]) > 2.0 and np.median(var[v == 0.5]) < 0.6
    assert res.best_epoch >= 1 and len(res.history) >= res.best_epoch



def test_batches_gathered_in_place_draw_what_a_dataloader_draws() -> None:
    """Training gathers batches where the model runs instead of through a DataLoader; each epoch must give the same
    batches and leave the global generator (which drives dropout) where the DataLoader left it, so that a seed
    trains the same weights as before."""
    from forecasting.training import WindowDataset, _batches, _loader

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
    for epoch_a, epoch_b in zip(a, b):
        for (xa, ya), (xb, yb) in zip(epoch_a, epoch_b):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(a[0][0][1], a[1][0][1])  # epochs are shuffled afresh
    assert torch.equal(state_a, state_b)
    moved = ds.to(torch.device("meta"))
    assert moved.flat.device.type == "meta" and ds.flat.device.type == "cpu"
