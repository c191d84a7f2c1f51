"""Face-region geometry and image helpers shared by the face manipulations.

The face generators (``face_swap``, ``self_blend``, ``inpaint``) run without a
landmark detector: they assume **aligned face crops** with the face centred,
as in LFW deep-funneled (250x250) centre-cropped to about its central 60%
(150 px) and resized to the working resolution (128 px for the faces
preset). All geometry is stated as fractions of the image side, so it holds
at any resolution (x to the right, y downwards, (0, 0) the top-left corner):

=============  ========================================  =========================
region         fractions (x0, y0, x1, y1) or ellipse     covers
=============  ========================================  =========================
inner face     ellipse centre (0.50, 0.54),              eyebrows to chin,
               semi-axes (0.25, 0.31)                    cheek to cheek
eyes           box (0.27, 0.36, 0.73, 0.50)              both eyes and brows' base
nose           box (0.40, 0.42, 0.60, 0.66)              bridge to nostrils
mouth          box (0.33, 0.66, 0.67, 0.80)              lips and mouth corners
=============  ========================================  =========================

The ellipse still covers the inner face for centre crops between about 50%
and 65% of the LFW side; other crops need another :class:`FaceGeometry`.

Every random choice takes a ``torch.Generator`` so results are reproducible.
Images are float tensors [N, 3, H, W] in [0, 1]; masks are [N, 1, H, W] in
[0, 1] (1 = the region that is replaced).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class FaceGeometry:
    """Where the face parts lie in an aligned crop, as fractions of the image side."""

    cx: float = 0.50
    cy: float = 0.54
    rx: float = 0.25
    ry: float = 0.31
    eyes: Box = (0.27, 0.36, 0.73, 0.50)
    nose: Box = (0.40, 0.42, 0.60, 0.66)
    mouth: Box = (0.33, 0.66, 0.67, 0.80)

    def regions(self) -> tuple[Box, ...]:
        """The part boxes an inpainting mask is drawn over (eyes, nose, mouth)."""
        return (self.eyes, self.nose, self.mouth)


#: The geometry of LFW deep-funneled crops (central 60%, see the module docstring).
DEFAULT_GEOMETRY = FaceGeometry()


def _grid(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates (x, y) as fractions of ``size``, each [1, size, size]."""
    t = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    y, x = torch.meshgrid(t, t, indexing="ij")
    return x[None], y[None]


