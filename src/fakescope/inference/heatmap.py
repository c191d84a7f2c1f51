"""Grad-CAM heatmaps: where in an image a detector sees evidence for "fake".

Built on the ``grad-cam`` package (``pytorch_grad_cam.GradCAM``). The target
is the **fake log-odds** ``logit P(fake) = logsumexp(z[1:]) - z[0]`` of the
detector's logits ``z`` [C] (class 0 = real), i.e. P(fake) = 1 - P(real) for
binary and attribution detectors alike. Grad-CAM weighs the channels of one
spatial layer by the mean gradient of that score and keeps the positive part,
so **higher = more evidence for "fake"**; an image with no region pushing
towards fake gets an all-zero map. Maps are min-max scaled per image (1 = the
strongest evidence in *this* image; not comparable across images).

Which detectors: those whose :meth:`~fakescope.detectors.base.Detector.explain_network`
hook returns the network run inside ``differentiable_logits`` (cnn with a
logit loss; probe with the logistic head - the gradient flows through the
frozen backbone and the linear head). Others raise a one-line error.

Which layer (:func:`find_cam_layer`, found by one dry run per network and size):
CNNs - the last module (run once per forward) whose output is a square
feature map [B, C, h, w] with h = w > 1: the last stage, before global
pooling. ViTs (token outputs [B, N, C]) - the last block's first norm
(``norm1`` in timm, ``ln_1`` in open_clip), with a reshape transform that drops
the prefix (class / register) tokens and lays the patch tokens on their g x g
grid; the final norm would only carry gradient on the class token.

The map covers the model's input crop (see
:class:`~fakescope.data.transforms.InputConfig`) and is mapped back onto the
original image (:attr:`Heatmap.cam` has the image's size; parts the model
never saw are 0).

Concurrency: calls are serialised by one lock, and the hooks record only the
calling thread's forward pass, so a server may run ordinary predictions on the
same detector in other threads meanwhile.
"""

from __future__ import annotations

import functools
import io
import math
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from fakescope.data.transforms import InputConfig, eval_transform
from fakescope.errors import FakescopeError
from fakescope.fileio import atomic_write_bytes

if TYPE_CHECKING:
    from fakescope.detectors.base import Detector
    from fakescope.inference.verdict import VerdictModel

#: Opacity of the colour map over the image in :meth:`Heatmap.overlay`.
ALPHA = 0.5
#: matplotlib colour map of the overlay (blue = no evidence, red = strongest).
COLORMAP = "jet"
#: Suffix of heatmap files written next to each other: ``<stem>.heat.png``.
SUFFIX = ".heat.png"
#: Images per Grad-CAM pass in :func:`explain_images`.
CHUNK = 8

