"""Face swap: a colour-matched donor face pasted with a feathered ellipse; no training."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fakescope.errors import FakescopeError
from fakescope.forge.generators.base import CHECKPOINT
from fakescope.forge.generators.catalog import FAMILIES, GENERATORS
from fakescope.forge.generators.face_regions import ellipse_masks
from fakescope.forge.generators.face_swap import FaceSwap


def toy_faces(n: int, size: int, seed: int) -> torch.Tensor:
    """Cartoon aligned faces [n, 3, size, size]: a skin ellipse, two eyes, a mouth, noise."""
    gen = torch.Generator().manual_seed(seed)
    t = (torch.arange(size) + 0.5) / size
    y, x = torch.meshgrid(t, t, indexing="ij")
    face = (((x - 0.5) / 0.27) ** 2 + ((y - 0.54) / 0.33) ** 2 <= 1).float()
    eyes = ((y - 0.43).abs() < 0.04) & (((x - 0.38).abs() < 0.06) | ((x - 0.62).abs() < 0.06))
    mouth = ((y - 0.72).abs() < 0.03) & ((x - 0.5).abs() < 0.12)
    back = torch.rand(n, 3, 1, 1, generator=gen) * 0.5
    skin = 0.35 + torch.rand(n, 3, 1, 1, generator=gen) * 0.6
    img = back * (1 - face) + skin * face
    img = img * (1 - 0.8 * (eyes | mouth).float())
    img = img + 0.03 * torch.randn(n, 3, size, size, generator=gen)
    return img.clamp(0, 1)


def _swap(g: FaceSwap, seed: int = 0) -> torch.Tensor:
    return g.manipulate(
        toy_faces(4, 32, 1), torch.Generator().manual_seed(seed), toy_faces(4, 32, 2)
    )


def test_registered_as_a_face_swap_manipulation() -> None:
    cls = GENERATORS.get("face_swap")
    assert cls is FaceSwap and cls.family == "face_swap" and cls.family in FAMILIES
    assert cls.kind == "manipulation" and cls.uses_donors is True


def test_shape_range_and_determinism() -> None:
    g = FaceSwap({}, image_size=32)
    out = _swap(g)
    assert out.shape == (4, 3, 32, 32) and out.dtype == torch.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    torch.testing.assert_close(out, _swap(FaceSwap({}, image_size=32)), rtol=0, atol=0)
    assert not torch.equal(out, _swap(g, seed=1))  # the jitter and mask come from the rng


def test_changes_pixels_mainly_inside_the_face() -> None:
    g = FaceSwap({}, image_size=32)
    targets = toy_faces(8, 32, 1)
    out, soft = g.manipulate_with_mask(
        targets, torch.Generator().manual_seed(0), toy_faces(8, 32, 2)
    )
    diff = (out - targets).abs().mean(dim=1, keepdim=True)
    inner = ellipse_masks(8, 32, scale=torch.full((8,), 0.7)).bool()
    outer = ~ellipse_masks(8, 32, scale=torch.full((8,), 1.3)).bool()
    assert float(diff[inner].mean()) > 0.05
    assert float(diff[outer].mean()) < 0.1 * float(diff[inner].mean())
    assert float(soft.min()) >= 0.0 and float(soft.max()) <= 1.0
    assert torch.equal(out[(soft == 0).expand_as(out)], targets[(soft == 0).expand_as(out)])


def test_donor_skin_is_recoloured_towards_the_target() -> None:
    dark, light = torch.full((1, 3, 32, 32), 0.2), torch.full((1, 3, 32, 32), 0.8)
    g = FaceSwap({"rotate_deg": 0, "zoom": 0, "shift": 0}, image_size=32)
    out = g.manipulate(dark, torch.Generator().manual_seed(0), light)
    centre = out[..., 12:20, 12:20]  # well inside the face: all donor, recoloured
    torch.testing.assert_close(centre, torch.full_like(centre, 0.2), rtol=0, atol=0.02)


def test_missing_or_misshapen_donors_are_clear_errors() -> None:
    g = FaceSwap({}, image_size=32)
    faces = toy_faces(2, 32, 0)
    with pytest.raises(FakescopeError, match="needs donor faces"):
        g.manipulate(faces, torch.Generator())
    with pytest.raises(FakescopeError, match="must have the images' shape"):
        g.manipulate(faces, torch.Generator(), faces[:1])


def test_fit_without_training_is_a_no_op_and_resumes(tmp_path: Path) -> None:
    g = FaceSwap({}, image_size=32)
    assert g.params.steps == 0 and g.modules() == {} and g.optimizers() == {}
    g.fit(toy_faces(4, 32, 0), tmp_path / "zero")
    assert g.step_ == 0 and not (tmp_path / "zero" / CHECKPOINT).exists()
    # steps from a preset run nothing either: no empty checkpoint, the same output
    h = FaceSwap({"steps": 2, "batch_size": 2}, image_size=32)
    h.fit(toy_faces(4, 32, 0), tmp_path / "two")
    assert h.step_ == 0 and not (tmp_path / "two" / CHECKPOINT).exists()
    torch.testing.assert_close(_swap(g), _swap(h), rtol=0, atol=0)
