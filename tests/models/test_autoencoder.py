"""The embedding autoencoder of S2b: training, determinism, state-dict round trip, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fakescope.errors import BundleError, ConfigError, DataError
from fakescope.models.autoencoder import EmbeddingAutoencoder, fit_autoencoder


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    """[200, 24] embeddings on a 3-d subspace plus noise, with shifted means and scales."""
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(200, 3))
    mixing = rng.normal(size=(3, 24))
    data = latent @ mixing + 0.05 * rng.normal(size=(200, 24))
    return (data * rng.uniform(0.5, 5, 24) + rng.uniform(-10, 10, 24)).astype(np.float32)


def test_encode_and_forward_shapes(x: np.ndarray) -> None:
    ae = EmbeddingAutoencoder(24, code_dim=4, hidden=16)
    t = torch.from_numpy(x[:5])
    assert ae.encode(t).shape == (5, 4)
    assert ae(t).shape == (5, 24)
    assert ae.encode_array(x).shape == (200, 4)


def test_training_lowers_the_reconstruction_loss(x: np.ndarray) -> None:
    short = fit_autoencoder(x, 4, hidden=32, epochs=1, batch_size=32)
    long = fit_autoencoder(x, 4, hidden=32, epochs=60, batch_size=32)
    assert len(long.history) == 60
    assert long.history[-1] < 0.5 * long.history[0]
    assert long.reconstruction_error(x) < 0.5 * short.reconstruction_error(x)
    # 3-d data through a 4-d code: reconstructions in original units are close
    recon = long(torch.from_numpy(x)).numpy()
    rel = np.abs(recon - x).mean() / np.abs(x - x.mean(0)).mean()
    assert rel < 0.3
    assert not long.training and not any(p.requires_grad for p in long.parameters())


def test_standardisation_is_stored_in_buffers(x: np.ndarray) -> None:
    ae = fit_autoencoder(x, 4, hidden=8, epochs=1)
    np.testing.assert_allclose(ae.mean.numpy(), x.mean(0), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(ae.std.numpy(), x.std(0), rtol=1e-4)
    assert {"mean", "std"} <= set(ae.state_dict())


def test_constant_dimensions_do_not_divide_by_zero() -> None:
    data = np.ones((20, 6), dtype=np.float32)
    data[:, 0] = np.arange(20)
    ae = fit_autoencoder(data, 2, hidden=4, epochs=2)
    assert np.isfinite(ae.encode_array(data)).all()


def test_deterministic_for_a_seed(x: np.ndarray) -> None:
    a = fit_autoencoder(x, 4, hidden=16, epochs=3, seed=7)
    b = fit_autoencoder(x, 4, hidden=16, epochs=3, seed=7)
    c = fit_autoencoder(x, 4, hidden=16, epochs=3, seed=8)
    np.testing.assert_array_equal(a.encode_array(x), b.encode_array(x))
    assert not np.allclose(a.encode_array(x), c.encode_array(x))
    before = torch.random.get_rng_state()
    fit_autoencoder(x, 4, hidden=16, epochs=1, seed=7)
    assert torch.equal(before, torch.random.get_rng_state())  # the global RNG is untouched


def test_state_dict_round_trip(x: np.ndarray) -> None:
    ae = fit_autoencoder(x, 5, hidden=12, epochs=2)
    state = {k: v.clone() for k, v in ae.state_dict().items()}
    back = EmbeddingAutoencoder.from_state_dict(state)
    assert (back.in_dim, back.code_dim, back.hidden) == (24, 5, 12)
    assert not back.training
    np.testing.assert_array_equal(back.encode_array(x), ae.encode_array(x))
    with pytest.raises(BundleError, match="re-save the detector"):
        EmbeddingAutoencoder.from_state_dict({k: v for k, v in state.items() if k != "std"})


def test_nan_rows_stay_nan(x: np.ndarray) -> None:
    ae = fit_autoencoder(x, 4, hidden=8, epochs=1)
    rows = x[:3].copy()
    rows[1, 5] = np.nan
    codes = ae.encode_array(rows)
    assert np.isnan(codes[1]).all() and np.isfinite(codes[[0, 2]]).all()
    with pytest.raises(DataError, match="expects 24-d embeddings"):
        ae.encode_array(x[:, :10])


def test_bad_input_is_a_one_line_error(x: np.ndarray) -> None:
    with pytest.raises(DataError, match="NaN"):
        fit_autoencoder(np.full((4, 3), np.nan, dtype=np.float32), 2)
    with pytest.raises(DataError, match=r"shape \[N, D\]"):
        fit_autoencoder(np.zeros(5, dtype=np.float32), 2)
    with pytest.raises(ConfigError, match="code_dim must be >= 1"):
        fit_autoencoder(x, 0)
    with pytest.raises(ConfigError, match="lr must be > 0"):
        fit_autoencoder(x, 2, lr=0.0)
