"""``open_clip:<model>/<tag>``: the image encoder of an open_clip model (e.g. UnivFD's ViT-L-14/openai).

Only the image tower is kept; the embedding is ``encode_image`` without
normalisation (D = the model's joint embedding size, 768 for ViT-L-14). Input
size, mean and std come from the model's preprocess config (for a pretrained tag,
the tag's config, also when the weights come from a file), and so does QuickGELU
(the OpenAI weights need it; open_clip itself only warns when it is missing). open_clip is optional
(``pip install 'fakescope[clip]'``) and imported only when such a backbone is built.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import torch
from torch import nn

from fakescope.data.transforms import InputConfig
from fakescope.errors import FakescopeError
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

SCHEMAS = ("hf-hub:", "local-dir:")
PREPROCESS_KEYS = ("size", "mean", "std", "interpolation", "resize_mode")


class OpenClipBackbone(Backbone):
    """An open_clip image tower: [B, 3, S, S] -> image embedding [B, D] (not L2-normalised).

    Weights files may hold the tower alone or a whole CLIP state dict (``visual.*`` is kept).
    """

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        if isinstance(out, tuple):  # CoCa-style towers return (pooled, tokens)
            out = out[0]
        result: torch.Tensor = out
        return result

    def adapt_state_dict(self, state: Mapping[str, torch.Tensor]) -> StateDict:
        if any(k.startswith("visual.") for k in state):
            return {
                k.removeprefix("visual."): v for k, v in state.items() if k.startswith("visual.")
            }
        return dict(state)


def import_open_clip() -> ModuleType:
    """Import open_clip or raise a one-line error saying how to install it."""
    try:
        import open_clip
    except ImportError:
        raise FakescopeError(
            "open_clip backbones need the package open_clip_torch; pip install 'fakescope[clip]'"
        ) from None
    return open_clip


def split_model_tag(spec: str) -> tuple[str, str]:
    """``"ViT-L-14/openai"`` -> ``("ViT-L-14", "openai")``; ``hf-hub:org/repo`` has no tag."""
    if spec.startswith(SCHEMAS):
        return spec, ""
    model, _, tag = spec.partition("/")
    return model, tag


def input_config_from(preprocess: Mapping[str, Any]) -> InputConfig:
    """fakescope's InputConfig from an open_clip preprocess config (square size, mean, std).

    open_clip's "shortest" resize mode (resize the shorter side, centre-crop) is
    fakescope's "resize"; other modes ("squash", "longest") are approximated by it.
    """
    size = preprocess.get("size", 224)
    size = int(size[0] if isinstance(size, list | tuple) else size)
    return InputConfig(
        size=size,
        mean=rgb_triple(preprocess["mean"]),
        std=rgb_triple(preprocess["std"]),
        resize="resize",
    )


def _feature_dim(visual: nn.Module, size: int) -> int:
    dim = getattr(visual, "output_dim", None)
    if isinstance(dim, int) and dim > 0:
        return dim
    with torch.no_grad():  # towers without ``output_dim``: measure it
        out = visual.eval()(torch.zeros(1, 3, size, size))
    return int((out[0] if isinstance(out, tuple) else out).shape[-1])


def _check_tag(open_clip: ModuleType, model: str, tag: str) -> None:
    known = open_clip.list_pretrained_tags_by_model(model)
    if not tag:
        example = known[0] if known else "<tag>"
        raise FakescopeError(
            f"open_clip:{model} needs a pretrained tag, e.g. open_clip:{model}/{example}; "
            f"or pass local weights ({WEIGHTS_OPTION}) or {NO_PRETRAINED_OPTION}"
        )
    if not open_clip.get_pretrained_cfg(model, tag):
        raise FakescopeError(
            f"open_clip has no pretrained tag {tag!r} for {model}; known: {', '.join(known) or 'none'}"
        )


@register_backbone("open_clip", usage="open_clip:<model>/<tag>")
def create_open_clip_backbone(
    arg: str | None, *, pretrained: bool, cache_dir: str | None = None, **kwargs: Any
) -> Backbone:
    """``open_clip:<model>/<tag>`` (e.g. ``open_clip:ViT-L-14/openai``) or ``open_clip:hf-hub:org/repo``.

    ``pretrained=False`` builds a random tower but keeps the tag's preprocessing.
    ``kwargs`` go to ``open_clip.create_model`` (e.g. ``force_image_size``).
    """
    open_clip = import_open_clip()
    spec = split_arg("open_clip", arg, required=True)
    model_name, tag = split_model_tag(spec)
    schema = model_name.startswith(SCHEMAS)
    if not schema and model_name not in open_clip.list_models():
        raise FakescopeError(
            f"open_clip has no model {model_name!r} (e.g. ViT-B-32, ViT-L-14; see open_clip.list_models())"
        )
    if pretrained and not schema:
        _check_tag(open_clip, model_name, tag)
    tag_cfg = open_clip.get_pretrained_cfg(model_name, tag) if tag and not schema else {}
    options: dict[str, Any] = {
        "force_preprocess_cfg": {k: tag_cfg[k] for k in PREPROCESS_KEYS if k in tag_cfg}
    }
    if tag_cfg.get("quick_gelu"):  # e.g. the OpenAI weights: plain GELU would change every feature
        options["force_quick_gelu"] = True
    if "pretrained_text" in inspect.signature(open_clip.create_model).parameters:
        # never fetch text-tower weights: only the image tower is kept
        options["pretrained_text"] = False
    options.update(kwargs)
    offline = hub_offline_reason() if pretrained else None
    try:
        with hub_cache_only() if offline is not None else contextlib.nullcontext():
            clip = open_clip.create_model(
                model_name,
                pretrained=(tag or None) if pretrained else None,
                device="cpu",
                cache_dir=cache_dir,
                **options,
            )
    except TypeError as exc:
        raise FakescopeError(
            f"open_clip:{spec} rejected the options {sorted(kwargs)}: {exc}"
        ) from None
    except (OSError, RuntimeError, ValueError) as exc:
        if not pretrained:
            raise
        if offline is not None:
            raise HubUnavailableError(offline_message(f"open_clip:{spec}", offline)) from None
        raise HubUnavailableError(
            f"the pretrained weights of open_clip:{spec} cannot be downloaded here "
            f"({type(exc).__name__}); pass a local .safetensors file with {WEIGHTS_OPTION} "
            f"(weights=PATH in Python) or use {NO_PRETRAINED_OPTION}"
        ) from None
    cfg = input_config_from(open_clip.get_model_preprocess_cfg(clip))
    visual: nn.Module = clip.visual
    del clip  # drop the text tower
    return OpenClipBackbone(
        f"open_clip:{spec}", visual, feature_dim=_feature_dim(visual, cfg.size), input_config=cfg
    )
