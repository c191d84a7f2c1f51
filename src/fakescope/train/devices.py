"""Device strings: fakescope's ("cpu", "cuda", "cuda:1", "mps", "auto") to Lightning's and torch's.

Kept apart from :mod:`fakescope.train.fit` so inference code can resolve a
device without importing Lightning.
"""

from __future__ import annotations

from typing import Any

import torch

from fakescope.errors import ConfigError


def accelerator_for(device: str) -> tuple[str, Any]:
    """``(accelerator, devices)`` for ``lightning.Trainer`` from a fakescope device string."""
    kind, _, index = device.partition(":")
    if kind not in ("cpu", "cuda", "gpu", "mps", "auto"):
        raise ConfigError(f"unknown device {device!r}; use cpu, cuda, cuda:N, mps or auto")
    if index:
        if not index.isdigit() or kind not in ("cuda", "gpu"):
            raise ConfigError(f"bad device {device!r}; use cuda:N with a GPU number N")
        return "cuda", [int(index)]
    return kind, 1


def torch_device(device: str) -> torch.device:
    """The torch device for inference; "auto" picks cuda, then mps, then cpu."""
    accelerator_for(device)
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device.replace("gpu", "cuda", 1))
