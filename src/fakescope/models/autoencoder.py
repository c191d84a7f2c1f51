"""An MLP autoencoder that reduces frozen embeddings (S2b: 768 -> 64 or 32 dims).

The replication of UnivFD feeds the frozen CLIP embeddings [N, D] through an
autoencoder trained to reconstruct them (mean squared error) and fits a random
forest on the codes [N, code_dim]. :class:`EmbeddingAutoencoder` is that
network::

    encoder: Linear(D, hidden) - ReLU - Linear(hidden, code_dim)
    decoder: Linear(code_dim, hidden) - ReLU - Linear(hidden, D)

Inputs are standardised inside the module with the per-dimension ``mean`` and
``std`` [D] of the training embeddings, stored as buffers: the state dict is
self-contained (:meth:`EmbeddingAutoencoder.from_state_dict` rebuilds the model
from it alone, dimensions included). The reconstruction loss is measured in
standardised units, so every embedding dimension counts equally.

:func:`fit_autoencoder` trains one on the *training* embeddings only (fitting it
on test embeddings would leak them), deterministically for a seed.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor, nn

from fakescope.errors import BundleError, ConfigError, DataError

#: Standard deviations below this are treated as 1 (constant dimensions are only centred).
MIN_STD = 1e-6


class EmbeddingAutoencoder(nn.Module):
    """Embeddings [N, in_dim] -> codes [N, code_dim] -> reconstructions [N, in_dim].

    ``mean``/``std`` buffers [in_dim] standardise the input (identity until
    :func:`fit_autoencoder` sets them from the training embeddings).
    """

    def __init__(self, in_dim: int, code_dim: int = 64, hidden: int = 256) -> None:
        super().__init__()
        for name, value in (("in_dim", in_dim), ("code_dim", code_dim), ("hidden", hidden)):
            if int(value) < 1:
                raise ConfigError(f"autoencoder {name} must be >= 1, got {value}")
        self.in_dim, self.code_dim, self.hidden = int(in_dim), int(code_dim), int(hidden)
        self.encoder = nn.Sequential(
            nn.Linear(self.in_dim, self.hidden), nn.ReLU(), nn.Linear(self.hidden, self.code_dim)
        )
        self.decoder = nn.Sequential(
            nn.Linear(self.code_dim, self.hidden), nn.ReLU(), nn.Linear(self.hidden, self.in_dim)
        )
        #: Mean training loss per epoch (filled by :func:`fit_autoencoder`; not saved).
        self.history: list[float] = []
        self.mean: Tensor
        self.std: Tensor
        self.register_buffer("mean", torch.zeros(self.in_dim))
        self.register_buffer("std", torch.ones(self.in_dim))

    # ------------------------------------------------------------ forward
    def standardise(self, x: Tensor) -> Tensor:
        """``(x - mean) / std`` for embeddings ``x`` [N, in_dim]."""
        return (x - self.mean) / self.std

    def encode(self, x: Tensor) -> Tensor:
        """Codes [N, code_dim] for embeddings ``x`` [N, in_dim] (raw, not standardised)."""
        out: Tensor = self.encoder(self.standardise(x))
        return out

    def decode(self, code: Tensor) -> Tensor:
        """Reconstructed embeddings [N, in_dim] (original units) for codes [N, code_dim]."""
        out: Tensor = self.decoder(code) * self.std + self.mean
        return out

    def forward(self, x: Tensor) -> Tensor:
        """Reconstruction [N, in_dim] of embeddings ``x`` [N, in_dim], in the input's units."""
        return self.decode(self.encode(x))

    def loss(self, x: Tensor) -> Tensor:
        """Mean squared reconstruction error of ``x`` [N, in_dim], in standardised units (scalar)."""
        z = self.standardise(x)
        return nn.functional.mse_loss(self.decoder(self.encoder(z)), z)

    # ------------------------------------------------------------- numpy
    def encode_array(self, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """Codes [N, code_dim] float32 for embeddings ``x`` [N, in_dim]; rows with NaN stay NaN."""
        x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        if x.shape[1] != self.in_dim:
            raise DataError(
                f"the autoencoder expects {self.in_dim}-d embeddings, got {x.shape[1]}-d; "
                "use the backbone it was trained with"
            )
        out = np.full((len(x), self.code_dim), np.nan, dtype=np.float32)
        ok = np.flatnonzero(np.isfinite(x).all(axis=1))
        param = next(self.parameters())
        with torch.inference_mode():
            for start in range(0, len(ok), batch_size):
                rows = ok[start : start + batch_size]
                batch = torch.from_numpy(x[rows]).to(device=param.device, dtype=param.dtype)
                out[rows] = self.encode(batch).float().cpu().numpy()
        return out

    def reconstruction_error(self, x: np.ndarray) -> float:
        """:meth:`loss` of the finite rows of ``x`` [N, in_dim] as a float (no gradients)."""
        x = np.asarray(x, dtype=np.float32)
        x = x[np.isfinite(x).all(axis=1)]
        param = next(self.parameters())
        with torch.inference_mode():
            return float(self.loss(torch.from_numpy(x).to(param.device, param.dtype)))

    # ------------------------------------------------------------ weights
    @classmethod
    def from_state_dict(cls, state: Mapping[str, Tensor]) -> EmbeddingAutoencoder:
        """Rebuild an eval-mode model from a state dict alone (dimensions read from the shapes).

        Raises :class:`~fakescope.errors.BundleError` when keys or shapes do not fit.
        """
        try:
            hidden, in_dim = state["encoder.0.weight"].shape
            code_dim = state["encoder.2.weight"].shape[0]
            model = cls(int(in_dim), int(code_dim), int(hidden))
            model.load_state_dict(dict(state), strict=True)
        except (KeyError, ValueError, RuntimeError, ConfigError) as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise BundleError(
                f"saved autoencoder weights are incomplete or inconsistent ({first}); re-save the detector"
            ) from None
        return model.eval()


def _check_training_args(
    x: np.ndarray, code_dim: int, hidden: int, epochs: int, batch_size: int, lr: float
) -> np.ndarray:
    """Validated training embeddings [N, D] float32; one-line errors for bad input."""
    for name, value in (
        ("code_dim", code_dim),
        ("hidden", hidden),
        ("epochs", epochs),
        ("batch_size", batch_size),
    ):
        if int(value) < 1:
            raise ConfigError(f"autoencoder {name} must be >= 1, got {value}")
    if not lr > 0:
        raise ConfigError(f"autoencoder lr must be > 0, got {lr}")
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim != 2 or len(arr) == 0 or arr.shape[1] == 0:
        raise DataError(
            f"the autoencoder needs embeddings of shape [N, D] with N, D >= 1, got {arr.shape}"
        )
    if not np.isfinite(arr).all():
        raise DataError(
            "the autoencoder's training embeddings contain NaN/inf; drop failed files first"
        )
    return arr


def fit_autoencoder(
    x: np.ndarray,
    code_dim: int,
    *,
    hidden: int = 256,
    epochs: int = 100,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> EmbeddingAutoencoder:
    """Train an :class:`EmbeddingAutoencoder` on the training embeddings ``x`` [N, D] only.

    Adam (``lr``) on the standardised MSE for ``epochs`` passes over shuffled
    mini-batches of ``batch_size``. ``mean``/``std`` come from ``x`` and are
    stored in the model. The same ``x`` and ``seed`` give the same weights
    (on CPU; the global torch RNG is left as it was). ``history`` on the
    returned model holds the mean training loss of every epoch. Returns the
    model on the CPU, in eval mode.
    """
    arr = _check_training_args(x, code_dim, hidden, epochs, batch_size, lr)
    dev = torch.device(device)
    data = torch.from_numpy(arr)
    std = data.std(dim=0, unbiased=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = EmbeddingAutoencoder(arr.shape[1], code_dim, hidden)
    model.mean.copy_(data.mean(dim=0))
    model.std.copy_(torch.where(std < MIN_STD, torch.ones_like(std), std))
    model.to(dev).train()
    data = data.to(dev)
    order_rng = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    history: list[float] = []
    for _ in range(int(epochs)):
        order = torch.randperm(len(data), generator=order_rng).to(dev)
        total = 0.0
        for start in range(0, len(data), batch_size):
            batch = data[order[start : start + batch_size]]
            loss = model.loss(batch)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(batch)
        history.append(total / len(data))
    model = model.cpu().eval().requires_grad_(False)
    model.history = history
    return model
