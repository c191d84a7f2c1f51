"""Each method's loss term against a hand computation on tiny tensors."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from fakescope.continual.base import Outputs, TaskData, forward_outputs
from fakescope.continual.catalog import create_strategy
from fakescope.continual.cored import CoReD, binned_sums, representation_loss, store_bins
from fakescope.continual.ewc import EWC
from fakescope.continual.kd import kd_term
from fakescope.continual.tg import l2sp_terms
from fakescope.errors import FakescopeError
from fakescope.train.dataset import Batch


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_kd_term_is_t_squared_kl_teacher_to_student() -> None:
    s = torch.tensor([[2.0, -1.0], [0.5, 0.3]])
    t = torch.tensor([[-1.0, 3.0], [1.0, 0.0]])
    for temp in (1.0, 20.0):
        ps, pt = _softmax(s.numpy() / temp), _softmax(t.numpy() / temp)
        kl = (pt * (np.log(pt) - np.log(ps))).sum(axis=1).mean()
        assert float(kd_term(s, t, temp)) == pytest.approx(temp**2 * kl, rel=1e-5)
    assert float(kd_term(t, t, 20.0)) == pytest.approx(0.0, abs=1e-4)


def _tiny_timm() -> Any:
    """timm's ``test_resnet`` (random init, eval mode); typed Any for attribute access."""
    import timm

    torch.manual_seed(0)
    return timm.create_model("test_resnet", num_classes=2).eval()


def test_kd_strategy_mixes_ce_and_distillation_by_alpha() -> None:
    model = _tiny_timm()
    kd = create_strategy("kd", {"alpha": 0.3})
    assert kd.ce_weight() == 1.0  # task 1: no teacher
    task = TaskData("t", 1, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), lambda r: [])
    kd.before_task(model, task)
    assert kd.ce_weight() == pytest.approx(0.7)
    x = torch.randn(4, 3, 16, 16)
    teacher_logits = forward_outputs(model, x).logits.detach()
    student = Outputs(teacher_logits + torch.tensor([[1.0, -1.0]]), torch.zeros(4, 8))
    got = kd.penalty(model, Batch(x, torch.zeros(4, dtype=torch.long), 0), student)
    assert float(got) == pytest.approx(0.3 * float(kd_term(student.logits, teacher_logits, 20.0)))


def test_l2sp_terms_by_hand() -> None:
    model: Any = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    ref = {n: p.detach().clone() for n, p in model.named_parameters()}
    with torch.no_grad():
        model[0].weight += torch.tensor([[1.0, 0.0], [0.0, 2.0]])  # ||d||^2 = 5
        model[0].bias += torch.tensor([0.0, 1.0])  # + 1
    feat, head = l2sp_terms(model, ref, {"1.weight", "1.bias"})
    assert float(feat.detach()) == pytest.approx(0.5 * 6.0)
    with torch.no_grad():
        expected_head = 0.5 * float(model[1].weight.pow(2).sum() + model[1].bias.pow(2).sum())
    assert float(head.detach()) == pytest.approx(expected_head)


def test_tg_penalty_is_gamma_times_l2sp_with_gamma_from_teacher_ce() -> None:
    model = _tiny_timm()
    tg = create_strategy("tg")
    task = TaskData("t", 1, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), lambda r: [])
    tg.before_task(model, task)
    with torch.no_grad():
        model.conv1[0].weight += 0.1  # feature weights move away from the teacher
    x, y = torch.randn(4, 3, 16, 16), torch.tensor([0, 1, 0, 1])
    t_logits = tg.teacher_outputs(x).logits
    gamma = 1.0 / (1.0 + math.exp(float(nn.functional.cross_entropy(t_logits, y))))
    dist = 0.5 * 0.01 * model.conv1[0].weight.numel()
    with torch.no_grad():
        head = 0.5 * float(model.fc.weight.pow(2).sum() + model.fc.bias.pow(2).sum())
    out = forward_outputs(model, x)
    got = float(tg.penalty(model, Batch(x, y, 0), out).detach())
    assert got == pytest.approx(gamma * (dist + head), rel=1e-4)