def ellipse_masks(
    n: int,
    size: int,
    geometry: FaceGeometry = DEFAULT_GEOMETRY,
    *,
    scale: torch.Tensor | None = None,
    shift: torch.Tensor | None = None,
) -> torch.Tensor:
    """Hard inner-face ellipse masks [n, 1, size, size] (1 inside).

    ``scale`` [n] multiplies both semi-axes; ``shift`` [n, 2] moves the centre
    (fractions of the side, x then y). Both default to no change.
    """
    x, y = _grid(size)
    s = torch.ones(n) if scale is None else scale.float()
    d = torch.zeros(n, 2) if shift is None else shift.float()
    cx = (geometry.cx + d[:, 0])[:, None, None]
    cy = (geometry.cy + d[:, 1])[:, None, None]
    rx = (geometry.rx * s)[:, None, None]
    ry = (geometry.ry * s)[:, None, None]
    r2 = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2
    return (r2 <= 1.0).float()[:, None]


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of [N, C, H, W] with ``sigma`` in pixels (edges replicated)."""
    if sigma <= 0:
        return images
    radius = max(1, math.ceil(3.0 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = images.shape[1]
    kx = kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1)
    ky = kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1)
    out = F.pad(images, (radius, radius, 0, 0), mode="replicate")
    out = F.conv2d(out, kx, groups=c)
    out = F.pad(out, (0, 0, radius, radius), mode="replicate")
    return F.conv2d(out, ky, groups=c)


def feather(mask: torch.Tensor, sigma_px: float) -> torch.Tensor:
    """Soft-edged copy [N, 1, H, W] of a hard mask: Gaussian-blurred, in [0, 1]."""
    return gaussian_blur(mask, sigma_px).clamp(0.0, 1.0)


# ------------------------------------------------------------------ colour
_RGB_TO_XYZ = torch.tensor(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
_WHITE = torch.tensor([0.950456, 1.0, 1.088754])
_EPS_LAB = (6.0 / 29.0) ** 3


def rgb_to_lab(images: torch.Tensor) -> torch.Tensor:
    """sRGB [N, 3, H, W] in [0, 1] -> CIE L*a*b* (D65) [N, 3, H, W] (L in [0, 100])."""
    rgb = images.clamp(0.0, 1.0)
    lin = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = torch.einsum("ij,njhw->nihw", _RGB_TO_XYZ.to(images), lin)
    xyz = xyz / _WHITE.to(images).view(1, 3, 1, 1)
    f = torch.where(
        xyz > _EPS_LAB, xyz.clamp_min(_EPS_LAB) ** (1 / 3), xyz / (3 * (6 / 29) ** 2) + 4 / 29
    )
    lum = 116.0 * f[:, 1] - 16.0
    a = 500.0 * (f[:, 0] - f[:, 1])
    b = 200.0 * (f[:, 1] - f[:, 2])
    return torch.stack([lum, a, b], dim=1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """CIE L*a*b* (D65) [N, 3, H, W] -> sRGB [N, 3, H, W] clamped to [0, 1]."""
    fy = (lab[:, 0] + 16.0) / 116.0
    fx = fy + lab[:, 1] / 500.0
    fz = fy - lab[:, 2] / 200.0
    f = torch.stack([fx, fy, fz], dim=1)
    xyz = torch.where(f > 6 / 29, f**3, 3 * (6 / 29) ** 2 * (f - 4 / 29))
    xyz = xyz * _WHITE.to(lab).view(1, 3, 1, 1)
    lin = torch.einsum("ij,njhw->nihw", torch.linalg.inv(_RGB_TO_XYZ).to(lab), xyz).clamp_min(0)
    rgb = torch.where(
        lin <= 0.0031308, lin * 12.92, 1.055 * lin.clamp_min(1e-12) ** (1 / 2.4) - 0.055
    )
    return rgb.clamp(0.0, 1.0)


def _masked_stats(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample, per-channel mean and std [N, C, 1, 1] of ``x`` weighted by ``mask``."""
    w = mask / mask.sum(dim=(2, 3), keepdim=True).clamp_min(1e-6)
    mean = (x * w).sum(dim=(2, 3), keepdim=True)
    var = (((x - mean) ** 2) * w).sum(dim=(2, 3), keepdim=True)
    return mean, var.clamp_min(0).sqrt()


def match_colour(
    source: torch.Tensor,
    target: torch.Tensor,
    source_mask: torch.Tensor,
    target_mask: torch.Tensor | None = None,
    *,
    space: str = "lab",
    max_gain: float = 2.0,
) -> torch.Tensor:
    """Reinhard colour transfer: recolour ``source`` so its masked statistics match ``target``'s.

    Per sample and channel, the mean and standard deviation of ``source``
    inside ``source_mask`` [N, 1, H, W] are mapped onto those of ``target``
    inside ``target_mask`` (default: the same mask), in CIE L*a*b* (``"lab"``)
    or sRGB (``"rgb"``). The std ratio is clipped to [1/max_gain, max_gain].
    Returns the recoloured source [N, 3, H, W] in [0, 1].
    """
    if space not in ("lab", "rgb"):
        raise ValueError(f"colour space must be 'lab' or 'rgb', not {space!r}")
    t_mask = source_mask if target_mask is None else target_mask
    src = rgb_to_lab(source) if space == "lab" else source
    tgt = rgb_to_lab(target) if space == "lab" else target
    mu_s, sd_s = _masked_stats(src, source_mask)
    mu_t, sd_t = _masked_stats(tgt, t_mask)
    gain = (sd_t / sd_s.clamp_min(1e-4)).clamp(1.0 / max_gain, max_gain)
    out = (src - mu_s) * gain + mu_t
    return lab_to_rgb(out) if space == "lab" else out.clamp(0.0, 1.0)


