"""``npr_resnet50``: the shallow ResNet the NPR paper (CVPR'24) puts on its residual.

Registered as a timm model, so ``arch: npr_resnet50`` works wherever a timm
name does (``cnn`` detector, ``input_filter: npr``). As in the paper:

* the stem is ONE 3x3 convolution (stride 2, padding 1) instead of ResNet's
  7x7: every output sees overlapping 3x3 windows, so the 2x2 cell structure
  of an up-sampling trace reaches the first features intact; then BN, ReLU
  and the usual 3x3 / stride-2 max-pool;
* only the first two stages (3 and 4 bottleneck blocks, 64 and 128
  channels): 512 pooled features; the deeper stages add semantics, which
  NPR does not want;
* trained from scratch (there are no pretrained weights for this shape).

The residual scaling (x 2/3) lives in :class:`~fakescope.models.npr.NPRNet`.
"""

from __future__ import annotations

from typing import Any, cast

from timm.models import register_model
from timm.models.resnet import Bottleneck, ResNet
from torch import nn

#: Blocks of the two stages kept (ResNet-50's first two).
LAYERS = (3, 4)
#: Pooled feature width: 128 channels x bottleneck expansion 4.
FEATURES = 512


class NPRResNet(ResNet):
    """timm's ResNet cut to two stages with a 3x3 stem (see the module docstring).

    ``forward_features`` takes [B, 3, H, W] and returns [B, 512, H/8, W/8].
    """

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, **kwargs: Any) -> None:
        for key in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):
            kwargs.pop(key, None)  # factory arguments timm passes to every model function
        super().__init__(
            block=cast(Any, Bottleneck),
            layers=(*LAYERS, 1, 1),
            num_classes=num_classes,
            in_chans=in_chans,
            **kwargs,
        )
        stem = nn.Conv2d(in_chans, 64, kernel_size=3, stride=2, padding=1, bias=False)
        nn.init.kaiming_normal_(stem.weight, mode="fan_out", nonlinearity="relu")
        self.conv1 = cast(Any, stem)
        self.layer3 = nn.Identity()
        self.layer4 = nn.Identity()
        self.num_features = self.head_hidden_size = FEATURES
        self.feature_info = self.feature_info[:3]
        self.reset_classifier(num_classes)


@register_model
def npr_resnet50(pretrained: bool = False, **kwargs: Any) -> NPRResNet:
    """The NPR paper's network (no pretrained weights exist: ``pretrained`` must be False)."""
    if pretrained:
        raise ValueError("npr_resnet50 has no pretrained weights; use pretrained: false")
    return NPRResNet(**kwargs)
