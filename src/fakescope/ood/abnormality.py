"""``abnormality``: the S1 thesis's learned abnormality module (higher risk = more OOD).

Inputs per image, from a detector's :class:`~fakescope.features.Features`:

* ``proba`` [C] (softmax probabilities), ``confidence`` [1] (a confidence branch's c,
  when the detector has one), ``embedding`` [D] (standardised with the ID training
  mean/std), and
* a residual map ``extras["residual"]`` [k, h, w] (U-Net: (reconstruction - x)^2; ViT:
  (reconstructed attention map - map)^2) through a small conv encoder: stride-2
  blocks (Conv3x3 stride 2, BatchNorm, GELU) with 4, 8, 16, 32, 64 channels, then
  global average pooling -> [64].

All concatenated -> MLP 1024-512-128-1 (GELU between hidden layers) -> sigmoid =
risk in (0, 1). The output layer is linear straight into the sigmoid: the original
code put a GELU before the sigmoid, so its risk could never fall below ~0.46.

Training (:meth:`AbnormalityScorer.fit_outliers`): ID images are negatives, outliers
(synthetic ones from :mod:`fakescope.data.outliers`, optionally real ones) positives;
BCE with ``pos_weight`` = #ID / #outliers, Adam (lr 1e-3) with a OneCycle schedule,
seeded. :meth:`AbnormalityScorer.fit_detector` makes the outliers from ID images and
extracts both feature sets with the detector. The generic ``fit(features)`` of the
scorer contract cannot work (it has no outliers) and says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from fakescope.errors import FakescopeError
from fakescope.features import Features
from fakescope.ood.base import OODScorer

if TYPE_CHECKING:
    from fakescope.detectors.base import Detector

#: ``Features.extras`` key of the residual maps [N, k, h, w].
RESIDUAL = "residual"
#: Channels of the residual encoder's stride-2 blocks.
ENCODER_CHANNELS: tuple[int, ...] = (4, 8, 16, 32, 64)
DEFAULTS: dict[str, Any] = {
    "epochs": 40,
    "batch_size": 64,
    "lr": 1e-3,
    "hidden": [1024, 512, 128],
    "use_residual": True,
    "use_confidence": True,
    "seed": 0,
}


class ResidualEncoder(nn.Module):
    """Residual maps [B, k, h, w] -> [B, 64]: stride-2 Conv-BN-GELU blocks (4 -> 64 ch), mean pool."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        prev = in_channels
        for c in ENCODER_CHANNELS:
            layers += [nn.Conv2d(prev, c, 3, stride=2, padding=1), nn.BatchNorm2d(c), nn.GELU()]
            prev = c
        self.blocks = nn.Sequential(*layers)
        self.out_dim = prev

    def forward(self, r: Tensor) -> Tensor:
        out: Tensor = self.blocks(r).mean(dim=(2, 3))
        return out


def log_residual(r: Tensor) -> Tensor:
    """log(r + 1e-8) of squared-error maps (they span orders of magnitude)."""
    return torch.log(r.clamp_min(0) + 1e-8)


class AbnormalityNet(nn.Module):
    """Vector inputs [B, d_vec] (+ residual maps [B, k, h, w]) -> risk logit [B].

    ``risk = sigmoid(logit)``; the last layer is linear (no activation before the sigmoid).
    ``mean``/``std`` buffers [d_vec] standardise the vector inputs; the residual maps enter
    as log(r + 1e-8), standardised by the scalar ``res_mean``/``res_std`` of the ID maps.
    """

    def __init__(self, d_vec: int, residual_channels: int, hidden: Sequence[int]) -> None:
        super().__init__()
        self.encoder = ResidualEncoder(residual_channels) if residual_channels else None
        d = d_vec + (self.encoder.out_dim if self.encoder is not None else 0)
        layers: list[nn.Module] = []
        for h in hidden:
            layers += [nn.Linear(d, int(h)), nn.GELU()]
            d = int(h)
        layers.append(nn.Linear(d, 1))
        self.mlp = nn.Sequential(*layers)
        self.mean: Tensor
        self.std: Tensor
        self.res_mean: Tensor
        self.res_std: Tensor
        self.register_buffer("mean", torch.zeros(d_vec))
        self.register_buffer("std", torch.ones(d_vec))
        self.register_buffer("res_mean", torch.zeros(()))
        self.register_buffer("res_std", torch.ones(()))

    def forward(self, vec: Tensor, residual: Tensor | None) -> Tensor:
        z = (vec - self.mean) / self.std
        if self.encoder is not None:
            if residual is None:
                raise ValueError("this abnormality net needs residual maps")
            r = (log_residual(residual) - self.res_mean) / self.res_std
            z = torch.cat([z, self.encoder(r)], dim=1)
        out: Tensor = self.mlp(z).squeeze(1)
        return out


