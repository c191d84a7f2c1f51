"""Confidence-branch training: hints, the budgeted lambda, and low confidence on unlearnable data."""

from __future__ import annotations

import pytest
import torch

from fakescope.losses.confidence import BudgetLambda, confidence_penalty, hint_mask, hinted_nll


def test_hinted_nll_matches_a_hand_computation() -> None:
    proba = torch.tensor([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    y = torch.tensor([1, 1, 0])
    c = torch.tensor([0.5, 0.9, 0.2])
    hint = torch.tensor([True, False, True])
    got = hinted_nll(proba, y, c, hint)
    # row 0: p'[1] = 0.5*0.2 + 0.5*1; row 1: no hint, p[1] = 0.7; row 2: p'[0] = 0.2*0.6 + 0.8
    want = -torch.log(torch.tensor([0.6, 0.7, 0.92]))
    assert torch.allclose(got, want, atol=1e-6)
    assert float(confidence_penalty(torch.tensor([1.0, 0.5]))) == pytest.approx(
        0.5 * 0.693147, 1e-4
    )


def test_budget_rule() -> None:
    lam = BudgetLambda(0.1, budget=0.3)
    assert lam.update(0.1) == pytest.approx(0.1 / 1.01)  # under budget: lambda shrinks
    assert lam.update(0.5) == pytest.approx(0.1 / 1.01 / 0.99)  # over budget: lambda grows
    with pytest.raises(ValueError, match="> 0"):
        BudgetLambda(0.0)


def test_hint_mask_is_about_half() -> None:
    m = hint_mask(4000, generator=torch.Generator().manual_seed(0))
    assert 0.45 < float(m.float().mean()) < 0.55


def test_confidence_is_lower_on_unlearnable_samples() -> None:
    """Half the samples have labels given by x0 > 0, the other half (flag x2 = 1) random labels:
    after training with hints + the budgeted penalty, c is lower on the random-label half."""
    g = torch.Generator().manual_seed(0)
    n = 256
    x = torch.randn(n, 3, generator=g)
    x[:, 2] = (torch.arange(n) % 2).float()
    y = (x[:, 0] > 0).long()
    noisy = x[:, 2] == 1
    y[noisy] = torch.randint(0, 2, (int(noisy.sum()),), generator=g)
    torch.manual_seed(0)
    body = torch.nn.Sequential(torch.nn.Linear(3, 32), torch.nn.ReLU())
    cls, conf = torch.nn.Linear(32, 2), torch.nn.Linear(32, 1)
    params = [*body.parameters(), *cls.parameters(), *conf.parameters()]
    opt = torch.optim.Adam(params, lr=1e-2)
    lam = BudgetLambda(0.1, 0.3)
    for _ in range(150):
        h = body(x)
        p = cls(h).softmax(1)
        c = torch.sigmoid(conf(h)).squeeze(1)
        pen = confidence_penalty(c)
        loss = hinted_nll(p, y, c, hint_mask(n, generator=g)).mean() + lam.value * pen
        opt.zero_grad()
        loss.backward()
        opt.step()
        lam.update(float(pen.detach()))
    with torch.no_grad():
        c = torch.sigmoid(conf(body(x))).squeeze(1)
    assert float(c[noisy].mean()) < float(c[~noisy].mean()) - 0.1
