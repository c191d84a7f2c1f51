"""The ``cnn`` detector: learns a fake trace, round-trips a bundle, resumes, attributes.

Uses timm's ``test_resnet`` (a 0.4M-parameter ResNet) at 32 px so trainings take seconds.
Data (:func:`write_trace_image`): reals are smooth noise with pixel noise - not
piecewise constant, so their NPR residual is not zero and no trivial "residual is
zero" rule separates them; fakes are the same kind of image plus a period-2
trace (+``TRACE`` grey levels on every other pixel of every other row). Test sets are balanced, so a guessing detector has ROC-AUC ~0.5.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import timm
import torch
from PIL import Image
from safetensors.torch import save_file
from sklearn.metrics import roc_auc_score

from fakescope.data.schema import Sample, make_table
from fakescope.detectors.catalog import DETECTORS, Detector
from fakescope.detectors.cnn import CNNDetector
from fakescope.errors import ConfigError, FakescopeError

BASE: dict[str, Any] = {
    "arch": "test_resnet",
    "img_size": 32,
    "batch_size": 8,
    "num_workers": 0,
    "progress": False,
    "lr": 3e-3,
}


#: Grey levels the fake trace adds on every other pixel of every other row.
TRACE = 40.0


def write_trace_image(path: Path, seed: int, fake: bool, size: int = 32) -> Path:
    """A PNG of bilinearly up-sampled noise + pixel noise; fakes add ``TRACE`` on pixels [::2, ::2]."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.uniform(40, 215, (size // 4, size // 4, 3)).astype(np.uint8))
    img = np.asarray(small.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float64)
    img = img + rng.normal(0, 6, img.shape)
    if fake:
        img[::2, ::2] += TRACE
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(img, 0, 255).round().astype(np.uint8)).save(path, format="PNG")
    return path


