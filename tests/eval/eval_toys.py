"""A tiny, exact fake Detector and image helpers for the evaluation tests (import as eval_toys).

``ToyDetector`` needs no training and no network:

* ``mode="red"``: P(fake) = mean red channel of the 32 px image (in [0, 1]), so a
  test image painted with red value r has P(fake) = r / 255 exactly;
* ``mode="hf"``: P(fake) = 8 x mean absolute horizontal pixel difference,
  clipped to [0, 1] - high for the checkerboard fakes of ``write_image``,
  sensitive to JPEG / blur;
* ``mode="nearest"``: learns the mean red of train reals and fakes and returns
  d_real / (d_real + d_fake) - so what it was trained on matters.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from fakescope.data.schema import LABEL, PATH, Sample, make_table
from fakescope.data.transforms import InputConfig
from fakescope.detectors.base import Detector, DetectorParams


class ToyParams(DetectorParams):
    """Toy settings: scoring mode; single-process loading for speed."""

    mode: str = "red"
    num_workers: int | None = 0
    batch_size: int = 16


class ToyDetector(Detector):
    """Deterministic detector whose P(fake) is computed from pixels (see module docstring)."""

    name = "toy"
    Params = ToyParams

    def __init__(self, params: dict[str, object] | None = None) -> None:
        super().__init__(params)
        self.fit_log: list[dict[str, object]] = []
        self.means_: tuple[float, float] = (0.0, 1.0)

    @property
    def input_config(self) -> InputConfig:
        return InputConfig(size=32, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), resize="crop")

    @property
    def embedding_dim(self) -> int:
        return 3

    def _fit(self, train: pd.DataFrame, val: pd.DataFrame | None, workdir: Path | None) -> None:
        self.fit_log.append(
            {"train": train.copy(), "val": None if val is None else val.copy(), "workdir": workdir}
        )
        if self.params.mode == "nearest":  # type: ignore[attr-defined]
            red = self.predict_red(train[PATH].tolist())
            y = train[LABEL].to_numpy()
            self.means_ = (float(red[y == 0].mean()), float(red[y == 1].mean()))
        self.classes_ = ["real", "fake"]

    def predict_red(self, paths: list[str]) -> np.ndarray:
        out, _ = self._run(paths, lambda x: x[:, 0].mean((1, 2)).numpy()[:, None], 1, None, None)
        return out[:, 0]

    def _proba_batch(self, x: torch.Tensor) -> np.ndarray:
        mode = self.params.mode  # type: ignore[attr-defined]
        if mode == "red":
            p = x[:, 0].mean((1, 2))
        elif mode == "hf":
            p = ((x[:, :, :, 1:] - x[:, :, :, :-1]).abs().mean((1, 2, 3)) * 8).clamp(0, 1)
        else:
            red = x[:, 0].mean((1, 2))
            d_real, d_fake = (red - self.means_[0]).abs(), (red - self.means_[1]).abs()
            p = d_real / (d_real + d_fake).clamp_min(1e-9)
        p_np = p.double().numpy()
        return np.stack([1 - p_np, p_np], axis=1)

    def _embed_batch(self, x: torch.Tensor) -> np.ndarray:
        return x.mean((2, 3)).numpy()

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {"means": torch.tensor(self.means_)}

    def _restore(self, tensors: dict[str, torch.Tensor], directory: Path) -> None:
        low, high = tensors["means"].tolist()
        self.means_ = (float(low), float(high))


def red_image(path: Path, red: int) -> str:
    """A 32 px PNG of constant colour (red, 90, 160): ToyDetector("red") gives red / 255."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 32), (red, 90, 160)).save(path, format="PNG")
    return str(path)


def red_table(root: Path, rows: list[tuple[int, int, str, str]]) -> pd.DataFrame:
    """Sample table from ``(red, label, generator, split)`` rows, one PNG each."""
    samples = [
        Sample(red_image(root / f"{split}_{i}_{label}.png", red), label, gen, split=split)
        for i, (red, label, gen, split) in enumerate(rows)
    ]
    return make_table(samples)


def factory(mode: str = "red", made: list[ToyDetector] | None = None) -> Callable[[], ToyDetector]:
    """A detector factory for protocols; ``made`` (when given) collects every instance."""

    def make() -> ToyDetector:
        det = ToyDetector({"mode": mode})
        if made is not None:
            made.append(det)
        return det

    return make


def fitted(mode: str = "red") -> ToyDetector:
    """A ToyDetector ready to predict (no training data needed for red / hf modes)."""
    det = ToyDetector({"mode": mode})
    det.classes_ = ["real", "fake"]
    return det
