"""The LSTM-MLE network: an LSTM over a window of features with a mean head, a positive variance head and,
for a Student-t forecast, a degrees-of-freedom head."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from forecasting.errors import ConfigError

__all__ = ["DISTRIBUTIONS", "DOF_MIN", "LSTMMLE", "ModelConfig", "gaussian_nll", "studentt_nll"]

DISTRIBUTIONS = ("normal", "studentt")
DOF_MIN = 2.01  # dof = DOF_MIN + softplus(raw) > 2: the variance of the t exists
_DOF_INIT_BIAS = 5.0  # softplus(5) = 5.007: the degrees of freedom start near 7


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the network; everything a checkpoint needs to rebuild it.

    ``dist`` is the predictive distribution: ``"normal"`` (mean and variance) or ``"studentt"`` (mean, variance
    and degrees of freedom, one each per forecast).
    """

    n_features: int = 6
    hidden: int = 64
    layers: int = 2
    dropout: float = 0.2
    var_floor: float = 1e-4
    dist: str = "normal"

    def __post_init__(self) -> None:
        if self.dist not in DISTRIBUTIONS:
            raise ConfigError(f"--dist {self.dist!r} is not a distribution; use normal or studentt")

    def to_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


class LSTMMLE(nn.Module):
    """Stacked LSTM; the last hidden state feeds a mean head, a softplus variance head with a floor and, with
    ``dist="studentt"``, a degrees-of-freedom head ``dof = 2.01 + softplus(raw)``.

    Inputs are (batch, window, features); outputs are the mean, the variance of the (scaled) target and its
    degrees of freedom (None for a normal forecast). The t is parameterised by its variance: its scale is
    ``sqrt(var (dof - 2) / dof)``.

    Examples
    --------
    >>> net = LSTMMLE(ModelConfig(n_features=6, hidden=8))
    >>> mean, var, dof = net(torch.zeros(5, 30, 6))
    >>> mean.shape, var.shape, bool((var > 0).all()), dof is None
    (torch.Size([5]), torch.Size([5]), True, True)
    >>> _, _, dof = LSTMMLE(ModelConfig(n_features=6, hidden=8, dist="studentt"))(torch.zeros(5, 30, 6))
    >>> bool((dof > 2).all())
    True
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
        studentt = config.dist == "studentt"
        self.head = nn.Linear(config.hidden, 3 if studentt else 2)
        if studentt:
            with torch.no_grad():
                self.head.bias[2] = _DOF_INIT_BIAS

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        out, _ = self.lstm(x)
        h = self.drop(out[:, -1])
        raw = self.head(h).float()  # the heads and the loss in float32, also under float16 autocast
        mean = raw[:, 0]
        var = F.softplus(raw[:, 1]) + self.config.var_floor
        dof = F.softplus(raw[:, 2]) + DOF_MIN if self.config.dist == "studentt" else None
        return mean, var, dof


def gaussian_nll(mean: torch.Tensor, var: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean Gaussian negative log-likelihood, constant included: 0.5 (log 2 pi + log var + (y - mean)^2 / var).

    Examples
    --------
    >>> round(gaussian_nll(torch.tensor([0.0]), torch.tensor([1.0]), torch.tensor([0.0])).item(), 4)
    0.9189
    """
    return F.gaussian_nll_loss(mean, target, var, full=True, eps=1e-12, reduction="mean")


def studentt_nll(mean: torch.Tensor, var: torch.Tensor, dof: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean Student-t negative log-likelihood, constants included, with the t parameterised by its variance.

    With ``nu = dof``, ``scale^2 = var (nu - 2) / nu`` and ``r = (y - mean)^2 / ((nu - 2) var)``, each term is
    ``lgamma(nu / 2) - lgamma((nu + 1) / 2) + 0.5 log(pi (nu - 2) var) + (nu + 1) / 2 log(1 + r)``.
    Pass float32 tensors (the network's outputs are): in float16 the log-gamma terms lose their digits.

    Examples
    --------
    >>> zero, one = torch.tensor([0.0]), torch.tensor([1.0])
    >>> round(studentt_nll(zero, one, torch.tensor([5.0]), zero).item(), 4)
    0.7132
    """
    nu = dof
    r = (target - mean) ** 2 / ((nu - 2) * var)
    nll = (
        torch.lgamma(nu / 2)
        - torch.lgamma((nu + 1) / 2)
        + 0.5 * torch.log(math.pi * (nu - 2) * var)
        + (nu + 1) / 2 * torch.log1p(r)
    )
    return nll.mean()
