"""Self-blended images (SBI): the same face, jittered and warped, blended back with a soft mask."""

from __future__ import annotations

from pathlib import Path

import torch

from fakescope.forge.generators.catalog import FAMILIES, GENERATORS
from fakescope.forge.generators.face_regions import ellipse_masks, psnr
from fakescope.forge.generators.self_blend import BLEND_RATIOS, SelfBlend
from tests.forge.test_gen_face_swap import toy_faces


def _blend(g: SelfBlend, seed: int = 0, size: int = 32) -> torch.Tensor:
    return g.manipulate(toy_faces(6, size, 1), torch.Generator().manual_seed(seed))


def test_registered_as_a_self_blend_manipulation() -> None:
    cls = GENERATORS.get("self_blend")
    assert cls is SelfBlend and cls.family == "self_blend" and cls.family in FAMILIES
    assert (
        cls.kind == "manipulation"
        and cls.uses_donors is False
        and SelfBlend({}, image_size=8).params.steps == 0
    )


def test_shape_range_and_determinism() -> None:
    g = SelfBlend({}, image_size=32)
    out = _blend(g)
    assert out.shape == (6, 3, 32, 32)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    torch.testing.assert_close(out, _blend(SelfBlend({}, image_size=32)), rtol=0, atol=0)
    assert not torch.equal(out, _blend(g, seed=1))


def test_output_differs_but_stays_close() -> None:
    faces = toy_faces(16, 32, 1)
    out, weight = SelfBlend({}, image_size=32).manipulate_with_mask(
        faces, torch.Generator().manual_seed(0)
    )
    quality = psnr(out, faces)
    assert bool((quality > 20).all()) and bool((quality < 60).all())
    assert float((out - faces).abs().amax()) > 0.05
    # Every blend weight is a feathered mask scaled by one of the SBI ratios.
    assert float(weight.min()) >= 0.0 and float(weight.amax()) <= max(BLEND_RATIOS)
    peaks = weight.flatten(1).amax(1)
    assert all(min(abs(p - r) for r in BLEND_RATIOS) < 0.05 for p in peaks.tolist())


def test_only_the_face_region_changes() -> None:
    faces = toy_faces(8, 32, 1)
    out = SelfBlend({}, image_size=32).manipulate(faces, torch.Generator().manual_seed(0))
    diff = (out - faces).abs().mean(dim=1, keepdim=True)
    outer = ~ellipse_masks(8, 32, scale=torch.full((8,), 1.5)).bool()
    inner = ellipse_masks(8, 32, scale=torch.full((8,), 0.6)).bool()
    assert float(diff[outer].mean()) < 0.1 * float(diff[inner].mean())
    torch.testing.assert_close(out[..., :3, :3], faces[..., :3, :3], rtol=0, atol=0)


def test_fit_with_zero_steps_and_other_sizes(tmp_path: Path) -> None:
    g = SelfBlend({}, image_size=20)
    g.fit(toy_faces(4, 20, 0), tmp_path)
    assert g.step_ == 0 and _blend(g, size=20).shape == (6, 3, 20, 20)
