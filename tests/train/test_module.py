"""The LightningModule: weighted CE, skipped batches, the failed-file warning, LR schedules."""

from __future__ import annotations

import math

import pytest
import torch

from fakescope.train.dataset import Batch
from fakescope.train.module import ClassifierModule
from tests.train.conftest import tiny_cnn


def test_class_weights_change_the_loss() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    y = torch.tensor([1, 1, 0])
    plain = ClassifierModule(tiny_cnn(), 2)._loss(logits, y)
    weighted = ClassifierModule(tiny_cnn(), 2, class_weights=[1.0, 3.0])._loss(logits, y)
    expected = torch.nn.functional.cross_entropy(logits, y, weight=torch.tensor([1.0, 3.0]))
    assert torch.isclose(weighted, expected) and not torch.isclose(weighted, plain)
    with pytest.raises(ValueError, match="class_weights"):
        ClassifierModule(tiny_cnn(), 2, class_weights=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="2 classes"):
        ClassifierModule(tiny_cnn(1), 1)


def test_small_batches_are_skipped_and_failures_counted() -> None:
    module = ClassifierModule(tiny_cnn(), 2)
    one = Batch(torch.zeros(1, 3, 8, 8), torch.tensor([0]), failed=3)
    assert module.training_step(one, 0) is None
    assert module.failed_train == 3
    with pytest.warns(RuntimeWarning, match="3 training and 0 validation"):
        module.on_train_epoch_end()
    module.failed_train = 2
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        module.on_train_epoch_end()  # warns only once
    assert module.failed_train == 0


def _lrs(module: ClassifierModule, steps: int) -> list[float]:
    conf = module.configure_optimizers()
    sched = conf["lr_scheduler"]["scheduler"]
    out = []
    for _ in range(steps):
        out.append(sched.get_last_lr()[0])
        conf["optimizer"].step()
        sched.step()
    return out


def test_cosine_and_step_schedules() -> None:
    lrs = _lrs(ClassifierModule(tiny_cnn(), 2, lr=1.0, epochs=4, scheduler="cosine"), 4)
    assert lrs == pytest.approx([0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(4)])
    step = _lrs(
        ClassifierModule(tiny_cnn(), 2, lr=1.0, scheduler="step", step_size=2, gamma=0.5), 5
    )
    assert step == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.25])
    assert isinstance(
        ClassifierModule(tiny_cnn(), 2, scheduler="none").configure_optimizers(), torch.optim.AdamW
    )


def test_cosine_resumed_with_more_epochs_stretches() -> None:
    first = ClassifierModule(tiny_cnn(), 2, lr=1.0, epochs=2)
    conf = first.configure_optimizers()
    conf["optimizer"].step()
    conf["lr_scheduler"]["scheduler"].step()
    state = conf["lr_scheduler"]["scheduler"].state_dict()
    more = ClassifierModule(tiny_cnn(), 2, lr=1.0, epochs=4).configure_optimizers()
    sched = more["lr_scheduler"]["scheduler"]
    sched.load_state_dict(state)
    more["optimizer"].step()
    sched.step()
    assert sched.get_last_lr()[0] == pytest.approx(0.5 * (1 + math.cos(math.pi * 2 / 4)))
