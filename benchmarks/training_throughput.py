"""Training throughput: qtrade's training loop against a bare PyTorch loop on the same model and data.

The bare loop is the limit of the hardware: pre-built window tensors, a random permutation, forward,
Gaussian NLL, backward, gradient clipping, Adam. qtrade's loop gathers windows from views through a
DataLoader, as ``qtrade forecast`` does. Rounds are interleaved and medians reported (these machines are
noisy). Run: ``python benchmarks/training_throughput.py [--tickers 20 --days 1500 --rounds 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from forecasting.market.cleaning import clean_panel
from forecasting.market.synthetic import synthetic_panel
from forecasting.model.network import LSTMMLE, ModelConfig, gaussian_nll, studentt_nll
from forecasting.model.training import TrainConfig, WindowDataset, amp_dtype, resolve_device, train_model
from forecasting.preparation.dataset import prepare
from forecasting.preparation.features import build_features
from forecasting.preparation.splits import TRAIN, chronological_split


def bare_loop(x: torch.Tensor, y: torch.Tensor, cfg: ModelConfig, batch: int, device: torch.device, amp: bool) -> float:
    torch.manual_seed(0)
    model = LSTMMLE(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = x.to(device), y.to(device)
    perm = torch.randperm(len(x), device=device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for i in range(0, len(x), batch):
        idx = perm[i : i + batch]
        with torch.autocast(device.type, dtype=amp_dtype(device), enabled=amp):
            mean, var, dof = model(x[idx])
        loss = gaussian_nll(mean, var, y[idx]) if dof is None else studentt_nll(mean, var, dof, y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return len(x) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tickers", type=int, default=20)
    ap.add_argument("--days", type=int, default=1500)
    ap.add_argument("--window", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, nargs="+", default=[256, 4096])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dist", choices=["normal", "studentt"], default="normal")
    ap.add_argument(
        "--amp",
        choices=["auto", "on", "off", "both"],
        default="auto",
        help="half-precision autocast on CUDA (bfloat16 where supported; auto: on); both measures each; "
        "always off on the CPU",
    )
    args = ap.parse_args()

    device = resolve_device(args.device)
    cube = build_features(clean_panel(synthetic_panel(args.tickers, args.days, seed=0)))
    prep = prepare(cube, chronological_split(cube.dates), args.window)
    samples = prep.samples(TRAIN)
    y = (cube.target[samples[:, 0], samples[:, 1]] / prep.scaler.target_scale).astype(np.float32)
    ds = WindowDataset(torch.from_numpy(prep.x), samples, y, args.window)
    val = WindowDataset(torch.from_numpy(prep.x), samples[:64], y[:64], args.window)
    x_built = torch.from_numpy(np.ascontiguousarray(prep.windows(samples)))
    y_built = torch.from_numpy(y)
    cfg = ModelConfig(n_features=6, hidden=64, layers=2, dropout=0.2, dist=args.dist)
    cuda = device.type == "cuda"
    amps = {"auto": [cuda], "on": [True], "off": [False], "both": [True, False]}[args.amp] if cuda else [False]
    name = torch.cuda.get_device_name(device) if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"device {device} ({name}), torch {torch.__version__}, {len(samples)} training windows of "
        f"{args.window} x 6, model hidden 64 x 2 layers, {args.dist} head; autocast in "
        f"{str(amp_dtype(device)).removeprefix('torch.') if cuda else 'none (CPU)'}"
    )
    for amp, batch in ((a, b) for a in amps for b in args.batch):
        bare, ours = [], []
        for _ in range(args.rounds):
            bare.append(bare_loop(x_built, y_built, cfg, batch, device, amp))
            res = train_model(ds, val, cfg, TrainConfig(epochs=1, batch_size=batch, device=str(device), amp=amp))
            ours.append(res.windows_per_second)
        b, o = statistics.median(bare), statistics.median(ours)
        print(
            f"batch {batch:>5}, amp {'on ' if amp else 'off'}: bare loop {b:>10,.0f} windows/s | qtrade loop "
            f"{o:>10,.0f} windows/s | ratio {o / b:.2f} (goal >= 0.9; medians of {args.rounds} interleaved rounds)"
        )
        jpx = 2000 * (int(1250 * 0.7) - args.window)  # training windows of the Tokyo market, 70 % train block
        goal = "   goal on an H100: >= 1,000,000 windows/s" if device.type == "cuda" else ""
        print(
            f"             one epoch over the Tokyo market ({jpx:,} training windows) at this rate: "
            f"{jpx / o:,.0f} s (estimated from the measured rate){goal}"
        )


if __name__ == "__main__":
    main()
