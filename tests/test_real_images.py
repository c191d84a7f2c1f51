"""End to end on real photos: CIFAR-10 test images from ../shared/data (skipped when absent).

Builds a one-generator stand-in benchmark (nearest-neighbour up-sampling) from
200 real images, trains the default frozen-embedding probe (the packaged
ImageNet EfficientNet-Lite0), and checks it separates the fakes on the test split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from fakescope.data.index import index_dataset
from fakescope.detectors.catalog import DETECTORS
from fakescope.forge.resample import build_resample_benchmark


def test_probe_separates_upsampled_fakes_on_real_photos(cifar_sample: Path, tmp_path: Path) -> None:
    root = build_resample_benchmark(
        cifar_sample,
        tmp_path / "bench",
        per_generator=200,
        generators=["upsample-nearest"],
        progress=False,
    )
    table = index_dataset(root)
    assert len(table) == 200 and set(table["split"]) == {"train", "val", "test"}
    detector = DETECTORS.get("probe")(
        {"img_size": 128, "cache_dir": str(tmp_path / "cache"), "num_workers": 0}
    )
    detector.fit(table[table.split == "train"], table[table.split == "val"])
    test = table[table.split == "test"]
    p_fake = detector.predict_proba(test["path"].tolist())
    assert not np.isnan(p_fake).any()
    assert roc_auc_score(test["label"], p_fake) > 0.8
