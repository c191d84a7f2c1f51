"""``GeneralNet.outputs``: the one inference path (torch backend and ONNX export)."""

from __future__ import annotations

import torch

from fakescope.models.general_net import GeneralNet
from fakescope.models.intermediate import IntermediateTaps, create_frozen_timm


def test_outputs_are_the_head_of_the_fused_embedding() -> None:
    torch.manual_seed(0)
    taps = IntermediateTaps(create_frozen_timm("test_efficientnet", pretrained=False), [0, 2])
    net = GeneralNet(taps, 3, tap_dim=8, npr_channels=4, hidden=8).eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        logits, emb = net.outputs(x)
        assert logits.shape == (4, 3) and emb.shape == (4, 16) == (4, net.embedding_dim)
        assert logits.dtype == emb.dtype == torch.float32
        torch.testing.assert_close(emb, net.embed(x))
        torch.testing.assert_close(logits, net(x))
        # the second half of the embedding is the NPR branch: it depends on that branch
        assert net.npr is not None
        proj = net.npr.proj[0]
        assert isinstance(proj, torch.nn.Linear)
        proj.weight.add_(1.0)
        _, moved = net.outputs(x)
    torch.testing.assert_close(moved[:, :8], emb[:, :8])
    assert (moved[:, 8:] - emb[:, 8:]).abs().max() > 1e-2
