"""Training the LSTM-MLE network: batches gathered from window views, Adam, clipping, early stopping.

Batches are gathered where the model runs: on a CUDA device the feature array, the window starts and the
targets are copied to the device once (the Tokyo market's features are about 60 MB), and each batch is one
indexing kernel there, with no per-step copy from the host. ``TrainConfig.workers`` > 0 uses a DataLoader with
worker processes instead (CPU only). Both draw the same shuffling order from the seeded generator.

The run owns its randomness: model initialisation, dropout and the shuffling order are drawn from generators
seeded by ``TrainConfig.seed`` inside :func:`torch.random.fork_rng`, so the caller's global RNG is untouched
and the same seed and data give identical weights on the CPU.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Literal, NamedTuple

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler

from forecasting.errors import ConfigError
from forecasting.model.distributions import Predictive
from forecasting.model.network import LSTMMLE, ModelConfig, gaussian_nll, studentt_nll

__all__ = [
    "Prediction",
    "TrainConfig",
    "TrainResult",
    "WindowDataset",
    "amp_dtype",
    "predict",
    "resolve_device",
    "train_model",
]


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of one training run."""

    epochs: int = 30
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    clip: float = 1.0
    patience: int = 5
    loss: Literal["nll", "mse"] = "nll"
    seed: int = 0
    device: str = "auto"
    workers: int = 0
    amp: bool = False  # half-precision autocast on CUDA (bfloat16 where the GPU has it); never on the CPU

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class TrainResult:
    """The trained network (best epoch restored) and its convergence history."""

    model: LSTMMLE
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    residual_var: float | None = None
    device: str = "cpu"
    seconds: float = 0.0  # in training steps, validation left out
    windows_per_second: float = 0.0


class WindowDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Windows gathered on demand from a (tickers, dates, features) tensor; indexed by a list of samples.

    ``samples`` holds (ticker, end date) pairs; ``dataset[[i, j, ...]]`` returns one batch
    ``(x: (b, window, features), y: (b,))``, copying only that batch.
    """

    def __init__(self, x: torch.Tensor, samples: np.ndarray, targets: np.ndarray | None, window: int) -> None:
        n, t, f = x.shape
        self.flat = torch.nan_to_num(x).reshape(n * t, f)
        starts = samples[:, 0] * t + samples[:, 1] - window + 1
        self.starts = torch.as_tensor(starts, dtype=torch.int64)
        self.offsets = torch.arange(window, dtype=torch.int64)
        y = np.zeros(len(samples), dtype=np.float32) if targets is None else targets.astype(np.float32)
        self.y = torch.as_tensor(y)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, idx: list[int] | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        i = torch.as_tensor(idx, dtype=torch.int64, device=self.starts.device)
        rows = self.starts[i, None] + self.offsets[None, :]
        return self.flat[rows], self.y[i]

    def to(self, device: torch.device) -> WindowDataset:
        """The same dataset with its tensors on ``device`` (itself when they are there already)."""
        if self.flat.device == device:
            return self
        moved = copy.copy(self)
        for name in ("flat", "starts", "offsets", "y"):
            setattr(moved, name, getattr(self, name).to(device))
        return moved


def amp_dtype(device: torch.device) -> torch.dtype:
    """The half precision of autocast on ``device``: bfloat16 where the GPU has it (Ampere and later), else
    float16 (with loss scaling)."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when there is one, else the CPU; a named device that is absent is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: no CUDA device here; use --device auto or cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"--device {name!r} is not a device; use auto, cpu or cuda") from None


def _loader(ds: WindowDataset, batch_size: int, *, seed: int, workers: int, pin: bool) -> DataLoader:
    base = RandomSampler(ds, generator=torch.Generator().manual_seed(seed))
    return DataLoader(
        ds,
        batch_size=None,
        sampler=BatchSampler(base, batch_size, drop_last=False),
        num_workers=workers,
        pin_memory=pin,
        persistent_workers=workers > 0,
    )


def _batches(
    ds: WindowDataset, batch_size: int, generator: torch.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of shuffled batches gathered where ``ds`` lives; the order is RandomSampler's for the same seed."""
    # Draw what a DataLoader over a RandomSampler draws each epoch: one number from the global generator (which
    # also drives dropout) and two permutations, the second discarded. A seed then gives the same forecasts on
    # either path, and the same as earlier qtrade versions.
    torch.empty((), dtype=torch.int64).random_()
    order = torch.randperm(len(ds), generator=generator).to(ds.starts.device)
    for start in range(0, len(ds), batch_size):
        yield ds[order[start : start + batch_size]]
    torch.randperm(len(ds), generator=generator)


def _batch_source(
    train: WindowDataset, config: TrainConfig, device: torch.device
) -> Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]]:
    """What each epoch iterates: worker processes on the CPU when asked for, else batches gathered on ``device``."""
    if config.workers > 0 and device.type != "cuda":
        loader = _loader(train, config.batch_size, seed=config.seed, workers=config.workers, pin=False)
        return lambda: loader
    on_device, shuffle = train.to(device), torch.Generator().manual_seed(config.seed)
    return lambda: _batches(on_device, config.batch_size, shuffle)


class Prediction(NamedTuple):
    """Forecasts of every sample, in scaled units: ``mean, var, dof = predict(...)``.

    ``dof`` holds the Student-t degrees of freedom of a ``dist="studentt"`` model and is None for a normal one.
    """

    mean: np.ndarray
    var: np.ndarray
    dof: np.ndarray | None