def test_store_bins_edges() -> None:
    p = torch.tensor([0.3, 0.5, 0.55, 0.6, 0.61, 0.95, 1.0])
    assert store_bins(p, 5).tolist() == [-1, -1, 0, 0, 1, 4, 4]
    assert store_bins(p, 1).tolist() == [-1, -1, 0, 0, 0, 0, 0]


def test_binned_sums_and_representation_loss_by_hand() -> None:
    feats = torch.tensor([[1.0, 0.0], [3.0, 2.0], [5.0, 5.0], [7.0, 1.0]])
    bins = torch.tensor([0, 0, 1, -1])
    y = torch.tensor([1, 1, 0, 0])
    sums, counts = binned_sums(feats, bins, y, stores=2, classes=2)
    assert counts.tolist() == [[0.0, 2.0], [1.0, 0.0]]
    assert sums[0, 1].tolist() == [4.0, 2.0] and sums[1, 0].tolist() == [5.0, 5.0]
    store = torch.zeros(2, 2, 2)
    store[0, 1] = torch.tensor([1.0, 1.0])  # batch mean (2, 1): diff^2 = 1 + 0
    store[1, 0] = torch.tensor([4.0, 5.0])  # batch mean (5, 5): diff^2 = 1
    present = torch.tensor([[True, True], [False, False]])  # cell (1, 0) not in the store
    assert float(representation_loss(store, present, feats, bins, y)) == pytest.approx(1.0)
    present[1, 0] = True
    assert float(representation_loss(store, present, feats, bins, y)) == pytest.approx(2.0)


def test_cored_stores_are_teacher_means_per_bin_and_class() -> None:
    model = _tiny_timm()
    x = torch.randn(12, 3, 16, 16)
    y = torch.tensor([0, 1] * 6)
    batches = [Batch(x[:5], y[:5], 0), Batch(x[5:], y[5:], 0)]
    task = TaskData("t", 1, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), lambda r: batches)
    cored = CoReD({"stores": 2})
    cored.before_task(model, task)
    assert cored.store is not None and cored.present is not None
    store, present = cored.store, cored.present
    out = forward_outputs(model, x)
    p_true = _softmax(out.logits.detach().numpy())[np.arange(12), y.numpy()]
    feats = out.features.detach().numpy()
    for b, (lo, hi) in enumerate([(0.5, 0.75), (0.75, 1.0)]):
        for c in (0, 1):
            sel = (p_true > lo) & (p_true <= hi) & (y.numpy() == c)
            assert bool(present[b, c]) == bool(sel.any())
            if sel.any():
                np.testing.assert_allclose(
                    store[b, c].numpy(),
                    feats[sel].mean(axis=0),
                    rtol=1e-4,
                    atol=1e-5,
                )


def test_ft_penalty_is_zero_and_unknown_method_lists_the_known() -> None:
    ft = create_strategy("ft")
    out = Outputs(torch.randn(2, 2), torch.randn(2, 4))
    assert (
        float(ft.penalty(nn.Linear(1, 1), Batch(torch.zeros(2, 3, 4, 4), torch.zeros(2), 0), out))
        == 0
    )
    with pytest.raises(FakescopeError, match="choose one of: cored, ewc, ft, kd, lwf, replay, tg"):
        create_strategy("icarl")


def test_ewc_penalty_is_zero_at_the_anchor_and_grows_away() -> None:
    model = _tiny_timm()
    x, y = torch.randn(8, 3, 16, 16), torch.tensor([0, 1] * 4)
    task = TaskData(
        "t", 0, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), lambda r: [Batch(x, y, 0)]
    )
    ewc = EWC({"weight": 2.0})
    ewc.after_task(model, task)
    out = forward_outputs(model, x)
    assert float(ewc.penalty(model, Batch(x, y, 0), out).detach()) == pytest.approx(0.0, abs=1e-9)
    with torch.no_grad():
        model.fc.bias += 1.0
    expected = 0.5 * 2.0 * float(ewc.fisher["fc.bias"].sum())
    assert float(ewc.penalty(model, Batch(x, y, 0), out).detach()) == pytest.approx(
        expected, rel=1e-5
    )
    assert expected > 0
