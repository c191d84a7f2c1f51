"""Export of backbones built on ``nn.MultiheadAttention`` (open_clip's ViTs: ``univfd_clip``).

A toy ViT (patch conv + one attention layer) under a logistic-probe export
module: with :func:`traceable_attention` the graph exports and matches torch
in onnxruntime; the same backbone traced bare hits torch's fused attention
kernel, which ONNX cannot express.
"""

from __future__ import annotations

import io
import warnings
from typing import Any, cast

import numpy as np
import pytest
import torch
from torch import nn

from fakescope.detectors.export import LinearProbeExport, traceable_attention

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


class ToyViT(nn.Module):
    """x [B, 3, 32, 32] -> 16 patch tokens -> one self-attention layer -> mean token [B, 16]."""

    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, 16, 8, stride=8)
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch(x).flatten(2).transpose(1, 2)
        out, _ = self.attn(tokens, tokens, tokens, need_weights=False)
        return out.mean(dim=1)


class Bare(nn.Module):
    """The backbone's features, traced without :func:`traceable_attention`."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.backbone.forward_features(x)  # type: ignore[operator]
        return out


def to_onnx(module: nn.Module, x: torch.Tensor) -> bytes:
    """``module`` traced as the exporter does (opset 17, TorchScript, dynamic batch)."""
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (x,),
            cast(Any, buf),  # a file object works; the stub only names paths
            input_names=["input"],
            dynamic_axes={"input": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    return buf.getvalue()


def test_attention_backbone_exports_and_matches_torch() -> None:
    torch.manual_seed(0)
    backbone = ToyViT().eval().requires_grad_(False)
    d = 16
    gen = torch.Generator().manual_seed(1)
    module: Any = LinearProbeExport(
        backbone,
        torch.randn(d, generator=gen) * 0.1,
        torch.rand(d, generator=gen) + 0.5,
        torch.randn(2, d, generator=gen),
        torch.zeros(2),
    ).eval()
    before = torch.backends.mha.get_fastpath_enabled()
    session = ort.InferenceSession(to_onnx(module, torch.randn(3, 3, 32, 32)))
    assert torch.backends.mha.get_fastpath_enabled() == before  # the switch is restored
    x = torch.randn(5, 3, 32, 32)
    with torch.no_grad():
        want = module(x)
    got = session.run(None, {"input": x.numpy()})
    assert want[0][:, 1].std() > 1e-3
    for w, g in zip(want, got, strict=True):
        np.testing.assert_allclose(g, w.numpy(), rtol=1e-4, atol=1e-5)
    with pytest.raises(Exception, match="_native_multi_head_attention"):
        to_onnx(Bare(backbone).eval(), x)


def test_traceable_attention_is_a_no_op_outside_tracing() -> None:
    before = torch.backends.mha.get_fastpath_enabled()
    with traceable_attention():
        assert torch.backends.mha.get_fastpath_enabled() == before
