"""Face-level verdicts (``faces=True`` of :class:`~fakescope.inference.verdict.VerdictModel`).

Each image's faces are found and cropped (:mod:`fakescope.data.faces`); every
crop gets its verdict from the one verdict function (through ``decide``, the
model's :meth:`VerdictModel.decide_images` passed in by the model, which imports
this module); the image's :class:`Verdict` comes from
:func:`fakescope.inference.decision.merge_faces`: the one of its most-fake face
(highest raw P(fake); higher = more fake), reason suffixed ``"; 1 face"`` /
``"; most-fake of N faces"``, with every face in :attr:`Verdict.faces`. An image
without a face is scored whole, reason ``"no face found; ..."`` and ``faces == ()``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fakescope.data.decode import load_image
from fakescope.data.faces import Box, FaceSettings, face_crops
from fakescope.errors import ConfigError, DecodeError
from fakescope.inference.decision import error_verdict, merge_faces
from fakescope.inference.types import FaceVerdict, Verdict

if TYPE_CHECKING:
    from PIL import Image

#: Whole-image verdicts: ``(images, names, raw P(fake) cut) -> [Verdict]`` in order.
ImageDecider = Callable[[Sequence["Image.Image"], Sequence[str], float], list[Verdict]]


def decide_faces(
    decide: ImageDecider,
    images: Sequence[Image.Image],
    names: Sequence[str],
    cut: float,
    settings: FaceSettings | None = None,
) -> list[Verdict]:
    """Verdicts for in-memory images, face by face, merged per image (module docstring).

    ``cut``: the raw P(fake) threshold; ``settings``: face detection and crop margin.
    """
    jobs: list[Image.Image] = []
    found: list[tuple[list[Box], list[Box]]] = []
    for image in images:
        boxes, crops, crop_images = face_crops(image, settings)
        found.append((boxes, crops))
        jobs.extend(crop_images if boxes else [image])
    scored = decide(jobs, [f"crop-{i}" for i in range(len(jobs))], cut)
    out: list[Verdict] = []
    k = 0
    for name, (boxes, crops) in zip(names, found, strict=True):
        if not boxes:
            out.append(merge_faces(name, scored[k], ()))
            k += 1
            continue
        per_face = [
            FaceVerdict(box, crop, scored[k + j])
            for j, (box, crop) in enumerate(zip(boxes, crops, strict=True))
        ]
        k += len(boxes)
        out.append(merge_faces(name, None, per_face))
    return out


def decide_face_files(
    decide: ImageDecider,
    paths: Sequence[str | Path],
    cut: float,
    batch_size: int | None,
    default_batch_size: int,
    settings: FaceSettings | None = None,
) -> list[Verdict]:
    """:func:`decide_faces` for image files, ``batch_size`` files at a time (default:
    ``default_batch_size``, the detector's); unreadable files get an ``error`` verdict,
    never an exception."""
    if batch_size is not None and batch_size < 1:
        raise ConfigError(f"batch size must be at least 1, got {batch_size}")
    step = batch_size or default_batch_size
    names = [str(p) for p in paths]
    out: list[Verdict] = []
    for start in range(0, len(names), step):
        chunk = names[start : start + step]
        images: list[Image.Image] = []
        good: list[str] = []
        failed: dict[str, str] = {}
        for name in chunk:
            try:
                images.append(load_image(name))
                good.append(name)
            except DecodeError as exc:
                failed[name] = str(exc)
        scored = iter(decide_faces(decide, images, good, cut, settings) if images else [])
        for name in chunk:
            if name in failed:
                out.append(error_verdict(name, failed[name], faces=()))
            else:
                out.append(next(scored))
    return out


#: Extra results-table columns with faces: the number of faces and their boxes + scores.
FACES_COL = "faces"
FACE_BOXES_COL = "face_boxes"


def face_columns(verdicts: Sequence[Verdict]) -> dict[str, list[object]]:
    """Columns for a results table: ``faces`` (count; None for failed files) and
    ``face_boxes`` (JSON list of ``{"box": [x0, y0, x1, y1], "p_fake": ..., "verdict": ...}``)."""
    counts: list[object] = []
    boxes: list[object] = []
    for v in verdicts:
        if v.faces is None or v.error:
            counts.append(None)
            boxes.append("")
            continue
        counts.append(len(v.faces))
        rows = [
            {"box": list(f.box), "p_fake": f.verdict.p_fake, "verdict": f.verdict.verdict}
            for f in v.faces
        ]
        boxes.append(json.dumps(rows))
    return {FACES_COL: counts, FACE_BOXES_COL: boxes}
