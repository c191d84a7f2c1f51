"""Dataset audit: can a detector separate real from fake without looking at the content?

For any sample table (any layout), per generator/source, every file's header is
read (no pixel decoding) into format properties - container, colour mode,
width x height, sides a multiple of 32, JPEG quality and chroma subsampling,
progressive, EXIF and ICC presence - and the file size per pixel.

Two numbers per source say how much the format alone gives away:

* per property, a **leave-one-out rule accuracy**: each file is classified by
  the majority class of the *other* files that share its property value
  (class frequencies normalised, so 0.5 = chance; a value no other file has
  says nothing). A property unique to every file (e.g. odd sizes) cannot
  score by memorisation; only values shared within a class count.
* **header AUC**: the cross-validated ROC-AUC of a random forest that sees
  all header properties together (never the pixels or the file size).

A source is **flagged** (``shortcut``) when the header AUC reaches
:data:`FLAG_AUC`: a detector can then learn the format instead of the
generator's traces, and its score measures the file format. The file size
per pixel is reported (its AUC) but does not flag on its own: for lossless
files it depends on the content (smooth fakes compress better), which is
part of what a detector may legitimately see. Remove a shortcut with the data
config's ``normalize`` option (:mod:`fakescope.data.normalize`).

Two checks on **decoded pixels** (a seeded sample of at most
:data:`PIXEL_SAMPLE` images per class and source) catch what a re-encode
does not remove:

* ``jpeg history`` (:mod:`fakescope.data.jpeg_history`): how strongly the
  8x8 DCT coefficients on the JPEG grid sit on a quantisation lattice - real
  photos carry it, reconstructions do not (an 8-px pattern of a decoder is not
  mistaken for it); the blockiness across 8-px boundaries is reported beside it
  but never flags;
* ``sharpness`` (:mod:`fakescope.data.sharpness`): the high-frequency energy
  share (reconstructions are blurrier).

Each gives a signed real-vs-fake AUC (above 0.5: fakes score higher) and flags
when ``|AUC - 0.5|`` reaches the module's ``FLAG_MARGIN`` with at least
:data:`~fakescope.data.pixels.MIN_IMAGES` scored images per class.
:attr:`SourceAudit.flagged` stays the header verdict (what ``normalize`` fixes);
:attr:`SourceAudit.verdict` is "shortcut" when any check flags, and
:meth:`SourceAudit.describe` says which.

Scores: AUCs are P(fake)-direction folded (``max(auc, 1 - auc)``), so 0.5 means
the property says nothing and 1.0 means it separates the classes perfectly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from fakescope.data import jpeg_history, sharpness
from fakescope.data.pixels import PixelCheck, centre_crop, compare, read_luma, sample_per_group
from fakescope.data.schema import GENERATOR, LABEL, PATH
from fakescope.errors import DataError, DecodeError

#: A source whose header AUC reaches this is flagged as a format shortcut.
FLAG_AUC = 0.8
#: Header properties (categorical) read from each file.
PROPERTIES: tuple[str, ...] = (
    "container",
    "mode",
    "size",
    "side32",
    "jpeg_quality",
    "subsampling",
    "progressive",
    "exif",
    "icc",
)
BYTES_PER_PIXEL = "bytes_per_pixel"
UNREADABLE = "unreadable"
#: Images per class and source whose pixels are decoded for the pixel checks (seeded sample).
PIXEL_SAMPLE = 100
#: Names of the pixel checks that flag, as they appear in verdicts.
JPEG_HISTORY = "jpeg history"
SHARPNESS = "sharpness"


def file_properties(path: str | Path) -> dict[str, str | float]:
    """Header properties of one file (all strings) plus its ``bytes_per_pixel``.

    An unreadable file gets ``container == "unreadable"`` and NaN size per pixel.
    """
    from fakescope.forge.encode import estimate_quality

    path = Path(path)
    props: dict[str, str | float] = dict.fromkeys(PROPERTIES, "-")
    try:
        with Image.open(path) as img:
            w, h = img.size
            props["container"] = str(img.format)
            props["mode"] = img.mode
            props["size"] = f"{w}x{h}"
            props["side32"] = str(w % 32 == 0 and h % 32 == 0)
            props["exif"] = str(bool(img.info.get("exif")) or bool(img.getexif()))
            props["icc"] = str(bool(img.info.get("icc_profile")))
            if img.format == "JPEG":
                from PIL import JpegImagePlugin

                raw = img.quantization  # type: ignore[attr-defined]
                tables = tuple(tuple(int(v) for v in raw[k]) for k in sorted(raw))
                q, exact = estimate_quality(tables)
                props["jpeg_quality"] = f"{q}" if exact else f"~{q}"
                props["subsampling"] = str(JpegImagePlugin.get_sampling(img))
                props["progressive"] = str(
                    bool(img.info.get("progressive") or img.info.get("progression"))
                )
        props[BYTES_PER_PIXEL] = path.stat().st_size / float(max(w * h, 1))
    except (OSError, ValueError, SyntaxError, UnidentifiedImageError):
        props["container"] = UNREADABLE
        props[BYTES_PER_PIXEL] = float("nan")
    return props


def loo_rule_accuracy(values: Sequence[str], labels: np.ndarray) -> float:
    """Balanced accuracy [0, 1] of "the majority class of the other files with my value".

    ``labels`` [N] in {0, 1}. Counts per class are normalised by the class size, so
    a value shared equally by both classes (or seen on no other file) scores 0.5;
    rate differences within the leave-one-out perturbation (2 / smallest class) are ties.
    """
    y = np.asarray(labels, dtype=np.int64)
    n = np.bincount(y, minlength=2).astype(np.float64)
    if (n == 0).any():
        return float("nan")
    frame = pd.DataFrame({"v": list(values), "y": y})
    counts = frame.groupby(["v", "y"]).size().unstack(fill_value=0).reindex(columns=[0, 1])
    counts = counts.fillna(0)
    own = counts.loc[frame["v"]].to_numpy(dtype=np.float64, copy=True)
    own[np.arange(len(y)), y] -= 1.0  # leave this file out
    n_other = n[None, :] - np.eye(2)[y]  # class sizes without this file
    rate = own / np.maximum(n_other, 1.0)
    # leaving a file out moves its own class's rate by 1/n: differences that small are ties
    margin = 2.0 / n.min()
    diff = rate[:, 1] - rate[:, 0]
    score = np.where(diff > margin, 1.0, np.where(diff < -margin, 0.0, 0.5))
    tpr = score[y == 1].mean()
    tnr = 1.0 - score[y == 0].mean()
    return float((tpr + tnr) / 2.0)


def folded_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """``max(auc, 1 - auc)`` of ``scores`` for ``labels`` (NaN when undefined)."""
    from sklearn.metrics import roc_auc_score

    ok = ~np.isnan(scores)
    y = labels[ok]
    if len(np.unique(y)) < 2:
        return float("nan")
    auc = float(roc_auc_score(y, scores[ok]))
    return max(auc, 1.0 - auc)


def header_auc(props: pd.DataFrame, labels: np.ndarray, seed: int = 0) -> float:
    """Cross-validated folded ROC-AUC of a random forest on the one-hot header properties.

    0.5 when every property is constant (nothing to learn). Uses up to 5
    stratified folds (fewer for tiny classes).
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    x = pd.get_dummies(props[list(PROPERTIES)].astype(str))
    x = x.loc[:, x.nunique() > 1]
    y = np.asarray(labels, dtype=np.int64)
    folds = int(min(5, np.bincount(y, minlength=2).min()))
    if x.shape[1] == 0 or folds < 2:
        return 0.5
    forest = RandomForestClassifier(n_estimators=100, min_samples_leaf=2, random_state=seed)
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    p = cross_val_predict(forest, x.to_numpy(), y, cv=cv, method="predict_proba")[:, 1]
    return folded_auc(y, p)


