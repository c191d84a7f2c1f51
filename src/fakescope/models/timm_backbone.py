"""``timm:<arch>``: any timm architecture as a backbone (``num_classes=0``: pooled embedding).

Pretrained weights come from timm's hub (Hugging Face). When the hub cannot be
reached (:mod:`fakescope.models.hub`) only weights already in the local cache are
used, and a missing file fails at once: pass a weights file instead
(``weights=PATH``; on the command line ``--set detector.params.weights=PATH``)
or ``pretrained=False``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import timm
import torch
from timm.data import resolve_data_config
from torch import nn

from fakescope.data.transforms import IMAGENET_MEAN, IMAGENET_STD, InputConfig
from fakescope.errors import FakescopeError
from fakescope.models import npr_resnet  # noqa: F401 - registers npr_resnet50 with timm
from fakescope.models.backbone import Backbone, register_backbone, rgb_triple, split_arg
from fakescope.models.hub import (
    NO_PRETRAINED_OPTION,
    WEIGHTS_OPTION,
    HubUnavailableError,
    hub_cache_only,
    hub_offline_reason,
    offline_message,
)
from fakescope.models.weights import StateDict


class TimmBackbone(Backbone):
    """A timm model built with ``num_classes=0``: ``model(x)`` [B, 3, H, W] -> pre-logits [B, D].

    Weights files use timm's own names; a file that also holds a classifier head
    (a timm checkpoint with ``num_classes=1000``) loads with the head dropped.
    """

    def __init__(
        self, name: str, model: nn.Module, input_config: InputConfig | None = None
    ) -> None:
        dim = int(getattr(model, "head_hidden_size", 0) or getattr(model, "num_features", 0))
        super().__init__(
            name, model, feature_dim=dim, input_config=input_config or timm_input_config(model)
        )

    def adapt_state_dict(self, state: Mapping[str, torch.Tensor]) -> StateDict:
        """Drop classifier-head tensors the headless model does not have."""
        own = self.model.state_dict()
        heads = _classifier_names(self.model)
        return {k: v for k, v in state.items() if k in own or not k.startswith(heads)}


def _classifier_names(model: nn.Module) -> tuple[str, ...]:
    cfg = getattr(model, "pretrained_cfg", None) or {}
    names = cfg.get("classifier") or ()
    names = (names,) if isinstance(names, str) else tuple(names)
    return tuple(f"{n}." for n in names)


def timm_input_config(model: nn.Module) -> InputConfig:
    """Input size, mean and std from the model's pretrained config (timm's ``resolve_data_config``).

    timm resizes to ``size / crop_pct`` before the centre crop; fakescope resizes the
    shorter side to ``size`` and centre-crops (keeps the whole image), so crop_pct is not used.
    """
    cfg = resolve_data_config({}, model=model)
    size = int(cfg["input_size"][-1])
    return InputConfig(
        size=size, mean=rgb_triple(cfg["mean"]), std=rgb_triple(cfg["std"]), resize="resize"
    )


def pretrained_mean_std(
    arch: str,
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """(mean, std) of ``arch``'s pretrained config in timm (ImageNet's when it has none).

    Read from timm's registry without building the model or touching the hub, so
    e.g. ``legacy_xception`` gets (0.5, 0.5, 0.5) and CLIP ViTs get CLIP's statistics.
    """
    try:
        cfg = timm.models.get_pretrained_cfg(arch)
    except Exception:  # unknown or unregistered name: the create step reports it
        cfg = None
    if cfg is None or not getattr(cfg, "mean", None) or not getattr(cfg, "std", None):
        return IMAGENET_MEAN, IMAGENET_STD
    return rgb_triple(cfg.mean), rgb_triple(cfg.std)


def create_timm_model(
    arch: str, *, pretrained: bool, num_classes: int = 0, **kwargs: Any
) -> nn.Module:
    """``timm.create_model`` with one-line errors for unknown archs, bad options and offline hubs.

    With ``pretrained`` and an unreachable hub (:func:`~fakescope.models.hub.hub_offline_reason`)
    only the local hub cache is tried; a miss raises :class:`HubUnavailableError` at once.
    """
    if not timm.is_model(arch):
        base = arch.split(".")[0]
        close = timm.list_models(f"*{base}*")[:5]
        hint = f"similar: {', '.join(close)}" if close else "see timm.list_models()"
        raise FakescopeError(f"timm has no architecture {arch!r} ({hint})")
    offline = hub_offline_reason() if pretrained else None
    try:
        if offline is None:
            model: nn.Module = timm.create_model(
                arch, pretrained=pretrained, num_classes=num_classes, **kwargs
            )
        else:
            with hub_cache_only():
                model = timm.create_model(
                    arch, pretrained=pretrained, num_classes=num_classes, **kwargs
                )
    except TypeError as exc:
        raise FakescopeError(f"timm:{arch} rejected the options {sorted(kwargs)}: {exc}") from None
    except (OSError, RuntimeError, ValueError) as exc:
        if not pretrained:
            raise
        if offline is not None:
            raise HubUnavailableError(offline_message(f"timm:{arch}", offline)) from None
        raise HubUnavailableError(
            f"the pretrained weights of timm:{arch} cannot be downloaded here ({type(exc).__name__}); "
            f"pass a local .safetensors file with {WEIGHTS_OPTION} (weights=PATH in Python) "
            f"or use {NO_PRETRAINED_OPTION}"
        ) from None
    return model


@register_backbone("timm", usage="timm:<arch>")
def create_timm_backbone(arg: str | None, *, pretrained: bool, **kwargs: Any) -> Backbone:
    """``timm:<arch>`` (e.g. ``timm:resnet18``, ``timm:vit_base_patch16_224.augreg_in21k``).

    ``kwargs`` go to ``timm.create_model`` (e.g. ``drop_rate``, ``img_size``).
    """
    arch = split_arg("timm", arg, required=True)
    model = create_timm_model(arch, pretrained=pretrained, num_classes=0, **kwargs)
    return TimmBackbone(f"timm:{arch}", model)
