"""Learned partial inpainting: a small U-Net re-draws the eyes, nose or mouth of real faces."""

from __future__ import annotations

from pathlib import Path

import torch

from fakescope.forge.generators.catalog import FAMILIES, GENERATORS
from fakescope.forge.generators.face_regions import ellipse_masks
from fakescope.forge.generators.inpaint import Inpaint, hole_l1, holed_input, smooth_fill
from tests.forge.test_gen_face_swap import toy_faces

TINY = {"batch_size": 8, "width": 8}


def _masked_l1(g: Inpaint, faces: torch.Tensor) -> float:
    masks = g.masks(len(faces), torch.Generator().manual_seed(99))
    with torch.no_grad():
        return float(hole_l1(g.net(holed_input(faces, masks)), faces, masks))


def test_registered_as_an_inpaint_manipulation() -> None:
    cls = GENERATORS.get("inpaint")
    assert cls is Inpaint and cls.family == "inpaint" and cls.family in FAMILIES
    assert cls.kind == "manipulation" and cls.uses_donors is False


def test_shape_range_and_determinism() -> None:
    faces = toy_faces(4, 16, 1)
    a = Inpaint(TINY, image_size=16, seed=3).manipulate(faces, torch.Generator().manual_seed(0))
    b = Inpaint(TINY, image_size=16, seed=3).manipulate(faces, torch.Generator().manual_seed(0))
    c = Inpaint(TINY, image_size=16, seed=4).manipulate(faces, torch.Generator().manual_seed(0))
    assert a.shape == (4, 3, 16, 16)
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)  # the weights come from the seed


def test_only_the_masked_face_part_changes() -> None:
    faces = toy_faces(8, 24, 1)  # 24 px: the net pads to a multiple of 8 and crops back
    out, masks = Inpaint(TINY, image_size=24).manipulate_with_mask(
        faces, torch.Generator().manual_seed(0)
    )
    keep = (masks == 0).expand_as(out)
    assert torch.equal(out[keep], faces[keep])
    assert float((out - faces).abs()[~keep].mean()) > 0.01
    # Every mask is a non-empty part of the face, within the inner-face ellipse's box.
    assert bool((masks.flatten(1).sum(1) > 0).all())
    assert float((masks * (1 - ellipse_masks(8, 24, scale=torch.full((8,), 1.2)))).sum()) == 0


def test_training_lowers_the_masked_l1(tmp_path: Path) -> None:
    faces = toy_faces(32, 16, 5)
    g = Inpaint({**TINY, "steps": 60, "lr": 1e-2}, image_size=16)
    before = _masked_l1(g, faces)
    g.fit(faces, tmp_path)
    assert _masked_l1(g, faces) < 0.8 * before
    resumed = Inpaint({**TINY, "steps": 60}, image_size=16)
    assert resumed.load_checkpoint(tmp_path) and resumed.step_ == 60
    torch.testing.assert_close(_masked_l1(resumed, faces), _masked_l1(g, faces))


def test_smooth_fill_interpolates_the_surroundings() -> None:
    ramp = torch.linspace(0, 1, 20).view(1, 1, 1, 20).expand(1, 3, 20, 20)
    hole = torch.zeros(1, 1, 20, 20)
    hole[..., 6:14, 6:14] = 1
    filled = smooth_fill(ramp * (1 - hole), hole)
    keep = (hole == 0).expand_as(filled)
    torch.testing.assert_close(filled[keep], ramp[keep])
    inside = filled[..., 6:14, 6:14]
    assert float(inside.min()) > 0.15 and float(inside.max()) < 0.85  # between the hole's edges
    assert float(inside[..., -1].mean()) > float(inside[..., 0].mean())  # and follows the ramp
