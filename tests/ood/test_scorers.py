"""Every OOD scorer: the contract (direction, NaN rows, not-fitted) and a hand computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fakescope.errors import FakescopeError, NotFittedError
from fakescope.features import Features
from fakescope.ood.catalog import SCORERS, create_scorer
from fakescope.ood.metrics import ood_metrics
from fakescope.ood.odin import odin_scores

# Scorers that work from Features alone (odin needs images; confidence needs the branch).
FEATURE_SCORERS = ["msp", "entropy", "maxlogit", "energy", "mahalanobis", "knn", "vim"]


def toy(n: int, *, shift: float = 0.0, seed: int = 0, d: int = 8, c: int = 3) -> Features:
    """Embeddings of C Gaussian clusters (shifted far away when ``shift``) + a fixed linear head."""
    rng = np.random.default_rng(seed)
    centres = np.eye(c, d) * 6.0
    y = np.arange(n) % c
    x = centres[y] + rng.normal(0, 1, (n, d)) + shift
    w = np.random.default_rng(99).normal(0, 1, (c, d)) + centres[:, :d] / 3.0
    logits = x @ w.T + 0.5
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    proba = z / z.sum(axis=1, keepdims=True)
    f = Features(
        proba.astype(np.float32),
        logits.astype(np.float32),
        x.astype(np.float32),
        [""] * n,
        [str(i) for i in range(c)],
    )
    f.confidence = 1.0 / (1.0 + np.linalg.norm(x - centres[y], axis=1))  # high near ID centres
    return f


def ood_toy(n: int, seed: int = 1) -> Features:
    """Far-away, flat-logit inputs: clearly out of distribution for every scorer."""
    f = toy(n, seed=seed)
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, f.embedding.shape).astype(np.float32) * 3.0 - 8.0
    logits = rng.normal(0, 0.1, f.logits.shape).astype(np.float32)
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return Features(proba, logits, x, [""] * n, f.classes, np.full(n, 0.01))


def labels(f: Features) -> np.ndarray:
    return np.arange(len(f)) % len(f.classes)


@pytest.mark.parametrize("name", [*FEATURE_SCORERS, "confidence"])
def test_higher_means_more_ood(name: str) -> None:
    train, test_id, test_ood = toy(300), toy(120, seed=5), ood_toy(120)
    scorer = create_scorer(name).fit(train, labels(train))
    m = ood_metrics(scorer.score(test_id), scorer.score(test_ood))
    assert m.auroc > 0.9, f"{name}: AUROC {m.auroc}"


@pytest.mark.parametrize("name", [*FEATURE_SCORERS, "confidence", "odin"])
def test_score_before_fit_raises(name: str) -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        create_scorer(name).score(toy(5))


@pytest.mark.parametrize("name", FEATURE_SCORERS)
def test_failed_rows_are_nan_and_ignored_in_fit(name: str) -> None:
    train = toy(90)
    train.embedding[3] = np.nan
    train.errors[7] = "cannot decode"
    scorer = create_scorer(name).fit(train, labels(train))
    test = toy(10, seed=4)
    test.proba[2] = np.nan
    test.logits[2] = np.nan
    test.embedding[2] = np.nan
    s = scorer.score(test)
    assert s.shape == (10,) and np.isnan(s[2]) and np.isfinite(np.delete(s, 2)).all()


def test_unknown_scorer_and_missing_labels() -> None:
    with pytest.raises(FakescopeError, match="choose one of"):
        SCORERS.get("nope")
    with pytest.raises(FakescopeError, match="needs class labels"):
        create_scorer("mahalanobis").fit(toy(10))


# ------------------------------------------------------------- hand computations
def test_msp_entropy_maxlogit_energy_by_hand() -> None:
    p = np.array([[0.7, 0.2, 0.1], [1 / 3, 1 / 3, 1 / 3]], dtype=np.float32)
    lg = np.array([[2.0, 0.0, -1.0], [1.0, 1.0, 1.0]], dtype=np.float32)
    f = Features(p, lg, np.zeros((2, 2), np.float32), ["", ""], ["a", "b", "c"])
    fit = Features(p, lg, np.ones((2, 2), np.float32), ["", ""], ["a", "b", "c"])
    got = {n: create_scorer(n).fit(fit).score(f) for n in ("msp", "entropy", "maxlogit")}
    np.testing.assert_allclose(got["msp"], [-0.7, -1 / 3], rtol=1e-6)
    h0 = -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1))
    np.testing.assert_allclose(got["entropy"], [h0, math.log(3)], rtol=1e-6)
    np.testing.assert_allclose(got["maxlogit"], [-2.0, -1.0])
    e = create_scorer("energy", temperature=2.0).fit(fit).score(f)
    e0 = -2.0 * math.log(math.exp(1.0) + math.exp(0.0) + math.exp(-0.5))
    e1 = -2.0 * math.log(3 * math.exp(0.5))
    np.testing.assert_allclose(e, [e0, e1], rtol=1e-6)


def test_mahalanobis_by_hand() -> None:
    x = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 1.0], [10.0, 3.0]])
    y = np.array([0, 0, 1, 1])
    f = Features.from_proba(np.full((4, 2), 0.5), x)
    s = (
        create_scorer("mahalanobis")
        .fit(f, y)
        .score(Features.from_proba(np.full((1, 2), 0.5), [[1.0, 5.0]]))
    )
    # means (1, 0) and (10, 2); residuals (+-1, 0) and (0, +-1): tied cov = diag(0.5, 0.5)
    d0 = ((1 - 1) ** 2 + (5 - 0) ** 2) / 0.5
    d1 = ((1 - 10) ** 2 + (5 - 2) ** 2) / 0.5
    np.testing.assert_allclose(s, [min(d0, d1)])


def test_knn_by_hand() -> None:
    bank = np.array([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]])
    f = Features.from_proba(np.full((3, 2), 0.5), bank)
    q = Features.from_proba(np.full((1, 2), 0.5), [[1.0, 1.0]])
    u = np.array([1.0, 1.0]) / math.sqrt(2)
    dists = sorted(float(np.linalg.norm(u - b / np.linalg.norm(b))) for b in bank)
    for k in (1, 2, 3):
        np.testing.assert_allclose(
            create_scorer("knn", k=k).fit(f).score(q), [dists[k - 1]], rtol=1e-6
        )
    np.testing.assert_allclose(create_scorer("knn", k=10).fit(f).score(q), [dists[-1]], rtol=1e-6)


def test_vim_recovers_linear_head_and_matches_formula() -> None:
    rng = np.random.default_rng(0)
    n, d, c, dim = 200, 6, 3, 3
    x = rng.normal(0, 1, (n, d)) * np.array([5, 4, 3, 0.5, 0.3, 0.2]) + 1.0
    w, b = rng.normal(0, 1, (c, d)), rng.normal(0, 1, c)
    f = Features.from_proba(np.full((n, c), 1 / c), x)
    f.embedding, f.logits = x, x @ w.T + b
    scorer = create_scorer("vim", dim=dim).fit(f)
    np.testing.assert_allclose(scorer.weight_, w, atol=1e-8)
    # independent computation: origin, covariance eigenvectors, residual norm, alpha
    u = -np.linalg.pinv(w) @ b
    cov = np.cov((x - u).T, bias=True, ddof=None) + np.outer((x - u).mean(0), (x - u).mean(0))
    vals, vecs = np.linalg.eig(cov)
    ns = vecs[:, np.argsort(-vals.real)[dim:]].real
    vl = np.linalg.norm((x - u) @ ns, axis=1)
    alpha = (f.logits.max(axis=1)).mean() / vl.mean()
    q = rng.normal(0, 3, (5, d))
    fq = Features.from_proba(np.full((5, c), 1 / c), q)
    fq.embedding, fq.logits = q, q @ w.T + b
    lse = np.log(np.exp(fq.logits).sum(axis=1))
    want = alpha * np.linalg.norm((q - u) @ ns, axis=1) - lse
    np.testing.assert_allclose(scorer.score(fq), want, rtol=1e-6)


def test_confidence_needs_the_branch() -> None:
    f = toy(10)
    f.confidence = None
    with pytest.raises(FakescopeError, match="confidence branch"):
        create_scorer("confidence").fit(f)


def test_odin_matches_hand_gradient_on_linear_model() -> None:
    torch.manual_seed(0)
    w = torch.randn(3, 2 * 2 * 3)
    x = torch.randn(4, 3, 2, 2)
    t, eps, std = 10.0, 0.05, (0.5, 0.25, 1.0)

    def logits_fn(inp: torch.Tensor) -> torch.Tensor:
        return inp.flatten(1) @ w.T

    got = odin_scores(logits_fn, x, t, eps, std)
    # by hand: d CE(Wx/T, y)/dx = W^T (softmax(Wx/T) - onehot(y)) / T
    xs = x.flatten(1).numpy().astype(np.float64)
    wn = w.numpy().astype(np.float64)
    z = xs @ wn.T / t
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    onehot = np.eye(3)[z.argmax(1)]
    grad = (p - onehot) @ wn / t
    std_flat = np.repeat(np.array(std), 4)  # channel-major flatten of [3, 2, 2]
    xp = xs - eps * np.sign(grad) / std_flat
    zp = xp @ wn.T / t
    pp = np.exp(zp - zp.max(1, keepdims=True))
    pp /= pp.sum(1, keepdims=True)
    np.testing.assert_allclose(got, -pp.max(1), rtol=1e-5)
    # the perturbation raises the tempered max softmax (ID-ward), so it is not a no-op
    assert (got < -p.max(1) + 1e-9).all() and not np.allclose(got, -p.max(1))


def test_odin_reads_extras_and_says_when_missing() -> None:
    scorer = create_scorer("odin").fit(toy(10))
    f = toy(4)
    with pytest.raises(FakescopeError, match="needs the images"):
        scorer.score(f)
    f.extras[scorer.extra_key] = np.array([-0.5, -0.4, -0.9, -0.1])
    np.testing.assert_allclose(scorer.score(f), [-0.5, -0.4, -0.9, -0.1])