def table(
    root: Path, split: str, n: int, offset: int, gens: tuple[str, ...] = ("gen_a",)
) -> pd.DataFrame:
    """``n`` PNGs: even rows real, odd rows fake (checkerboard trace), fakes cycling over ``gens``."""
    rows = []
    for i in range(n):
        fake = i % 2 == 1
        gen = gens[(i // 2) % len(gens)] if fake else ""
        path = write_trace_image(root / split / f"{i}.png", seed=offset + i, fake=fake)
        rows.append(
            Sample(
                str(path), int(fake), generator=gen, family="gan" if fake else "real", split=split
            )
        )
    return make_table(rows)


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """One intra-op thread: on a busy 2-core machine two OpenMP threads run ~50x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    root = tmp_path_factory.mktemp("cnn-data")
    train = table(root, "train", 32, 0)
    bad = root / "train" / "corrupt.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    corrupt = make_table([Sample(str(bad), 1, generator="gen_a", split="train")])
    return {
        "train": pd.concat([train, corrupt], ignore_index=True),
        "val": table(root, "val", 12, 1000),
        "test": table(root, "test", 16, 2000),
    }


@pytest.fixture(scope="module")
def trained(
    data: dict[str, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory
) -> tuple[CNNDetector, list[str]]:
    """A detector trained 3 epochs (the training set holds one corrupt file) + the warnings it raised."""
    det = CNNDetector({**BASE, "epochs": 3})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        det.fit(data["train"], data["val"], workdir=tmp_path_factory.mktemp("cnn-work"))
    return det, [str(w.message) for w in caught]


def test_registered_with_params() -> None:
    assert DETECTORS.get("cnn") is CNNDetector
    det = CNNDetector({"arch": "test_resnet"})
    assert det.embedding_dim == 96  # known before fitting (built on the meta device)
    # defaults: 224 px centre crop at native resolution (never down-scaled)
    assert det.input_config.size == 224 and det.input_config.resize == "native"
    with pytest.raises(ConfigError, match="unknown cnn detector parameter 'archh'"):
        CNNDetector({"archh": "resnet18"})
    with pytest.raises(ConfigError, match="class_weights"):
        CNNDetector({"class_weights": [1.0, -1.0]})


def test_learns_the_fake_trace(
    trained: tuple[CNNDetector, list[str]], data: dict[str, pd.DataFrame]
) -> None:
    det, _ = trained
    test = data["test"]
    p = det.predict_proba(test["path"].tolist())
    y = test["label"].to_numpy()
    assert det.classes_ == ["real", "fake"]
    assert p[y == 1].mean() > p[y == 0].mean() + 0.05
    assert roc_auc_score(y, p) > 0.8
    assert 0.0 <= det.threshold_ <= 1.0
    assert det.fit_result_ is not None and det.fit_result_.history[-1]["val_auc"] > 0.6


def test_reals_leave_an_npr_residual(data: dict[str, pd.DataFrame]) -> None:
    """No zero-residual shortcut: every real has a clearly non-zero NPR residual."""
    from fakescope.models.npr import npr_residual

    reals = data["test"].loc[data["test"]["label"] == 0, "path"]
    x = torch.stack([torch.from_numpy(np.asarray(Image.open(p), dtype=np.float32)) for p in reals])
    residual = npr_residual(x.permute(0, 3, 1, 2)).abs().mean(dim=(1, 2, 3))
    assert (residual > 2.0).all()  # grey levels; a 2x nearest up-sampled image gives exactly 0


def test_corrupt_training_file_is_skipped_with_one_warning(
    trained: tuple[CNNDetector, list[str]],
) -> None:
    _, messages = trained
    skipped = [m for m in messages if "could not be decoded" in m]
    assert len(skipped) == 1 and skipped[0].startswith("1 training and 0 validation")


def test_bundle_round_trip_gives_identical_outputs(
    trained: tuple[CNNDetector, list[str]], data: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    det, _ = trained
    paths = data["test"]["path"].tolist()
    det.save(tmp_path / "bundle")
    assert not list((tmp_path / "bundle").glob("*.ckpt"))
    loaded = Detector.load(tmp_path / "bundle")
    assert isinstance(loaded, CNNDetector) and loaded.classes_ == det.classes_
    assert loaded.threshold_ == det.threshold_ and loaded.params == det.params
    assert np.array_equal(loaded.predict(paths).proba, det.predict(paths).proba)
    emb = loaded.embed(paths[:3])
    assert emb.shape == (3, det.embedding_dim) and np.array_equal(emb, det.embed(paths[:3]))


def test_attribution_classes_real_first(data: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    root = tmp_path / "multi"
    train = table(root, "train", 12, 0, gens=("gen_b", "gen_a"))
    det = CNNDetector({**BASE, "epochs": 1, "target": "generator", "class_weights": "balanced"})
    det.fit(train)
    assert det.classes_ == ["real", "gen_a", "gen_b"]
    pred = det.predict(data["test"]["path"].tolist()[:4])
    assert pred.proba.shape == (4, 3) and np.allclose(pred.proba.sum(axis=1), 1.0, atol=1e-5)
    assert np.allclose(pred.p_fake, 1.0 - pred.proba[:, 0])


def test_resume_and_seeded_runs(data: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    train = data["train"].iloc[:16]
    wd = tmp_path / "work"
    one = CNNDetector({**BASE, "epochs": 1, "seed": 4}).fit(train, workdir=wd)
    again = CNNDetector({**BASE, "epochs": 1, "seed": 4}).fit(train)  # temp workdir, same seed
    w1, w2 = one.state_tensors(), again.state_tensors()
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    assert one.fit_result_ is not None and one.fit_result_.resumed_from is None
    two = CNNDetector({**BASE, "epochs": 2, "seed": 4}).fit(train, workdir=wd)
    assert two.fit_result_ is not None
    assert two.fit_result_.resumed_from == wd / "checkpoints" / "last.ckpt"
    assert two.fit_result_.start_epoch == 1 and two.fit_result_.epochs_done == 2
    w3 = two.state_tensors()
    assert not all(torch.equal(w1[k], w3[k]) for k in w1)  # it trained one more epoch


def test_user_errors(data: dict[str, pd.DataFrame], monkeypatch: pytest.MonkeyPatch) -> None:
    train = data["train"].iloc[:8]
    with pytest.raises(FakescopeError, match="no architecture 'nosuchnet'"):
        CNNDetector({**BASE, "arch": "nosuchnet"}).fit(train)
    with pytest.raises(ConfigError, match="class_weights has 3 values but there are 2 classes"):
        CNNDetector({**BASE, "class_weights": [1, 2, 3]}).fit(train)

    def offline(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("pretrained"):
            raise OSError("cannot reach huggingface.co")
        return real_create(*args, **kwargs)

    real_create = timm.create_model
    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(FakescopeError, match=r"weights=PATH.*pretrained"):
        CNNDetector({**BASE, "arch": "resnet18", "pretrained": True}).fit(train)


def test_local_weights_are_the_start_point(tmp_path: Path) -> None:
    source = timm.create_model("test_resnet", num_classes=1000)
    save_file(
        {k: v.contiguous() for k, v in source.state_dict().items()}, str(tmp_path / "w.safetensors")
    )
    det = CNNDetector({**BASE, "weights": str(tmp_path / "w.safetensors")})
    model = det.new_network(3)
    mine, theirs = model.state_dict(), source.state_dict()
    assert torch.equal(mine["conv1.0.weight"], theirs["conv1.0.weight"])
    assert mine["fc.weight"].shape[0] == 3  # the 1000-class head is dropped
    torch.save(source.state_dict(), tmp_path / "w.pt")
    with pytest.raises(FakescopeError, match="pickle"):
        CNNDetector({**BASE, "weights": str(tmp_path / "w.pt")}).new_network(2)
    other = timm.create_model("resnet18", num_classes=2)
    save_file(
        {k: v.contiguous() for k, v in other.state_dict().items()}, str(tmp_path / "o.safetensors")
    )
    with pytest.raises(ConfigError, match="do not fit"):
        CNNDetector({**BASE, "weights": str(tmp_path / "o.safetensors")}).new_network(2)


def test_balanced_class_weights() -> None:
    det = CNNDetector({"class_weights": "balanced"})
    assert det._class_weights(np.array([0, 0, 0, 1]), 2) == pytest.approx([4 / 6, 4 / 2])
    assert CNNDetector()._class_weights(np.array([0, 1]), 2) is None
