"""Frozen multi-block taps: without the final map, blocks after the last tap are skipped.

timm's random ``test_efficientnet`` at 32 px: the outputs are compared with
a full ``forward_intermediates`` pass, and forward hooks count which blocks ran.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fakescope.models.intermediate import IntermediateTaps, create_frozen_timm, pool_map


def _ran(model: Any, taps: IntermediateTaps, x: torch.Tensor) -> list[str]:
    """Names of the model's blocks and head conv that ran during ``taps(x)``."""
    seen: list[str] = []
    watched = {f"blocks.{i}": b for i, b in enumerate(model.blocks)}
    watched["conv_head"] = model.conv_head
    handles = [
        m.register_forward_hook(lambda *_, n=name: seen.append(n)) for name, m in watched.items()
    ]
    try:
        taps(x)
    finally:
        for h in handles:
            h.remove()
    return seen


def test_taps_without_final_skip_the_later_blocks_and_keep_the_values() -> None:
    torch.manual_seed(0)
    model: Any = create_frozen_timm("test_efficientnet", pretrained=False)
    x = torch.randn(2, 3, 32, 32)
    early = IntermediateTaps(model, [0, 1], final=False, pool="meanstd")
    full = IntermediateTaps(model, [0, 1], final=True, pool="meanstd")
    # index 0 is the stem, 1 the first block: nothing after blocks.0 may run
    assert _ran(model, early, x) == ["blocks.0"]
    assert _ran(model, full, x)[-1] == "conv_head" and len(_ran(model, full, x)) > 2
    with torch.no_grad():
        _, maps = model.forward_intermediates(
            x, indices=[0, 1], intermediates_only=False, extra_blocks=True
        )
    got = early(x)
    assert len(got) == 2 == len(early.widths)
    for t, m in zip(got, maps, strict=True):
        np.testing.assert_array_equal(t.numpy(), pool_map(m, "meanstd").numpy())
    for a, b in zip(got, full(x)[:2], strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
