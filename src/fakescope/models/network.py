"""Build the ``cnn`` detector's network: a timm model with K outputs, optionally NPR-filtered.

``num_outputs`` K sets the timm classifier: C logits (``ce``), 1 logit (``bce``),
an ``embed_dim``-wide Linear projection of the pooled features (embedding
losses with ``embed_dim``), or 0 = no classifier, the pooled features
themselves (embedding losses without ``embed_dim``). The start point is a
local ``weights`` file, timm's pretrained weights, or random init.
``input_filter="npr"`` wraps the model in :class:`~fakescope.models.npr.NPRNet`.
"""

from __future__ import annotations

import functools
from typing import Any, Literal, cast

import torch
from torch import nn

from fakescope.errors import ConfigError
from fakescope.models import effnet_lite0
from fakescope.models.effnet_lite0 import efficientnet_lite0_classifier
from fakescope.models.npr import NPRNet
from fakescope.models.timm_backbone import create_timm_model
from fakescope.models.weights import read_weights_file

InputFilter = Literal["none", "npr"]


def create_network(
    arch: str,
    num_outputs: int,
    *,
    pretrained: bool = False,
    weights: str | None = None,
    allow_pickle: bool = False,
    input_filter: InputFilter = "none",
) -> nn.Module:
    """timm ``arch`` mapping images [B, 3, H, W] to [B, K] (K = ``num_outputs``, or the
    pooled feature width when 0), from ``weights``, pretrained or random init, then filtered.

    ``weights``: a ``.safetensors`` timm state dict; a torch pickle only with ``allow_pickle``
    (read with ``torch.load(weights_only=True)``).
    """
    model = _create_timm(
        arch, num_outputs, pretrained=pretrained, weights=weights, allow_pickle=allow_pickle
    )
    return NPRNet(model) if input_filter == "npr" else model


def feature_width(model: nn.Module) -> int:
    """Width of the pooled pre-logits features (timm ``head_hidden_size``, else ``num_features``)."""
    m = cast(Any, model)
    return int(getattr(m, "head_hidden_size", 0) or m.num_features)


@functools.lru_cache(maxsize=32)
def arch_feature_width(arch: str) -> int:
    """:func:`feature_width` of timm ``arch``, built on the meta device (no memory, no download;
    on the CPU for the rare model whose constructor needs real tensors; cached per arch)."""
    try:
        with torch.device("meta"):
            return feature_width(create_timm_model(arch, pretrained=False, num_classes=0))
    except (RuntimeError, NotImplementedError):
        return feature_width(create_timm_model(arch, pretrained=False, num_classes=0))


def pooled_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Pooled pre-logits features [B, D] of images ``x`` [B, 3, H, W] (timm or NPRNet)."""
    m = cast(Any, model)
    out: torch.Tensor = m.forward_head(m.forward_features(x), pre_logits=True)
    return out.flatten(1)


def _create_timm(
    arch: str, num_outputs: int, *, pretrained: bool, weights: str | None, allow_pickle: bool
) -> nn.Module:
    if weights is not None:
        model = create_timm_model(arch, pretrained=False, num_classes=num_outputs)
        load_start_weights(model, read_weights_file(weights, allow_pickle=allow_pickle), weights)
        return model
    if pretrained and arch == effnet_lite0.TIMM_ARCH:
        model = efficientnet_lite0_classifier(pretrained=True)  # packaged: works offline
        cast(Any, model).reset_classifier(num_outputs)
        return model.train()
    # an unreachable hub raises HubUnavailableError naming the weights / pretrained options
    return create_timm_model(arch, pretrained=pretrained, num_classes=num_outputs)


def load_start_weights(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load a timm state dict as the start point; the classifier is kept only if its shape fits.

    Every non-classifier tensor must be present with the right shape (else a one-line error).
    """
    own = model.state_dict()
    cfg = getattr(model, "pretrained_cfg", None) or {}
    heads = cfg.get("classifier") or ()
    heads = tuple(f"{h}." for h in ((heads,) if isinstance(heads, str) else heads))
    fits = {k: v for k, v in state.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}
    bad = [k for k in own if k not in fits and not (heads and k.startswith(heads))]
    if bad:
        raise ConfigError(
            f"weights {source} do not fit timm {type(model).__name__}: {len(bad)} tensor(s) missing or "
            f"of another shape (e.g. {bad[0]!r}); pass weights of the same arch"
        )
    model.load_state_dict(fits, strict=False)
