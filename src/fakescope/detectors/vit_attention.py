"""``vit``: a timm ViT / DeiT classifier (S1) that exposes its CLS attention map.

Training is the ``cnn`` detector's (Lightning, any logit loss: ``ce`` or ``bce``;
:class:`~fakescope.detectors.cnn.CNNDetector` is subclassed, not changed); ``arch``
is any timm VisionTransformer (``deit_tiny_patch16_224``, ``deit_small_patch16_224``,
``deit_base_patch16_224``, ``vit_base_patch16_224``, ...), built through the same timm
path as ``cnn`` (``pretrained`` / ``weights``). ``model_kwargs`` go to
``timm.create_model`` (e.g. a tiny test net: ``{patch_size: 8, depth: 2, embed_dim: 32,
num_heads: 2}``); ``img_size`` is passed to timm too.

**Attention map** (:meth:`ViTDetector.attention_grid` / :meth:`ViTDetector.attention_maps`):
from the input t [B, N, D] of the last block's attention module (captured by a forward
pre-hook, because timm computes attention with the fused ``scaled_dot_product_attention``
and never materialises it), q, k = that module's qkv projection (+ its q/k norms),
A = softmax(q k^T * scale) [B, heads, N, N]; the map is the CLS row over the patch tokens
(prefix tokens - CLS, distillation, registers - dropped), averaged over heads,
**renormalised to sum to 1 over the patches**, reshaped to the patch grid [B, gh, gw], and
bilinearly upsampled (not renormalised) to the input size [B, 1, H, W].

**Autoencoder** (``ae`` = "ae" or "vae", :mod:`fakescope.models.attention_ae`): after the
classifier, trained on the attention maps of the training images, resized (bilinear) to
``ae_size`` and multiplied by the number of patches P (a uniform map = 1 everywhere). For
OOD scoring :meth:`ViTDetector._features_batch` adds ``extras["residual"]`` [B, 1, s, s]
(s = ``ae_size``): (reconstructed map - map)^2, higher = a less familiar attention pattern,
which the abnormality module (:mod:`fakescope.ood.abnormality`) consumes unchanged.
Scores: P(fake) = 1 - P(real), higher = more fake.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn

from fakescope.data.schema import PATH
from fakescope.detectors.base import DETECTORS
from fakescope.detectors.cnn import CNNDetector, CNNParams
from fakescope.errors import ConfigError, FakescopeError, NotFittedError
from fakescope.losses.catalog import LOSSES
from fakescope.models.attention_ae import (
    AttentionAE,
    create_map_autoencoder,
    reconstruction_residual,
    train_map_autoencoder,
)
from fakescope.models.network import feature_width, load_start_weights
from fakescope.models.timm_backbone import create_timm_model
from fakescope.models.weights import read_weights_file

#: Key of the attention-map residuals in ``Features.extras`` (what the abnormality module reads).
RESIDUAL = "residual"
#: Prefix of the autoencoder's tensors in the bundle's ``model.safetensors``.
AE_PREFIX = "attention_ae."


class ViTParams(CNNParams):
    """Settings of the ``vit`` detector: every ``cnn`` setting plus the ones below.

    * ``arch`` (default ``deit_tiny_patch16_224``) must be a timm VisionTransformer;
      ``model_kwargs``: extra ``timm.create_model`` arguments (``img_size`` is set from
      ``img_size``); ``loss`` must be a logit loss (``ce``/``bce``).
    * ``ae``: "ae", "vae" or "none" (no residual); ``ae_size``: side of the maps it sees
      (a multiple of 4); ``ae_latent``/``ae_width``: code size and conv width;
      ``ae_epochs``/``ae_lr``/``ae_batch_size``; ``ae_beta``: weight of the VAE's KL term.
    """

    arch: str = "deit_tiny_patch16_224"
    img_size: int = Field(default=224, ge=8)
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    ae: Literal["ae", "vae", "none"] = "ae"
    ae_size: int = Field(default=32, ge=4)
    ae_latent: int = Field(default=16, ge=1)
    ae_width: int = Field(default=16, ge=1)
    ae_epochs: int = Field(default=30, ge=1)
    ae_lr: float = Field(default=1e-3, gt=0)
    ae_batch_size: int = Field(default=64, ge=1)
    ae_beta: float = Field(default=1.0, ge=0)

    @model_validator(mode="after")
    def _vit_settings(self) -> Self:
        if LOSSES.get(self.loss).output != "logits":
            raise ConfigError(f"vit needs a logit loss (ce or bce), not loss={self.loss}")
        if self.input_filter != "none":
            raise ConfigError("vit does not support input_filter; remove it")
        if self.ae_size % 4:
            raise ConfigError(f"vit ae_size must be a multiple of 4, got {self.ae_size}")
        size = self.model_kwargs.get("img_size", self.img_size)
        if size != self.img_size:
            raise ConfigError(
                f"vit model_kwargs.img_size {size} differs from img_size {self.img_size}; "
                "set img_size only"
            )
        return self


def check_vit(model: nn.Module, arch: str) -> None:
    """Raise a one-line ConfigError unless ``model`` is a timm ViT with a plain qkv attention."""
    blocks = getattr(model, "blocks", None)
    attn = getattr(blocks[-1], "attn", None) if blocks is not None and len(blocks) else None
    needed = ("qkv", "num_heads", "head_dim", "scale", "q_norm", "k_norm")
    if attn is None or not all(hasattr(attn, a) for a in needed):
        raise ConfigError(
            f"vit arch {arch!r} is not a timm VisionTransformer with qkv attention; "
            "use e.g. deit_tiny_patch16_224 or vit_base_patch16_224"
        )
    if not getattr(model, "num_prefix_tokens", 0) or getattr(model, "cls_token", None) is None:
        raise ConfigError(f"vit arch {arch!r} has no CLS token; choose a ViT/DeiT with one")


def cls_attention(attn: nn.Module, tokens: torch.Tensor, num_prefix: int) -> torch.Tensor:
    """The CLS attention over patches [B, P] of a timm ``Attention`` for its input ``tokens`` [B, N, D].

    A = softmax((q * scale) k^T) [B, heads, N, N] with q, k from ``attn.qkv`` (and its q/k
    norms); returns A[:, :, 0, num_prefix:] averaged over heads, renormalised to sum to 1.
    """
    m: Any = attn
    b, n, _ = tokens.shape
    qkv = m.qkv(tokens).reshape(b, n, 3, m.num_heads, m.head_dim).permute(2, 0, 3, 1, 4)
    q, k = m.q_norm(qkv[0]), m.k_norm(qkv[1])
    a = ((q * m.scale) @ k.transpose(-2, -1)).float().softmax(dim=-1)
    row = a[:, :, 0, num_prefix:].mean(dim=1)
    return row / row.sum(dim=1, keepdim=True).clamp_min(1e-12)


@DETECTORS.register("vit")
class ViTDetector(CNNDetector):
    """timm ViT/DeiT classifier + CLS attention maps + map autoencoder; see the module docstring."""

    name = "vit"
    Params = ViTParams
    params: ViTParams

    def __init__(self, params: Any = None) -> None:
        super().__init__(params)
        self._check_arch()
        self.ae_: AttentionAE | None = None
        self.ae_history_: list[float] = []

    # ------------------------------------------------------------ model
    def _check_arch(self) -> None:
        """Fail now (one line) unless ``arch`` + ``model_kwargs`` build a timm ViT (meta device)."""
        import timm

        p = self.params
        if not timm.is_model(p.arch):
            create_timm_model(p.arch, pretrained=False)  # raises, naming similar archs
        try:
            with torch.device("meta"):
                model = create_timm_model(p.arch, pretrained=False, **self._timm_kwargs())
        except FakescopeError as exc:
            raise ConfigError(
                f"vit arch {p.arch!r} with model_kwargs {p.model_kwargs} cannot be built ({exc}); "
                "use a timm VisionTransformer such as deit_tiny_patch16_224"
            ) from None
        check_vit(model, p.arch)

    def _timm_kwargs(self) -> dict[str, Any]:
        return {**self.params.model_kwargs, "img_size": self.params.img_size}

    def _create(self, num_classes: int, *, start: bool = True) -> nn.Module:
        """The ViT for ``num_classes`` classes (from ``weights`` / pretrained when ``start``)."""
        p = self.params
        k = self._num_outputs(num_classes)
        if p.weights is not None and start:
            model = create_timm_model(
                p.arch, pretrained=False, num_classes=k, **self._timm_kwargs()
            )
            state = read_weights_file(p.weights, allow_pickle=p.allow_pickle)
            load_start_weights(model, state, p.weights)
        else:
            model = create_timm_model(
                p.arch,
                pretrained=bool(p.pretrained and start),
                num_classes=k,
                **self._timm_kwargs(),
            )
        check_vit(model, p.arch)
        return model

    @property
    def embedding_dim(self) -> int:
        """D: the ViT's pre-logits width (with ``model_kwargs`` applied)."""
        if self.model_ is not None:
            return feature_width(self.model_)
        return _vit_width(self.params.arch, self._timm_kwargs())

    @property
    def grid_size(self) -> tuple[int, int]:
        """The patch grid (gh, gw) of the fitted ViT."""
        m: Any = self._model()
        gh, gw = m.patch_embed.grid_size
        return int(gh), int(gw)

    # ------------------------------------------------------------ attention
    @contextmanager
    def _capture(self) -> Iterator[list[torch.Tensor]]:
        """Collect the CLS attention [B, P] of every forward pass of the last block inside."""
        m: Any = self._model()
        attn, prefix = m.blocks[-1].attn, int(m.num_prefix_tokens)
        grids: list[torch.Tensor] = []

        def hook(module: nn.Module, args: tuple[Any, ...]) -> None:
            grids.append(cls_attention(module, args[0], prefix).detach())

        handle = attn.register_forward_pre_hook(hook)
        try:
            yield grids
        finally:
            handle.remove()

    @torch.inference_mode()
    def attention_grid(self, x: torch.Tensor) -> torch.Tensor:
        """CLS attention on the patch grid [B, gh, gw] (sums to 1 per image) for ``x`` [B, 3, H, W]."""
        model = self._model().eval()
        with self._capture() as grids:
            model(x.to(next(model.parameters()).device))
        return grids[-1].cpu().reshape(len(x), *self.grid_size)

    def attention_maps(self, x: torch.Tensor) -> torch.Tensor:
        """Attention maps [B, 1, H, W]: :meth:`attention_grid` bilinearly upsampled to ``x``'s size."""
        grid = self.attention_grid(x)
        return F.interpolate(
            grid[:, None], size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False
        )

    def ae_input(self, grid: torch.Tensor) -> torch.Tensor:
        """Autoencoder input [B, 1, s, s] of grids [B, gh, gw]: resized to ``ae_size``, times P."""
        s = self.params.ae_size
        scaled = grid[:, None].float() * (grid.shape[1] * grid.shape[2])
        return F.interpolate(scaled, size=(s, s), mode="bilinear", align_corners=False)

    # ------------------------------------------------------------ training
    def _fit(self, train: pd.DataFrame, val: pd.DataFrame | None, workdir: Path | None) -> None:
        """Train the classifier (``cnn`` training), then the map autoencoder on train maps."""
        super()._fit(train, val, workdir)
        self.ae_ = None
        if self.params.ae != "none":
            self._fit_autoencoder(train[PATH].tolist())

    def _fit_autoencoder(self, paths: list[str]) -> None:
        p, kind = self.params, self.params.ae
        if kind == "none":
            return
        gh, gw = self.grid_size
        flat, _ = self._run(
            paths, lambda x: self.attention_grid(x).flatten(1).numpy(), gh * gw, None, None
        )
        flat = flat[np.isfinite(flat).all(axis=1)]
        if not len(flat):
            raise ConfigError(
                "vit: no training image decoded; cannot train the attention autoencoder"
            )
        maps = self.ae_input(torch.from_numpy(flat).reshape(-1, gh, gw))
        torch.manual_seed(p.seed)
        ae = create_map_autoencoder(kind, p.ae_size, p.ae_latent, p.ae_width)
        self.ae_history_ = train_map_autoencoder(
            ae,
            maps,
            epochs=p.ae_epochs,
            batch_size=p.ae_batch_size,
            lr=p.ae_lr,
            beta=p.ae_beta,
            seed=p.seed,
        )
        self.ae_ = ae.eval()

    # ------------------------------------------------------------ inference
    def _features_batch(self, x: torch.Tensor) -> tuple[Any, ...]:
        """One pass: ``(proba, logits, embedding, extras)``; with an autoencoder, extras hold
        ``residual`` [B, 1, s, s] = (reconstructed map - map)^2 (higher = less familiar)."""
        with self._capture() as grids:
            proba, logits, emb = super()._features_batch(x)[:3]
        extras: dict[str, np.ndarray] = {}
        if self.ae_ is not None:
            grid = grids[-1].cpu().reshape(len(x), *self.grid_size)
            res = reconstruction_residual(self.ae_, self.ae_input(grid))
            extras[RESIDUAL] = res.numpy().astype(np.float32)
        return proba, logits, emb, extras

    # ------------------------------------------------------------ bundle
    def _tensors(self) -> dict[str, torch.Tensor]:
        out = super()._tensors()
        if self.ae_ is not None:
            out.update({AE_PREFIX + k: v for k, v in self.ae_.state_dict().items()})
        return out

    def _restore(self, tensors: dict[str, torch.Tensor], directory: Path) -> None:
        own = {k: v for k, v in tensors.items() if not k.startswith(AE_PREFIX)}
        ae_state = {k[len(AE_PREFIX) :]: v for k, v in tensors.items() if k.startswith(AE_PREFIX)}
        super()._restore(own, directory)
        p, kind = self.params, self.params.ae
        if kind == "none":
            self.ae_ = None
            return
        if not ae_state:
            raise NotFittedError("this vit bundle lacks its attention autoencoder; retrain it")
        ae = create_map_autoencoder(kind, p.ae_size, p.ae_latent, p.ae_width)
        ae.load_state_dict(ae_state, strict=True)
        self.ae_ = ae.eval()


def _vit_width(arch: str, kwargs: dict[str, Any]) -> int:
    """Pre-logits width of timm ``arch`` built with ``kwargs`` on the meta device (no memory)."""
    with torch.device("meta"):
        return feature_width(create_timm_model(arch, pretrained=False, num_classes=0, **kwargs))
