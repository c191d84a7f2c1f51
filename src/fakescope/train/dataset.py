"""The training Dataset over a sample table, a skip-failed collate and a seeded sampler.

A corrupt training file never stops training: :class:`SampleDataset` returns
``ok=False`` for it and :func:`collate_ok` drops it from the batch, reporting how
many it dropped, so the training module can count them and warn once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from fakescope.data.decode import load_image
from fakescope.data.transforms import ImageTransform, InputConfig, eval_transform
from fakescope.errors import DecodeError

if TYPE_CHECKING:
    from fakescope.data.augment import AugmentConfig


class Item(NamedTuple):
    """One dataset item: image ``x`` [3, H, W], class index ``y``, ``ok`` False if it failed."""

    x: torch.Tensor
    y: int
    ok: bool


class Batch(NamedTuple):
    """A collated batch: ``x`` [B, 3, H, W], ``y`` [B] int64, ``failed`` = items dropped."""

    x: torch.Tensor
    y: torch.Tensor
    failed: int


class SampleDataset(Dataset[Item]):
    """Decodes ``paths[i]``, applies ``transform`` and pairs it with ``targets[i]``.

    ``targets`` [N] are class indices (see :func:`fakescope.data.schema.encode_targets`).
    A file that fails to decode yields zeros of ``shape`` with ``ok=False``.
    """

    def __init__(
        self,
        paths: Sequence[str],
        targets: np.ndarray | Sequence[int],
        transform: ImageTransform,
        shape: tuple[int, int, int],
    ) -> None:
        if len(paths) != len(targets):
            raise ValueError(f"{len(paths)} paths but {len(targets)} targets")
        self.paths = [str(p) for p in paths]
        self.targets = [int(t) for t in targets]
        self.transform = transform
        self.shape = shape

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> Item:
        try:
            x = self.transform(load_image(self.paths[i]))
        except DecodeError:
            return Item(torch.zeros(self.shape), self.targets[i], False)
        return Item(x, self.targets[i], True)


def fit_datasets(
    train_paths: Sequence[str],
    y: np.ndarray,
    val_paths: Sequence[str] | None,
    y_val: np.ndarray | None,
    cfg: InputConfig,
    augment: AugmentConfig,
) -> tuple[SampleDataset, SampleDataset | None]:
    """The training dataset (``augment``-ed, ``cfg`` geometry) and the validation one (eval transform).

    ``y`` / ``y_val`` [N] class indices; the validation dataset is None without
    validation paths or targets. Images are [3, cfg.size, cfg.size].
    """
    from fakescope.data.augment import train_transform

    shape = (3, cfg.size, cfg.size)
    train_ds = SampleDataset(list(train_paths), y, train_transform(cfg, augment), shape)
    if val_paths is None or y_val is None:
        return train_ds, None
    return train_ds, SampleDataset(list(val_paths), y_val, eval_transform(cfg), shape)


def collate_ok(items: list[Item]) -> Batch:
    """Stack the decodable items; ``failed`` counts the dropped ones (``x`` may have 0 rows)."""
    good = [it for it in items if it.ok]
    if not good:
        shape = tuple(items[0].x.shape) if items else (3, 1, 1)
        return Batch(torch.empty((0, *shape)), torch.empty(0, dtype=torch.int64), len(items))
    x = torch.stack([it.x for it in good])
    y = torch.tensor([it.y for it in good], dtype=torch.int64)
    return Batch(x, y, len(items) - len(good))


class EpochShuffleSampler(Sampler[int]):
    """A permutation of ``range(n)`` fixed by ``(seed, epoch)``.

    Lightning calls :meth:`set_epoch` before each epoch, so the data order of
    epoch ``e`` is the same whether or not training was interrupted and resumed.
    """

    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the permutation of ``epoch``."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())
