"""Build tiny datasets of every supported layout with known counts (shared by the data tests)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd

from tests.conftest import write_image

Counts = dict[tuple[str, str, int], int]


def fill(folder: Path, n: int, fake: bool, seed: int = 0, ext: str = "png") -> None:
    """Write ``n`` tiny images into ``folder``."""
    fmt = "PNG" if ext == "png" else "JPEG"
    for i in range(n):
        write_image(folder / f"img{i:03d}.{ext}", seed=seed + i, size=8, fake=fake, fmt=fmt)


def counts(table: pd.DataFrame) -> Counts:
    """``{(split, generator, label): n}`` of a sample table."""
    keys = zip(table["split"], table["generator"], table["label"], strict=True)
    return dict(Counter((str(s), str(g), int(lab)) for s, g, lab in keys))


def build_binary(root: Path) -> Counts:
    """``<gen>/[<sub>/]<split>/{0_real,1_fake}`` plus files that must be ignored or kept."""
    spec = {
        ("gaugan", "", "train"): (3, 2),
        ("gaugan", "", "val"): (1, 1),
        ("gaugan", "", "test"): (2, 2),
        ("progan", "car", "test"): (2, 1),
        ("progan", "cat", "test"): (1, 3),
    }
    expected: Counts = Counter()
    for (gen, sub, split), (n_real, n_fake) in spec.items():
        base = root / gen / sub / split if sub else root / gen / split
        fill(base / "0_real", n_real, fake=False)
        fill(base / "1_fake", n_fake, fake=True, seed=100)
        expected[(split, gen, 0)] += n_real
        expected[(split, gen, 1)] += n_fake
    # ignored: non-image extensions and hidden files; kept: a corrupt file with an image extension
    (root / "gaugan" / "train" / "0_real" / "notes.txt").write_text("not an image")
    (root / "gaugan" / "train" / "0_real" / ".DS_Store").write_bytes(b"\0\1")
    (root / "README.md").write_text("readme")
    (root / "gaugan" / "train" / "1_fake" / "broken.JPG").write_bytes(b"garbage")
    expected[("train", "gaugan", 1)] += 1
    return dict(expected)


def build_binary_split_first(root: Path) -> Counts:
    """``<split>/<gen>/[<sub>/]{0_real,1_fake}`` (CNNDetection's training set)."""
    fill(root / "train" / "progan" / "horse" / "0_real", 2, fake=False)
    fill(root / "train" / "progan" / "horse" / "1_fake", 3, fake=True)
    fill(root / "val" / "progan" / "horse" / "0_real", 1, fake=False)
    fill(root / "val" / "progan" / "horse" / "1_fake", 1, fake=True)
    fill(root / "test" / "biggan" / "0_real", 2, fake=False, ext="jpg")
    fill(root / "test" / "biggan" / "1_fake", 2, fake=True, ext="jpg")
    return {
        ("train", "progan", 0): 2,
        ("train", "progan", 1): 3,
        ("val", "progan", 0): 1,
        ("val", "progan", 1): 1,
        ("test", "biggan", 0): 2,
        ("test", "biggan", 1): 2,
    }


def build_single_generator(root: Path, n: int = 20) -> None:
    """A root that directly holds ``0_real``/``1_fake`` (no split folders)."""
    fill(root / "0_real", n, fake=False)
    fill(root / "1_fake", n, fake=True)


def build_classes(root: Path) -> Counts:
    """``<split>/<class>/`` with a ``Real`` class and two fake classes; "valid" means val."""
    spec = {"train": (3, 2, 1), "valid": (1, 1, 1), "test": (2, 1, 2)}
    expected: Counts = {}
    for split_dir, (n_real, n_df, n_nt) in spec.items():
        split = "val" if split_dir == "valid" else split_dir
        fill(root / split_dir / "Real", n_real, fake=False)
        fill(root / split_dir / "NeuralTextures", n_nt, fake=True)
        fill(root / split_dir / "Deepfakes", n_df, fake=True)
        expected.update(
            {
                (split, "", 0): n_real,
                (split, "Deepfakes", 1): n_df,
                (split, "NeuralTextures", 1): n_nt,
            }
        )
    return expected


def build_tasks(root: Path) -> Counts:
    """``<Task>/{train,val}/{real,fake}`` (FaceForensics++ / CoReD)."""
    expected: Counts = {}
    for task, n in (("Deepfakes", 2), ("Face2Face", 1)):
        for split in ("train", "val"):
            fill(root / task / split / "real", n, fake=False)
            fill(root / task / split / "fake", n + 1, fake=True)
            expected[(split, task, 0)] = n
            expected[(split, task, 1)] = n + 1
    return expected


def build_genimage(root: Path) -> Counts:
    """``<gen>/[<sub>/]{train,val}/{ai,nature}`` (the sub level as in the released archives)."""
    fill(root / "ADM" / "imagenet_ai_0508_adm" / "train" / "ai", 3, fake=True)
    fill(root / "ADM" / "imagenet_ai_0508_adm" / "train" / "nature", 2, fake=False)
    fill(root / "ADM" / "imagenet_ai_0508_adm" / "val" / "ai", 1, fake=True)
    fill(root / "ADM" / "imagenet_ai_0508_adm" / "val" / "nature", 1, fake=False)
    fill(root / "BigGAN" / "train" / "ai", 2, fake=True)
    fill(root / "BigGAN" / "train" / "nature", 2, fake=False)
    fill(root / "BigGAN" / "val" / "ai", 1, fake=True)
    fill(root / "BigGAN" / "val" / "nature", 2, fake=False)
    return {
        ("train", "ADM", 1): 3,
        ("train", "ADM", 0): 2,
        ("val", "ADM", 1): 1,
        ("val", "ADM", 0): 1,
        ("train", "BigGAN", 1): 2,
        ("train", "BigGAN", 0): 2,
        ("val", "BigGAN", 1): 1,
        ("val", "BigGAN", 0): 2,
    }


def build_manifest(root: Path) -> Counts:
    """``manifest.csv`` with relative paths, word and number labels, and an extra column."""
    fill(root / "imgs", 5, fake=False)
    rows = [
        ("imgs/img000.png", "real", "", "train"),
        ("imgs/img001.png", "0", "", "train"),
        ("imgs/img002.png", "fake", "sd14", "valid"),
        ("imgs/img003.png", "1", "sd14", "test"),
        ("imgs/img004.png", "FAKE", "glide", "test"),
    ]
    table = pd.DataFrame(rows, columns=["path", "label", "generator", "split"])
    table["source"] = "web"
    table.to_csv(root / "manifest.csv", index=False)
    return {
        ("train", "", 0): 2,
        ("val", "sd14", 1): 1,
        ("test", "sd14", 1): 1,
        ("test", "glide", 1): 1,
    }
