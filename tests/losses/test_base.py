"""The loss registry, parameter validation, class weights, output widths, ``fakescope list``."""

from __future__ import annotations

import pytest
import torch

from fakescope.cli.listing import LISTERS, Kind
from fakescope.errors import ConfigError
from fakescope.losses.base import Loss, weighted_mean
from fakescope.losses.catalog import LOSSES, check_loss_params, create_loss
from fakescope.losses.dmyt import DmytParams


def test_registry_holds_the_four_losses() -> None:
    assert LOSSES.names() == ["bce", "ce", "dmyt", "triplet"]
    for name in LOSSES.names():
        cls = LOSSES.get(name)
        assert issubclass(cls, Loss) and cls.name == name
    assert [n for n in LOSSES.names() if LOSSES.get(n).needs_head] == ["triplet"]
    assert [n for n in LOSSES.names() if LOSSES.get(n).output == "embedding"] == [
        "dmyt",
        "triplet",
    ]


def test_output_width_per_loss() -> None:
    widths = {name: create_loss(name, None, 2, 16).output_dim() for name in LOSSES.names()}
    assert widths == {"ce": 2, "bce": 1, "dmyt": 16, "triplet": 16}
    assert create_loss("ce", {}, 5, 16).output_dim() == 5


def test_params_are_validated_with_one_line_errors() -> None:
    p = check_loss_params("dmyt", {"margin": 0.5, "root_dummy": True})
    assert isinstance(p, DmytParams) and p.margin == 0.5 and p.root_dummy
    with pytest.raises(
        ConfigError, match=r"unknown dmyt loss parameter 'margn'; valid ones: .*margin"
    ):
        check_loss_params("dmyt", {"margn": 1.0})
    with pytest.raises(ConfigError, match="invalid dmyt loss parameter 'margin'"):
        check_loss_params("dmyt", {"margin": -1.0})
    with pytest.raises(ConfigError, match="unknown ce loss parameter 'x'; valid ones: none"):
        check_loss_params("ce", {"x": 1})
    with pytest.raises(ConfigError, match="unknown loss 'focal'; choose one of: bce, ce, dmyt"):
        create_loss("focal", None, 2, 8)


def test_class_weights_and_class_count_are_checked() -> None:
    loss = create_loss("ce", None, 3, 8, class_weights=[1, 2, 0.5])
    assert torch.equal(loss.class_weights, torch.tensor([1.0, 2.0, 0.5]))
    assert "class_weights" not in loss.state_dict()  # non-persistent: never in checkpoints
    assert torch.equal(create_loss("ce", None, 3, 8).class_weights, torch.ones(3))
    with pytest.raises(ConfigError, match="class_weights has 2 values but there are 3 classes"):
        create_loss("ce", None, 3, 8, class_weights=[1, 2])
    with pytest.raises(ConfigError, match="finite, >= 0 and not all 0"):
        create_loss("dmyt", None, 2, 8, class_weights=[1, -1])
    with pytest.raises(ConfigError, match="finite, >= 0 and not all 0"):
        create_loss("ce", None, 2, 8, class_weights=[0, 0])
    with pytest.raises(ConfigError, match="at least 2 classes"):
        create_loss("ce", None, 1, 8)


def test_weighted_mean() -> None:
    losses = torch.tensor([1.0, 3.0, 5.0])
    assert weighted_mean(losses, torch.tensor([1.0, 1.0, 2.0])).item() == pytest.approx(14 / 4)
    assert weighted_mean(losses, torch.zeros(3)).item() == 0.0


def test_fakescope_list_shows_losses_with_params() -> None:
    lines = LISTERS[Kind.losses]()
    assert any(line.startswith("  dmyt - ") for line in lines)
    assert "      margin = 1.0" in lines and "      svm_per_class = 1000" in lines