@dataclass
class SourceAudit:
    """The audit of one generator/source (see the module docstring)."""

    source: str
    real: int
    fake: int
    #: Cross-validated folded AUC of all header properties together.
    header_auc: float
    #: Folded AUC of the file size per pixel (reported; content-dependent).
    bytes_auc: float
    #: Leave-one-out rule accuracy per header property.
    property_accuracy: dict[str, float] = field(default_factory=dict)
    #: Most common value per property and class, e.g. {"container": ("JPEG", "PNG")}.
    typical: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: JPEG-lattice score compared between the classes (None: pixels not checked).
    jpeg_history: PixelCheck | None = None
    #: High-frequency energy share compared between the classes (None: not checked).
    sharpness: PixelCheck | None = None
    #: 8-px blockiness compared between the classes; reported, never flags.
    blockiness: PixelCheck | None = None

    @property
    def flagged(self) -> bool:
        """True when the header alone separates the classes (header AUC >= FLAG_AUC)."""
        return bool(self.header_auc >= FLAG_AUC)

    @property
    def pixel_flags(self) -> list[str]:
        """The pixel checks that separate the classes: "jpeg history", "sharpness"."""
        checks = ((JPEG_HISTORY, self.jpeg_history), (SHARPNESS, self.sharpness))
        return [name for name, check in checks if check is not None and check.flagged]

    @property
    def reasons(self) -> list[str]:
        """Every flag: "format" (the header) and the :attr:`pixel_flags`."""
        return (["format"] if self.flagged else []) + self.pixel_flags

    @property
    def verdict(self) -> str:
        """ "shortcut" when any check flags (header or pixels), else "pass"."""
        return "shortcut" if self.reasons else "pass"

    def describe(self) -> str:
        """One line: "pass" or "shortcut (header AUC 0.94: container; jpeg history AUC 0.08 ...)"."""
        parts = []
        if self.flagged:
            why = ", ".join(self.giveaways()) or "several properties together"
            parts.append(f"header AUC {self.header_auc:.2f}: {why}")
        if self.jpeg_history is not None and JPEG_HISTORY in self.pixel_flags:
            who = "reals" if self.jpeg_history.auc < 0.5 else "fakes"
            parts.append(
                f"jpeg history AUC {self.jpeg_history.auc:.2f}: {who} carry more JPEG history"
            )
        if self.sharpness is not None and SHARPNESS in self.pixel_flags:
            how = "blurrier" if self.sharpness.auc < 0.5 else "sharper"
            parts.append(f"sharpness AUC {self.sharpness.auc:.2f}: fakes {how}")
        return f"shortcut ({'; '.join(parts)})" if parts else "pass"

    def giveaways(self, top: int = 3) -> list[str]:
        """The properties that separate best (rule accuracy >= 0.7), strongest first."""
        ranked = sorted(self.property_accuracy.items(), key=lambda kv: -kv[1])
        return [name for name, acc in ranked[:top] if acc >= 0.7]