# ---------------------------------------------------------------- geometry
def uniform(n: int, low: float, high: float, rng: torch.Generator) -> torch.Tensor:
    """``n`` draws [n] from U(low, high) using ``rng``."""
    return low + (high - low) * torch.rand(n, generator=rng)


def uniform_between(n: int, bounds: tuple[float, float], rng: torch.Generator) -> torch.Tensor:
    """``n`` draws [n] from U(min(bounds), max(bounds)) using ``rng``."""
    low, high = sorted(bounds)
    return uniform(n, low, high, rng)


def random_affine(
    images: torch.Tensor,
    rng: torch.Generator,
    *,
    rotate_deg: float = 0.0,
    scale: float = 0.0,
    shift: float = 0.0,
) -> torch.Tensor:
    """Warp each image [N, C, H, W] by its own random similarity transform (about the centre).

    Rotation in U(-rotate_deg, rotate_deg) degrees, zoom in U(1-scale, 1+scale),
    translation in U(-shift, shift) fractions of the side per axis; borders
    are replicated so no black edges appear.
    """
    n = images.shape[0]
    angle = torch.deg2rad(uniform(n, -rotate_deg, rotate_deg, rng))
    zoom = uniform(n, 1.0 - scale, 1.0 + scale, rng)
    t = uniform(2 * n, -shift, shift, rng).view(n, 2) * 2.0  # normalised coordinates span 2
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack(
        [torch.stack([cos, -sin, t[:, 0]], 1), torch.stack([sin, cos, t[:, 1]], 1)], 1
    ).to(images)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def elastic_deform(
    masks: torch.Tensor, rng: torch.Generator, *, strength: float, cells: int = 4
) -> torch.Tensor:
    """Randomly bend masks [N, 1, H, W]: a smooth displacement field of ~``strength`` of the side.

    The field is drawn on a ``cells`` x ``cells`` grid and upsampled bicubically,
    so the mask outline wobbles smoothly (the SBI mask deformation).
    """
    n, _, h, w = masks.shape
    coarse = torch.randn(n, 2, cells, cells, generator=rng) * (2.0 * strength)
    field = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True)
    eye = torch.eye(2, 3).expand(n, 2, 3)
    base = F.affine_grid(eye, [n, 1, h, w], align_corners=False)
    grid = base + field.permute(0, 2, 3, 1).to(base)
    return F.grid_sample(masks, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def region_masks(
    n: int,
    size: int,
    rng: torch.Generator,
    geometry: FaceGeometry = DEFAULT_GEOMETRY,
    *,
    jitter: float = 0.15,
) -> torch.Tensor:
    """Random hard masks [n, 1, size, size] over one face part each (eyes, nose or mouth).

    Each mask picks a part box uniformly, moves it by up to ``jitter`` of its
    size and rescales it by U(1 - jitter, 1 + jitter), then fills it as a
    rectangle or as the inscribed ellipse (coin flip).
    """
    boxes = torch.tensor(geometry.regions(), dtype=torch.float32)
    part = torch.randint(len(boxes), (n,), generator=rng)
    x0, y0, x1, y1 = boxes[part].unbind(1)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    hw, hh = (x1 - x0) / 2, (y1 - y0) / 2
    cx = cx + uniform(n, -jitter, jitter, rng) * hw
    cy = cy + uniform(n, -jitter, jitter, rng) * hh
    zoom = uniform(n, 1.0 - jitter, 1.0 + jitter, rng)
    hw, hh = hw * zoom, hh * zoom
    is_ellipse = torch.rand(n, generator=rng) < 0.5
    x, y = _grid(size)
    dx = (x - cx[:, None, None]) / hw[:, None, None]
    dy = (y - cy[:, None, None]) / hh[:, None, None]
    rect = (dx.abs() <= 1) & (dy.abs() <= 1)
    ell = dx**2 + dy**2 <= 1
    inside = torch.where(is_ellipse[:, None, None], ell, rect)
    return inside.float()[:, None]


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio [N] in dB between images [N, C, H, W] in [0, 1]."""
    mse = ((a - b) ** 2).flatten(1).mean(1).clamp_min(1e-12)
    return 10.0 * torch.log10(1.0 / mse)
