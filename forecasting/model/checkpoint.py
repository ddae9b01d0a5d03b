"""Model checkpoints: weights as tensors, everything else as JSON text; loaded with ``weights_only=True``.

Nothing in a checkpoint is unpickled as an arbitrary object, so a checkpoint from a stranger cannot run code.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from forecasting.atomic import atomic_path
from forecasting.errors import CheckpointError, ConfigError
from forecasting.model.network import LSTMMLE, ModelConfig

__all__ = ["FORMAT_VERSION", "Checkpoint", "load_checkpoint", "save_checkpoint"]

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Checkpoint:
    """A loaded network and the facts it was trained with (window, features, scaler, split dates, ...);
    ``members`` are the other networks of an ensemble (empty for one network)."""

    model: LSTMMLE
    meta: dict[str, Any]
    members: tuple[LSTMMLE, ...] = ()

    @property
    def models(self) -> list[LSTMMLE]:
        """Every network: ``model`` first, then the ``members``."""
        return [self.model, *self.members]


def save_checkpoint(path: str | os.PathLike[str], model: LSTMMLE | list[LSTMMLE], meta: dict[str, Any]) -> None:
    """Write the weights (of one network, or of an ensemble's, which share one shape) and ``meta``
    (JSON-serialisable) atomically."""
    models = model if isinstance(model, list) else [model]

    def weights(m: LSTMMLE) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu() for k, v in m.state_dict().items()}

    payload: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "model_config": json.dumps(models[0].config.to_dict()),
        "meta": json.dumps(meta),
        "state_dict": weights(models[0]),
    }
    if len(models) > 1:
        payload["members"] = [weights(m) for m in models[1:]]
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Load a checkpoint written by :func:`save_checkpoint`; refuse anything else with a clear message."""
    p = Path(path)
    if p.is_dir():
        p = p / "model.pt"
    if not p.exists():
        raise CheckpointError(f"{p}: no checkpoint there; pass the model.pt that qtrade forecast wrote")
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises pickle, zip and runtime errors here
        raise CheckpointError(
            f"{p}: not a qtrade checkpoint or not loadable safely ({type(exc).__name__}); retrain with qtrade forecast"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
        raise CheckpointError(
            f"{p}: checkpoint format {payload.get('format') if isinstance(payload, dict) else '?'} is not "
            f"{FORMAT_VERSION}; retrain with this version of qtrade"
        )
    try:
        config = ModelConfig(**json.loads(payload["model_config"]))  # no "dist" (before Student-t): normal
        meta = json.loads(payload["meta"])
        model = LSTMMLE(config)
        model.load_state_dict(payload["state_dict"])
        members = []
        for state in payload.get("members", []):
            members.append(LSTMMLE(config))
            members[-1].load_state_dict(state)
            members[-1].eval()
    except ConfigError:
        raise CheckpointError(
            f"{p}: a predictive distribution this qtrade does not know (it knows normal and "
            "studentt); retrain with qtrade forecast"
        ) from None
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{p}: damaged checkpoint ({type(exc).__name__}); retrain with qtrade forecast") from None
    model.eval()
    return Checkpoint(model=model, meta=meta, members=tuple(members))
