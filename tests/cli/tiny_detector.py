"""A tiny detector registered only in tests: softmax regression on mean colours.

Fast to fit (a few hundred Adam steps on [N, 3] features), so bundle, scan and
CLI tests do not depend on a real network. It is in ``DETECTORS`` as
``tiny-test`` only while a test using :func:`tiny_registered` runs (autouse once
imported into a test module or conftest), so other packages' tests that
enumerate the registry never see it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from fakescope.data.loader import run_batches
from fakescope.data.schema import PATH, encode_targets
from fakescope.data.transforms import InputConfig, eval_transform
from fakescope.detectors.base import DETECTORS, Detector, DetectorParams

NAME = "tiny-test"


class TinyParams(DetectorParams):
    """Tiny detector settings."""

    img_size: int = 32
    steps: int = 200


class TinyDetector(Detector):
    """Mean-colour softmax regression (tests only)."""

    name = NAME
    Params = TinyParams

    def __init__(self, params: object = None) -> None:
        super().__init__(params)  # type: ignore[arg-type]
        self.weight: torch.Tensor | None = None
        self.bias: torch.Tensor | None = None

    @property
    def input_config(self) -> InputConfig:
        return InputConfig(size=self.params.img_size)  # type: ignore[attr-defined]

    @property
    def embedding_dim(self) -> int:
        return 3

    def _features(self, paths: list[str]) -> np.ndarray:
        cfg = self.input_config
        feats, _ = run_batches(
            paths,
            eval_transform(cfg),
            (3, cfg.size, cfg.size),
            self._embed_batch,
            3,
            batch_size=self.params.batch_size,
            num_workers=0,
        )
        return feats

    def _fit(self, train: pd.DataFrame, val: pd.DataFrame | None, workdir: Path | None) -> None:
        y, classes = encode_targets(train, self.params.target)
        x = torch.from_numpy(np.nan_to_num(self._features(train[PATH].tolist())))
        torch.manual_seed(self.params.seed)
        w = torch.zeros(len(classes), 3, requires_grad=True)
        b = torch.zeros(len(classes), requires_grad=True)
        opt = torch.optim.Adam([w, b], lr=0.1)
        target = torch.from_numpy(y)
        for _ in range(self.params.steps):  # type: ignore[attr-defined]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(x @ w.T + b, target).backward()
            opt.step()
        self.weight, self.bias = w.detach(), b.detach()
        self.classes_ = classes

    def _proba_batch(self, x: torch.Tensor) -> np.ndarray:
        assert self.weight is not None and self.bias is not None
        logits = torch.from_numpy(self._embed_batch(x)) @ self.weight.T + self.bias
        return torch.softmax(logits, dim=1).numpy()

    def _embed_batch(self, x: torch.Tensor) -> np.ndarray:
        return x.float().mean(dim=(2, 3)).numpy()

    def _tensors(self) -> dict[str, torch.Tensor]:
        assert self.weight is not None and self.bias is not None
        return {"weight": self.weight, "bias": self.bias}

    def _restore(self, tensors: dict[str, torch.Tensor], directory: Path) -> None:
        self.weight, self.bias = tensors["weight"], tensors["bias"]


@pytest.fixture(autouse=True)
def tiny_registered() -> Iterator[None]:
    """Register :class:`TinyDetector` as ``tiny-test`` for one test, then remove it again."""
    added = NAME not in DETECTORS
    if added:
        DETECTORS.register(NAME)(TinyDetector)
    try:
        yield
    finally:
        if added:
            DETECTORS.unregister(NAME)


def make_dataset(root: Path, n: int = 8, generators: tuple[str, ...] = ("gan",)) -> Path:
    """A ``binary``-layout dataset: ``root/<gen>/{train,val,test}/{0_real,1_fake}/*.png``.

    ``n`` images per label in train, ``max(2, n // 2)`` in val and test, for each generator.
    """
    from tests.conftest import write_image

    seed = 0
    for gen in generators:
        for split, count in (("train", n), ("val", max(2, n // 2)), ("test", max(2, n // 2))):
            for folder, fake in (("0_real", False), ("1_fake", True)):
                for i in range(count):
                    seed += 1
                    write_image(
                        root / gen / split / folder / f"{i}.png", seed, fake=fake, fmt="PNG"
                    )
    return root
