"""Speed of the real-decoder autoencoders (``fakescope perf decoders``).

What an aligned build costs is set by these networks: each fake is one
encode + decode of a real photo. This benchmark times
:meth:`~fakescope.models.tae.TinyAutoencoder.forward` (encode, soft clamp,
decode) on ``batch`` random images [batch, 3, size, size] in [0, 1] under
``torch.inference_mode``, per decoder, and reports images per second as the
median over ``repeats`` timed batches (after one untimed warm-up batch).
Random pixels cost exactly what photos cost: the networks have no
data-dependent branches.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fakescope.models.tae import TAE_SPECS, load_tae


@dataclass(frozen=True)
class DecoderTiming:
    """One decoder's median images/s (encode + decode) at ``size`` px with ``threads`` threads."""

    decoder: str
    size: int
    batch: int
    threads: int
    images_per_s: float

    def row(self) -> dict[str, Any]:
        """The timing as a flat dict (for tables)."""
        return {
            "decoder": self.decoder,
            "size": self.size,
            "batch": self.batch,
            "threads": self.threads,
            "images/s": round(self.images_per_s, 2),
        }


def time_decoders(
    decoders: Sequence[str] = tuple(TAE_SPECS),
    *,
    weights: str | Path | None = None,
    size: int = 256,
    batch: int = 8,
    repeats: int = 3,
    threads: int | None = None,
) -> list[DecoderTiming]:
    """Median images/s of encode + decode for each of ``decoders`` (see the module docstring).

    ``weights``: folder or .zip of the safetensors files (else ``$FAKESCOPE_WEIGHTS``);
    ``threads``: torch intra-op threads for the run (None = leave torch's setting).
    """
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        x = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0))
        out = []
        for name in decoders:
            model = load_tae(name, weights)
            with torch.inference_mode():
                model(x)  # warm-up
                seconds = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    model(x)
                    seconds.append(time.perf_counter() - start)
            out.append(
                DecoderTiming(
                    name, size, batch, torch.get_num_threads(), batch / statistics.median(seconds)
                )
            )
        return out
    finally:
        torch.set_num_threads(previous)