def audit_table(
    table: pd.DataFrame, *, seed: int = 0, pixel_sample: int = PIXEL_SAMPLE
) -> list[SourceAudit]:
    """Audit every generator of a sample table (columns ``path``, ``label``, ``generator``).

    Reals are audited with the fakes of the same generator (layouts such as
    ``binary`` put each source's reals beside its fakes). When the reals have no
    generator (one shared real pool), every fake generator is audited against
    all reals. The pixel checks decode at most ``pixel_sample`` images per class
    and source (seeded; 0 skips them, leaving their fields None); a shared real
    is decoded once. Raises :class:`DataError` for an empty table.
    """
    if len(table) == 0:
        raise DataError("the dataset is empty; nothing to audit (check the path and layout)")
    props = pd.DataFrame([file_properties(p) for p in table[PATH]], index=table.index)
    labels = table[LABEL].to_numpy(dtype=np.int64)
    gens = table[GENERATOR].astype(str).to_numpy()
    fake_gens = sorted({g for g, y in zip(gens, labels, strict=True) if y == 1})
    cache: dict[str, dict[str, float]] = {}
    out = []
    for gen in fake_gens:
        own_reals = (gens == gen) & (labels == 0)
        reals = own_reals if own_reals.any() else labels == 0
        mask = reals | ((gens == gen) & (labels == 1))
        audit = _audit_source(gen, props[mask], labels[mask], seed)
        if pixel_sample > 0:
            _add_pixel_checks(audit, table[mask], pixel_sample, seed, cache)
        out.append(audit)
    return out


def _pixel_scores(path: str) -> dict[str, float]:
    """The per-image pixel scores of one file (NaN for each when it cannot be decoded)."""
    try:
        luma = read_luma(path)
    except DecodeError:
        nan = float("nan")
        return {jpeg_history.QUANT: nan, jpeg_history.BLOCKINESS: nan, sharpness.SHARPNESS: nan}
    scores = jpeg_history.luma_scores(luma)
    scores[sharpness.SHARPNESS] = sharpness.high_frequency_ratio(centre_crop(luma, sharpness.CROP))
    return scores


def _add_pixel_checks(
    audit: SourceAudit,
    rows: pd.DataFrame,
    cap: int,
    seed: int,
    cache: dict[str, dict[str, float]],
) -> None:
    """Fill ``audit``'s pixel checks from a seeded sample of ``rows`` (``cache``: path -> scores)."""
    chosen = sample_per_group(rows, rows[LABEL], cap, seed)
    paths = [p for key in sorted(chosen) for p in chosen[key]]
    y = np.array([int(key) for key in sorted(chosen) for _ in chosen[key]], dtype=np.int64)
    for p in paths:
        if p not in cache:
            cache[p] = _pixel_scores(p)
    if len(paths) == 0:
        return

    def column(name: str) -> np.ndarray:
        return np.array([cache[p][name] for p in paths], dtype=np.float64)

    audit.jpeg_history = compare(y, column(jpeg_history.QUANT), jpeg_history.FLAG_MARGIN)
    audit.sharpness = compare(y, column(sharpness.SHARPNESS), sharpness.FLAG_MARGIN)
    audit.blockiness = compare(y, column(jpeg_history.BLOCKINESS), float("inf"))