class AbnormalityScorer(OODScorer):
    """The learned abnormality module as an OOD scorer: score = risk in (0, 1), higher = more OOD.

    Settings: ``epochs``, ``batch_size``, ``lr`` (OneCycle max lr), ``hidden`` (MLP widths),
    ``use_residual``/``use_confidence`` (use them when the ID features have them), ``seed``.
    """

    name = "abnormality"

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(DEFAULTS))
        if unknown:
            raise FakescopeError(
                f"ood scorer abnormality: unknown setting(s) {', '.join(unknown)}; "
                f"choose from {', '.join(sorted(DEFAULTS))}"
            )
        super().__init__(**{**DEFAULTS, **params})
        self.net_: AbnormalityNet | None = None
        self.layout_: dict[str, Any] = {}
        self.history_: list[float] = []

    # ------------------------------------------------------------ inputs
    def _inputs(self, f: Features) -> tuple[np.ndarray, np.ndarray | None]:
        """``(vec [N, d], residual [N, k, h, w] or None)`` following the fitted layout."""
        lay = self.layout_
        parts = [np.asarray(f.proba, dtype=np.float32)]
        if lay["confidence"]:
            if f.confidence is None:
                raise FakescopeError(
                    "ood scorer abnormality was fitted with a confidence branch but these features "
                    "have none; use the same detector"
                )
            parts.append(np.asarray(f.confidence, dtype=np.float32).reshape(-1, 1))
        parts.append(np.asarray(f.embedding, dtype=np.float32).reshape(len(f), -1))
        vec = np.concatenate(parts, axis=1)
        if vec.shape[1] != lay["d_vec"]:
            raise FakescopeError(
                f"ood scorer abnormality expects {lay['d_vec']} input values per image, got "
                f"{vec.shape[1]}; use the detector it was fitted with"
            )
        if not lay["residual_channels"]:
            return vec, None
        if RESIDUAL not in f.extras:
            raise FakescopeError(
                "ood scorer abnormality needs residual maps (Features.extras['residual']); "
                "use the detector it was fitted with (unet or vit)"
            )
        return vec, np.asarray(f.extras[RESIDUAL], dtype=np.float32)

    def _layout(self, f: Features) -> dict[str, Any]:
        res = f.extras.get(RESIDUAL) if self.params["use_residual"] else None
        conf = bool(self.params["use_confidence"] and f.confidence is not None)
        d_vec = f.proba.shape[1] + int(conf) + int(np.prod(f.embedding.shape[1:]))
        if res is not None and np.asarray(res).ndim != 4:
            raise FakescopeError(
                f"residual maps must be [N, k, h, w], got shape {np.asarray(res).shape}"
            )
        return {
            "d_vec": d_vec,
            "confidence": conf,
            "residual_channels": int(np.asarray(res).shape[1]) if res is not None else 0,
        }

    # ------------------------------------------------------------ fitting
    def _fit(self, features: Features, labels: np.ndarray | None) -> None:
        raise FakescopeError(
            "ood scorer abnormality trains on ID versus outlier images: call "
            "fit_detector(detector, id_images) or fit_outliers(id_features, outlier_features)"
        )

    def fit_outliers(self, id_features: Features, outlier_features: Features) -> Self:
        """Train on ID features (negatives) vs outlier features (positives); failed rows dropped."""
        id_f = id_features.subset(id_features.ok)
        out_f = outlier_features.subset(outlier_features.ok)
        if not len(id_f) or not len(out_f):
            raise FakescopeError(
                f"ood scorer abnormality needs ID and outlier images, got {len(id_f)} and {len(out_f)}"
            )
        self.layout_ = self._layout(id_f)
        v0, r0 = self._inputs(id_f)
        v1, r1 = self._inputs(out_f)
        vec = torch.from_numpy(np.concatenate([v0, v1]))
        res = (
            torch.from_numpy(np.concatenate([r0, r1]))
            if r0 is not None and r1 is not None
            else None
        )
        y = torch.cat([torch.zeros(len(v0)), torch.ones(len(v1))])
        p = self.params
        torch.manual_seed(int(p["seed"]))
        net = AbnormalityNet(vec.shape[1], self.layout_["residual_channels"], p["hidden"])
        net.mean.copy_(vec[: len(v0)].mean(0))
        if res is not None:
            logs = log_residual(res[: len(v0)])
            net.res_mean.copy_(logs.mean())
            net.res_std.copy_(logs.std().clamp_min(1e-6))
        net.std.copy_(
            vec[: len(v0)].std(0).clamp_min(1e-6) if len(v0) > 1 else torch.ones(vec.shape[1])
        )
        self.history_ = train_abnormality(
            net,
            vec,
            res,
            y,
            epochs=p["epochs"],
            batch_size=p["batch_size"],
            lr=p["lr"],
            seed=p["seed"],
        )
        self.net_ = net.eval()
        self.fitted_ = True
        return self

    def fit_detector(
        self,
        detector: Detector,
        id_images: Sequence[str | Path | Image.Image],
        *,
        kinds: Sequence[str] | None = None,
        per_image: int = 1,
        real_folders: Sequence[str | Path] = (),
    ) -> Self:
        """Make synthetic outliers from ``id_images`` (files or PIL images), extract both feature
        sets with ``detector`` and train (:meth:`fit_outliers`)."""
        from fakescope.data.outliers import make_outliers

        outliers = make_outliers(
            id_images,
            kinds=kinds,
            seed=int(self.params["seed"]),
            per_image=per_image,
            real_folders=real_folders,
        )
        id_feats = features_of(detector, id_images)
        return self.fit_outliers(id_feats, features_of(detector, outliers.images))

    # ------------------------------------------------------------ scoring
    @torch.inference_mode()
    def _score(self, features: Features) -> np.ndarray:
        if self.net_ is None:
            raise FakescopeError("ood scorer abnormality has no network; fit or load it")
        vec, res = self._inputs(features)
        logits = self.net_.eval()(
            torch.from_numpy(vec), torch.from_numpy(res) if res is not None else None
        )
        return torch.sigmoid(logits).double().numpy()

    # ------------------------------------------------------------ state
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON: the input layout; arrays: the network's tensors (``net.<name>``)."""
        self.check_fitted()
        assert self.net_ is not None
        arrays = {f"net.{k}": v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}
        return {"layout_": dict(self.layout_), "history_": list(self.history_)}, arrays

    def set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Rebuild the network from :meth:`get_state`'s output."""
        self.layout_ = dict(meta["layout_"])
        self.history_ = list(meta.get("history_", []))
        net = AbnormalityNet(
            self.layout_["d_vec"], self.layout_["residual_channels"], self.params["hidden"]
        )
        state = {k[len("net.") :]: torch.from_numpy(np.array(v)) for k, v in arrays.items()}
        net.load_state_dict(state, strict=True)
        self.net_ = net.eval()
        self.fitted_ = True


