"""The LSTM-MLE network: an LSTM over a window of features with a mean head and a positive variance head."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["LSTMMLE", "ModelConfig", "gaussian_nll"]


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the network; everything a checkpoint needs to rebuild it."""

    n_features: int = 6
    hidden: int = 64
    layers: int = 2
    dropout: float = 0.2
    var_floor: float = 1e-4

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


class LSTMMLE(nn.Module):
    """Stacked LSTM; the last hidden state feeds a mean head and a softplus variance head with a floor.

    Inputs are (batch, window, features); outputs are the mean and the variance of the (scaled) target.

    Examples
    --------
    >>> net = LSTMMLE(ModelConfig(n_features=6, hidden=8))
    >>> mean, var = net(torch.zeros(5, 30, 6))
    >>> mean.shape, var.shape, bool((var > 0).all())
    (torch.Size([5]), torch.Size([5]), True)
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.lstm = nn.LSTM(
            input_size=config.n_features,
            hidden_size=config.hidden,
            num_layers=config.layers,
            dropout=config.dropout if config.layers > 1 else 0.0,
            batch_first=True,
        )
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, _ = self.lstm(x)
        h = self.drop(out[:, -1])
        raw = self.head(h).float()
        mean = raw[:, 0]
        var = F.softplus(raw[:, 1]) + self.config.var_floor
        return mean, var


def gaussian_nll(mean: torch.Tensor, var: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean Gaussian negative log-likelihood, constant included: 0.5 (log 2 pi + log var + (y - mean)^2 / var).

    Examples
    --------
    >>> round(gaussian_nll(torch.tensor([0.0]), torch.tensor([1.0]), torch.tensor([0.0])).item(), 4)
    0.9189
    """
    return F.gaussian_nll_loss(mean, target, var, full=True, eps=1e-12, reduction="mean")