def _audit_source(name: str, props: pd.DataFrame, y: np.ndarray, seed: int) -> SourceAudit:
    typical: dict[str, tuple[str, str]] = {}
    accuracy: dict[str, float] = {}
    for col in PROPERTIES:
        values = props[col].astype(str)
        accuracy[col] = loo_rule_accuracy(values.tolist(), y) if len(np.unique(y)) == 2 else 0.5
        modes = [values[y == c].mode() for c in (0, 1)]
        typical[col] = tuple(str(m.iloc[0]) if len(m) else "-" for m in modes)  # type: ignore[assignment]
    return SourceAudit(
        source=name,
        real=int((y == 0).sum()),
        fake=int((y == 1).sum()),
        header_auc=header_auc(props, y, seed) if len(np.unique(y)) == 2 else float("nan"),
        bytes_auc=folded_auc(y, props[BYTES_PER_PIXEL].to_numpy(dtype=np.float64)),
        property_accuracy=accuracy,
        typical=typical,
    )


def _auc(check: PixelCheck | None) -> float:
    return round(check.auc, 3) if check is not None else float("nan")


def audit_frame(audits: Sequence[SourceAudit]) -> pd.DataFrame:
    """One row per source: counts, header AUC, file-size AUC, verdict and the giveaways.

    The verdict names what flagged, e.g. "shortcut (format, jpeg history)";
    :func:`pixel_frame` has the pixel checks' numbers.
    """
    return pd.DataFrame(
        [
            {
                "source": a.source,
                "real": a.real,
                "fake": a.fake,
                "header_auc": round(a.header_auc, 3),
                "bytes_auc": round(a.bytes_auc, 3),
                "verdict": f"{a.verdict} ({', '.join(a.reasons)})" if a.reasons else a.verdict,
                "giveaways": ", ".join(
                    f"{p} ({a.typical[p][0]} vs {a.typical[p][1]})" for p in a.giveaways()
                )
                or "-",
            }
            for a in audits
        ]
    )


def pixel_frame(audits: Sequence[SourceAudit]) -> pd.DataFrame:
    """One row per source: images scored per class and the pixel checks' signed AUCs.

    Columns ``jpeg_history``, ``blockiness`` and ``sharpness`` hold AUCs.
    AUCs above 0.5 mean fakes score higher (more JPEG history, blockier,
    sharper); ``flags`` lists the checks that flag ("-" for none). Sources
    audited with ``pixel_sample=0`` are left out.
    """
    rows = []
    for a in audits:
        if a.jpeg_history is None or a.sharpness is None:
            continue
        rows.append(
            {
                "source": a.source,
                "scored": f"{a.jpeg_history.n_real}/{a.jpeg_history.n_fake}",
                "jpeg_history": _auc(a.jpeg_history),
                "blockiness": _auc(a.blockiness),
                "sharpness": _auc(a.sharpness),
                "flags": ", ".join(a.pixel_flags) or "-",
            }
        )
    columns = ["source", "scored", "jpeg_history", "blockiness", "sharpness", "flags"]
    return pd.DataFrame(rows, columns=columns)


def shortcut_warning(audits: Sequence[SourceAudit]) -> str | None:
    """A one-line warning naming the flagged sources and the fix, or None when all pass."""
    flagged = [a for a in audits if a.flagged]
    if not flagged:
        return None
    names = ", ".join(f"{a.source} (header AUC {a.header_auc:.2f})" for a in flagged)
    return (
        f"format shortcut in {names}: the file format alone separates real from fake, so scores "
        "measure the format; run 'fakescope data audit' for details and set data.normalize "
        "(e.g. --set data.normalize.crop=256 --set data.normalize.jpeg_quality=90) for a fair test"
    )


def pixel_warning(audits: Sequence[SourceAudit]) -> str | None:
    """A one-line warning naming the sources whose decoded pixels give the class away, or None."""
    flagged = [a for a in audits if a.pixel_flags]
    if not flagged:
        return None
    names = ", ".join(f"{a.source} ({' and '.join(a.pixel_flags)})" for a in flagged)
    return (
        f"pixel shortcut in {names}: JPEG compression history or sharpness separates real from "
        "fake, and re-encoding (data.normalize) does not remove it; give both classes the same "
        "processing (e.g. fakes reconstructed from the reals, then both JPEG-compressed alike)"
    )