def predict(model: LSTMMLE, ds: WindowDataset, *, device: torch.device, batch_size: int = 4096) -> Prediction:
    """Mean, variance and degrees of freedom (None for a normal model) for every sample of ``ds``, in order,
    with dropout off."""
    model.eval()
    ds = ds.to(device) if device.type == "cuda" else ds
    means, variances, dofs = [], [], []
    with torch.inference_mode():
        for start in range(0, len(ds), batch_size):
            xb, _ = ds[torch.arange(start, min(start + batch_size, len(ds)))]
            m, v, d = model(xb.to(device))
            means.append(m.float().cpu())
            variances.append(v.float().cpu())
            if d is not None:
                dofs.append(d.float().cpu())

    def joined(parts: list[torch.Tensor]) -> np.ndarray:
        return torch.cat(parts).double().numpy() if parts else np.zeros(0)

    studentt = model.config.dist == "studentt"
    return Prediction(joined(means), joined(variances), joined(dofs) if studentt else None)


def train_model(
    train: WindowDataset,
    val: WindowDataset,
    model_config: ModelConfig,
    config: TrainConfig,
    *,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    init: dict[str, torch.Tensor] | None = None,
) -> TrainResult:
    """Train on ``train``, stop early on the validation loss, restore the best epoch.

    With ``loss="nll"`` the training and validation losses are the NLL of the model's distribution (Gaussian, or
    Student-t for ``dist="studentt"``); with ``loss="mse"`` both are the MSE and the variance of every forecast
    is the mean squared validation residual of the best epoch (``residual_var``), a normal forecast.
    ``on_epoch`` receives each epoch's record (for a progress bar). ``init`` is a state dict to start from (a
    warm start from an earlier fold's network) instead of a fresh initialisation.
    """
    if len(train) == 0 or len(val) == 0:
        raise ConfigError("no training or validation windows; use more data, a shorter --window or other splits")
    if config.loss == "mse" and model_config.dist != "normal":
        raise ConfigError(f"--loss mse trains no {model_config.dist} distribution; use --loss nll or --dist normal")
    device = resolve_device(config.device)
    cuda = device.type == "cuda"
    amp = config.amp and cuda
    devices = [device.index or 0] if cuda else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(config.seed)
        model = LSTMMLE(model_config).to(device)
        if init is not None:
            model.load_state_dict(init)
        opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        half = amp_dtype(device)
        # bfloat16 has float32's range, so it needs no loss scaling, whose step waits for the device every batch
        scaler = torch.amp.GradScaler("cuda", enabled=amp and half == torch.float16)
        epoch_batches = _batch_source(train, config, device)
        result = TrainResult(model=model, device=str(device))
        best, best_state, stale = math.inf, copy.deepcopy(model.state_dict()), 0
        seen, train_seconds = 0, 0.0
        for epoch in range(1, config.epochs + 1):
            model.train()
            total, count = torch.zeros((), device=device), 0
            tick = time.perf_counter()
            for xb_host, yb_host in epoch_batches():
                xb = xb_host.to(device, non_blocking=True)
                yb = yb_host.to(device, non_blocking=True)
                with torch.autocast(device.type, dtype=half, enabled=amp):
                    mean, var, dof = model(xb)  # float32: the heads leave autocast
                loss = _loss(mean, var, dof, yb, config.loss)
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if config.clip > 0:
                    scaler.unscale_(opt)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
                scaler.step(opt)
                scaler.update()
                total += loss.detach() * len(yb)  # no host sync per step
                count += len(yb)
            train_loss = total.item() / count  # waits for the device, so the clock below is honest
            if not math.isfinite(train_loss):
                raise ConfigError(
                    f"training diverged: the loss is {train_loss} at epoch {epoch}; lower --lr or raise --batch-size"
                )
            train_seconds += time.perf_counter() - tick
            seen += count
            record = {"epoch": float(epoch), "train_loss": train_loss, **_validate(model, val, device, config)}
            result.history.append(record)
            if on_epoch is not None:
                on_epoch(record)
            if record["val_loss"] < best - 1e-6:
                best, best_state, stale = record["val_loss"], copy.deepcopy(model.state_dict()), 0
                result.best_epoch = epoch
            else:
                stale += 1
                if stale >= config.patience:
                    break
        result.seconds = train_seconds
        result.windows_per_second = seen / train_seconds if train_seconds > 0 else 0.0
        model.load_state_dict(best_state)
        if config.loss == "mse":
            mean = predict(model, val, device=device).mean
            result.residual_var = float(np.mean((val.y.double().numpy() - mean) ** 2))
    return result


def _loss(
    mean: torch.Tensor, var: torch.Tensor, dof: torch.Tensor | None, target: torch.Tensor, loss: str
) -> torch.Tensor:
    """The training loss of one batch, in float32."""
    if loss == "mse":
        return torch.mean((mean - target) ** 2)
    return gaussian_nll(mean, var, target) if dof is None else studentt_nll(mean, var, dof, target)


def _validate(model: LSTMMLE, val: WindowDataset, device: torch.device, config: TrainConfig) -> dict[str, float]:
    mean, var, dof = predict(model, val, device=device)
    y = val.y.double().numpy()
    mse = float(np.mean((y - mean) ** 2))
    if config.loss == "mse":
        var = np.full_like(mean, mse)
    val_nll = float(np.mean(-Predictive.single(mean, var, dof).logpdf(y)))
    return {"val_loss": val_nll if config.loss == "nll" else mse, "val_nll": val_nll, "val_mse": mse}