Reshape = Callable[[torch.Tensor], torch.Tensor]
_LOCK = threading.Lock()
_LAYERS: weakref.WeakKeyDictionary[nn.Module, dict[int, CamLayer]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class CamLayer:
    """The layer Grad-CAM reads: ``module`` (named ``name`` in the network) and
    ``reshape`` (token outputs -> [B, C, g, g]; None for CNN feature maps)."""

    module: nn.Module
    name: str
    reshape: Reshape | None


@dataclass(frozen=True)
class Heatmap:
    """A Grad-CAM map for one image.

    ``cam`` [H, W] float32 in [0, 1] on the original image (H, W = its size;
    higher = more evidence for "fake"; 0 outside the model's crop);
    ``model_cam`` [S, S] the same map on the model's input crop;
    ``p_fake_raw``: the detector's own P(fake) of this pass (uncalibrated);
    ``layer``: the network layer the map was read from; ``image``: the RGB input.
    """

    cam: np.ndarray
    model_cam: np.ndarray
    p_fake_raw: float
    layer: str
    image: Image.Image

    def overlay(self, alpha: float = ALPHA) -> Image.Image:
        """The image with the colour-mapped ``cam`` blended over it (same size, RGB)."""
        from matplotlib import colormaps

        colours = colormaps[COLORMAP](self.cam)[..., :3].astype(np.float32)
        base = np.asarray(self.image.convert("RGB"), dtype=np.float32) / 255.0
        mixed = (1.0 - alpha) * base + alpha * colours
        return Image.fromarray(np.clip(mixed * 255.0 + 0.5, 0, 255).astype(np.uint8))

    def overlay_png(self, alpha: float = ALPHA) -> bytes:
        """:meth:`overlay` encoded as PNG bytes."""
        buf = io.BytesIO()
        self.overlay(alpha).save(buf, format="PNG")
        return buf.getvalue()

    def save(self, path: str | Path, alpha: float = ALPHA) -> Path:
        """Write :meth:`overlay_png` to ``path`` (atomically, via :mod:`fakescope.fileio`)."""
        return atomic_write_bytes(path, self.overlay_png(alpha))


def detector_of(model: VerdictModel | Detector) -> Detector:
    """The detector of a :class:`VerdictModel`, or ``model`` itself."""
    from fakescope.detectors.base import Detector

    return model if isinstance(model, Detector) else model.detector


def check_explainable(model: VerdictModel | Detector) -> nn.Module:
    """The detector's explain network, or a one-line :class:`FakescopeError` saying which
    detectors support heatmaps (call it once up front, e.g. when ``--explain`` is given)."""
    return detector_of(model).explain_network()


def explain_image(model: VerdictModel | Detector, image: Image.Image) -> Heatmap:
    """Grad-CAM :class:`Heatmap` of one RGB image for ``model`` (a VerdictModel or a Detector)."""
    return explain_images(model, [image])[0]


def heatmap_png(model: VerdictModel | Detector, image: Image.Image, alpha: float = ALPHA) -> bytes:
    """PNG bytes of the overlay of :func:`explain_image` (same size as ``image``)."""
    return explain_image(model, image).overlay_png(alpha)


def explain_images(model: VerdictModel | Detector, images: Sequence[Image.Image]) -> list[Heatmap]:
    """Grad-CAM heatmaps of RGB images, in order (computed :data:`CHUNK` at a time).

    Raises a one-line :class:`FakescopeError` when the detector has no explain path.
    """
    detector = detector_of(model)
    network = check_explainable(detector)
    cfg = detector.input_config
    transform = eval_transform(cfg)
    rgb = [img.convert("RGB") for img in images]
    out: list[Heatmap] = []
    with _LOCK:
        layer = find_cam_layer(network, cfg.size)
        for start in range(0, len(rgb), CHUNK):
            part = rgb[start : start + CHUNK]
            x = torch.stack([transform(img) for img in part])
            cams, p_fake = _grad_cam(detector, network, layer, x)
            for img, cam, p in zip(part, cams, p_fake, strict=True):
                full = to_image_frame(cam, img.size, cfg)
                out.append(Heatmap(full, cam, float(p), layer.name, img))
    return out


def heatmap_names(paths: Sequence[str | Path]) -> list[str]:
    """File names ``<stem>.heat.png`` for heatmaps of ``paths`` (``-2``, ``-3``, ... when stems repeat)."""
    seen: dict[str, int] = {}
    names = []
    for path in paths:
        stem = Path(path).stem
        n = seen[stem] = seen.get(stem, 0) + 1
        names.append(f"{stem if n == 1 else f'{stem}-{n}'}{SUFFIX}")
    return names


def write_heatmaps(
    model: VerdictModel | Detector,
    paths: Sequence[str | Path],
    out_dir: str | Path,
    *,
    alpha: float = ALPHA,
) -> list[tuple[Path | None, str]]:
    """Heatmap overlays of image files into ``out_dir`` (names from :func:`heatmap_names`).

    Returns ``(written path, "")`` per input, in order, or ``(None, error)`` for a file
    that could not be decoded (never raises for one bad file; raises a one-line
    :class:`FakescopeError` up front when the detector cannot make heatmaps).
    """
    from fakescope.data.decode import load_image
    from fakescope.errors import DecodeError

    check_explainable(model)
    results: list[tuple[Path | None, str]] = []
    for path, name in zip(paths, heatmap_names(paths), strict=True):
        try:
            image = load_image(path)
        except DecodeError as exc:
            results.append((None, str(exc)))
            continue
        results.append((explain_image(model, image).save(Path(out_dir) / name, alpha), ""))
    return results


class _FakeLogOdds(nn.Module):
    """x [B, 3, H, W] -> fake log-odds [B, 1] = logsumexp(z[:, 1:]) - z[:, 0] of the
    detector's differentiable logits z [B, C]; ``network`` is registered so that
    grad-cam finds the parameters' device."""

    def __init__(self, detector: Detector, network: nn.Module) -> None:
        super().__init__()
        self.network = network
        self._detector = detector

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self._detector.differentiable_logits(x).float()
        if z.shape[1] < 2:
            raise FakescopeError("heatmaps need logits for at least the classes real and fake")
        return (torch.logsumexp(z[:, 1:], dim=1) - z[:, 0]).unsqueeze(1)


def _grad_cam(
    detector: Detector, network: nn.Module, layer: CamLayer, x: torch.Tensor
) -> tuple[np.ndarray, np.ndarray]:
    """``(cams [B, S, S] in [0, 1], p_fake_raw [B])`` for a preprocessed batch ``x`` [B, 3, S, S]."""
    grad_cam = _gradcam_class()
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    wrapper = _FakeLogOdds(detector, network)
    cam = grad_cam(model=wrapper, target_layers=[layer.module], reshape_transform=layer.reshape)
    # record only this thread's forward (a server may predict in other threads meanwhile)
    cam.activations_and_grads.release()
    cam.activations_and_grads = _thread_activations()(wrapper, [layer.module], layer.reshape)
    cam.compute_input_gradient = True  # frozen backbones: the graph starts at the input
    params = [p for p in network.parameters() if p.requires_grad]
    try:
        for p in params:  # no parameter gradients: the map needs activation gradients only
            p.requires_grad_(False)
        with torch.inference_mode(False), torch.enable_grad():
            maps = cam(input_tensor=x.clone(), targets=[ClassifierOutputTarget(0)] * len(x))
            logodds = cam.outputs.detach().float().cpu()[:, 0]
    finally:
        cam.activations_and_grads.release()
        for p in params:
            p.requires_grad_(True)
    return np.asarray(maps, dtype=np.float32), torch.sigmoid(logodds).numpy()


@functools.cache
def _thread_activations() -> type:
    """grad-cam's ``ActivationsAndGradients``, recording only the creating thread's forward."""
    from pytorch_grad_cam.activations_and_gradients import ActivationsAndGradients

    class ThreadActivations(ActivationsAndGradients):
        def __init__(self, model: nn.Module, layers: list[nn.Module], reshape: Any) -> None:
            self.owner = threading.get_ident()
            super().__init__(model, layers, reshape)

        def save_activation(self, module: nn.Module, inp: Any, output: Any) -> None:
            if threading.get_ident() == self.owner:
                super().save_activation(module, inp, output)

        def save_gradient(self, module: nn.Module, inp: Any, output: Any) -> None:
            if threading.get_ident() == self.owner:
                super().save_gradient(module, inp, output)

    return ThreadActivations


def _gradcam_class() -> type:
    """``pytorch_grad_cam.GradCAM``, or a one-line error saying how to install it."""
    try:
        from pytorch_grad_cam import GradCAM
    except ImportError:
        raise FakescopeError("heatmaps need the grad-cam package; pip install grad-cam") from None
    return GradCAM


# ----------------------------------------------------------------- layer choice
def find_cam_layer(network: nn.Module, size: int) -> CamLayer:
    """The Grad-CAM layer of ``network`` for square inputs of ``size`` px (rules in the module
    docstring), found by one dry forward pass of zeros [2, 3, size, size] and cached."""
    per_size = _LAYERS.setdefault(network, {})
    if size not in per_size:
        per_size[size] = _find_layer(network, size)
    return per_size[size]


def _find_layer(network: nn.Module, size: int) -> CamLayer:
    calls: dict[str, int] = {}
    order: list[tuple[str, tuple[int, ...]]] = []

    def hook(name: str) -> Callable[..., None]:
        def record(module: nn.Module, inp: Any, output: Any) -> None:
            calls[name] = calls.get(name, 0) + 1
            if isinstance(output, torch.Tensor):
                order.append((name, tuple(output.shape)))

        return record

    modules = dict(network.named_modules())
    handles = [m.register_forward_hook(hook(n)) for n, m in modules.items() if n]
    try:
        device = next(network.parameters()).device
        with torch.no_grad():
            network(torch.zeros(2, 3, size, size, device=device))
    finally:
        for h in handles:
            h.remove()
    once = [(i, n, s) for i, (n, s) in enumerate(order) if calls[n] == 1]
    maps = [(i, n) for i, n, s in once if len(s) == 4 and s[0] == 2 and s[2] == s[3] > 1]
    tokens = [
        (i, n, s)
        for i, n, s in once
        if n.rsplit(".", 1)[-1] in ("norm1", "ln_1") and len(s) == 3 and 2 in s[:2]
    ]
    # the later of the two wins: a ViT's patch embedding is a feature map, but runs first
    if tokens and (not maps or tokens[-1][0] > maps[-1][0]):
        _, name, shape = tokens[-1]
        return CamLayer(modules[name], name, _token_grid(shape[1] if shape[0] == 2 else shape[0]))
    if maps:
        name = maps[-1][1]
        return CamLayer(modules[name], name, None)
    raise FakescopeError(
        f"no layer for heatmaps in this {type(network).__name__} at {size} px (need a square "
        "feature map [B, C, h, w] with h > 1, or ViT blocks); use a larger img_size or a CNN / ViT"
    )


def _token_grid(n_tokens: int) -> Reshape:
    """Reshape transform for N tokens: drop the prefix tokens, patch tokens -> [B, C, g, g]
    (g = isqrt(N)); accepts [B, N, C] and sequence-first [N, B, C]."""
    g = math.isqrt(n_tokens)
    prefix = n_tokens - g * g

    def reshape(t: torch.Tensor) -> torch.Tensor:
        if t.shape[0] == n_tokens and t.shape[1] != n_tokens:
            t = t.transpose(0, 1)
        patches = t[:, prefix:, :]
        return patches.reshape(t.shape[0], g, g, t.shape[2]).permute(0, 3, 1, 2)

    return reshape


# ----------------------------------------------------------- back to the image
def to_image_frame(cam: np.ndarray, image_size: tuple[int, int], cfg: InputConfig) -> np.ndarray:
    """Map a model-crop map ``cam`` [S, S] back onto the original image: [H, W] float32.

    ``image_size`` = (W, H). Undoes :func:`~fakescope.data.transforms.eval_transform`'s
    geometry ("resize": shorter side to S, then centre crop; "crop": centre crop, padded
    when small) with bilinear interpolation; pixels outside the crop get 0.
    """
    w, h = image_size
    s = cfg.size
    if cfg.resize == "resize":
        short, long = min(w, h), max(w, h)
        scaled_long = int(s * long / short)
        new_w, new_h = (s, scaled_long) if w <= h else (scaled_long, s)
    else:
        new_w, new_h = w, h
    rows = _axis_weights(h, new_h, s)  # [H, S]
    cols = _axis_weights(w, new_w, s)  # [W, S]
    return np.clip(rows @ cam.astype(np.float32) @ cols.T, 0.0, 1.0).astype(np.float32)


def _axis_weights(n: int, resized: int, s: int) -> np.ndarray:
    """Linear-interpolation weights [n, s]: original pixel i -> crop pixels along one axis.

    Original pixel centre i + 0.5 lies at ``(i + 0.5) * resized / n`` in the resized
    image, whose centre crop of ``s`` px starts at ``round((resized - s) / 2)`` (or
    ``-((s - resized) // 2)`` when padded), as torchvision's ``CenterCrop`` does.
    """
    start = round((resized - s) / 2.0) if resized >= s else -((s - resized) // 2)
    pos = (np.arange(n) + 0.5) * resized / n - start - 0.5  # in crop pixel-centre coordinates
    weights = np.zeros((n, s), dtype=np.float32)
    inside = (pos >= -0.5) & (pos <= s - 0.5)
    p = np.clip(pos, 0.0, s - 1.0)
    lo = np.floor(p).astype(np.int64)
    hi = np.minimum(lo + 1, s - 1)
    frac = (p - lo).astype(np.float32)
    idx = np.flatnonzero(inside)
    weights[idx, lo[idx]] += 1.0 - frac[idx]
    weights[idx, hi[idx]] += frac[idx]
    return weights