#: Not registered in SCORERS yet: ``fakescope.ood.benchmark`` and ``Abstainer.fit`` call the generic
#: ``fit(features)``, which cannot train this scorer. Once they call :meth:`fit_detector` for
#: scorers that have it, register with ``SCORERS.register("abnormality")(AbnormalityScorer)``.
SCORER_NAME = "abnormality"


def features_of(detector: Detector, images: Sequence[str | Path | Image.Image]) -> Features:
    """Features of files or in-memory images (in batches of ``detector.params.batch_size``)."""
    if all(not isinstance(i, Image.Image) for i in images):
        return detector.features([str(i) for i in images])
    from fakescope.data.decode import load_image

    pil = [i if isinstance(i, Image.Image) else load_image(i) for i in images]
    step = max(1, int(detector.params.batch_size))
    parts = [detector.features_images(pil[i : i + step]) for i in range(0, len(pil), step)]
    return concat_features(parts)


def concat_features(parts: Sequence[Features]) -> Features:
    """Row-wise concatenation of :class:`Features` of the same detector."""
    first = parts[0]
    conf = None if first.confidence is None else np.concatenate([p.confidence for p in parts])
    return Features(
        proba=np.concatenate([p.proba for p in parts]),
        logits=np.concatenate([p.logits for p in parts]),
        embedding=np.concatenate([p.embedding for p in parts]),
        errors=[e for p in parts for e in p.errors],
        classes=list(first.classes),
        confidence=conf,
        extras={k: np.concatenate([p.extras[k] for p in parts]) for k in first.extras},
    )


def train_abnormality(
    net: AbnormalityNet,
    vec: Tensor,
    residual: Tensor | None,
    y: Tensor,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
) -> list[float]:
    """BCE (pos_weight = #negatives / #positives) with Adam + OneCycle; returns the loss per epoch.

    ``vec`` [N, d], ``residual`` [N, k, h, w] or None, ``y`` [N] (1 = OOD). Batches of 1 are
    dropped (BatchNorm needs 2). Deterministic for ``seed`` on the CPU.
    """
    n = len(y)
    n_pos = float(y.sum())
    pos_weight = torch.tensor([(n - n_pos) / max(n_pos, 1.0)])
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps = max(1, -(-n // batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps)
    g = torch.Generator().manual_seed(int(seed))
    history: list[float] = []
    net.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=g)
        total, count = 0.0, 0
        for i in range(steps):
            idx = order[i * batch_size : (i + 1) * batch_size]
            if len(idx) >= 2:
                out = net(vec[idx], residual[idx] if residual is not None else None)
                loss = loss_fn(out, y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
                count += len(idx)
            sched.step()
        history.append(total / max(count, 1))
    net.eval()
    return history
