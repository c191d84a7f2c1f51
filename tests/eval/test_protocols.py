"""Protocols and evaluate_detector with the exact ToyDetector (see eval_toys.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fakescope.config import RobustnessConfig
from fakescope.data.schema import Sample, make_table
from fakescope.detectors.threshold import choose_threshold
from fakescope.errors import ConfigError, DataError, FakescopeError
from fakescope.eval.catalog import PROTOCOLS, evaluate_detector, run_protocol
from fakescope.eval.metrics import (
    ACC_AT_VAL,
    ACCURACY,
    AUC,
    CLEAN,
    FAKE_ACCURACY,
    GENERATOR,
    N_ERRORS,
    N_FAKE,
    N_REAL,
    OVERALL,
    THRESHOLD,
    TIER,
    TRAIN,
    VALUE,
)
from fakescope.eval.robustness import predict_tiers, tiers_from_config
from tests.eval.eval_toys import factory, fitted, red_table


def test_registry_names() -> None:
    assert {"all", "cross-generator"} <= set(PROTOCOLS.names())
    with pytest.raises(FakescopeError, match="unknown protocol"):
        PROTOCOLS.get("nope")


def test_evaluate_detector_per_generator_and_errors(tmp_path: Path) -> None:
    table = red_table(
        tmp_path,
        [
            (20, 0, "a", "test"),
            (40, 0, "a", "test"),
            (200, 1, "a", "test"),
            (100, 1, "a", "test"),
            (30, 0, "", "test"),
            (220, 1, "b", "test"),
        ],
    )
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    extra = make_table([Sample(str(broken), 1, "b", split="test")])
    table = pd.concat([table, extra], ignore_index=True)
    report = evaluate_detector(fitted("red"), table, val_threshold=0.3)
    by = report.to_frame().set_index(GENERATOR)
    assert list(by.index) == [OVERALL, "a", "b"]
    assert (by.loc["a", N_REAL], by.loc["a", N_FAKE], by.loc["a", N_ERRORS]) == (2, 2, 0)
    assert by.loc["a", ACCURACY] == 0.75  # fake with red 100 (0.39) is called real at 0.5
    assert by.loc["a", ACC_AT_VAL] == 1.0  # ... but fake at 0.3
    assert by.loc["a", AUC] == 1.0
    # "b" has no reals of its own: its fakes are scored against all 3 test reals
    assert (by.loc["b", N_REAL], by.loc["b", N_FAKE], by.loc["b", N_ERRORS]) == (3, 1, 1)
    assert by.loc[OVERALL, N_ERRORS] == 1 and by.loc[OVERALL, N_FAKE] == 3
    assert (report.to_frame()[TIER] == CLEAN).all()
    assert report.scores is not None
    assert report.scores["error"].str.contains("not an image").sum() == 1


def test_evaluate_detector_uses_detector_threshold_by_default(tmp_path: Path) -> None:
    table = red_table(tmp_path, [(20, 0, "a", "test"), (100, 1, "a", "test")])
    det = fitted("red")
    det.threshold_ = 0.2
    frame = evaluate_detector(det, table).to_frame()
    assert (frame[THRESHOLD] == 0.2).all() and (frame[ACC_AT_VAL] == 1.0).all()
    assert (frame[ACCURACY] == 0.5).all()


def test_threshold_is_chosen_on_val_not_test(tmp_path: Path) -> None:
    # val: best cut in (0.2, 0.3] -> 0.25 (midpoint); test: best cut is about 0.33, not 0.25
    val = [(51, 0, "g", "val"), (56, 0, "g", "val"), (77, 1, "g", "val"), (102, 1, "g", "val")]
    test = [
        (26, 0, "g", "test"),
        (77, 0, "g", "test"),
        (89, 1, "g", "test"),
        (102, 1, "g", "test"),
        (153, 1, "g", "test"),
    ]
    train = [(10, 0, "g", "train"), (250, 1, "g", "train")]
    table = red_table(tmp_path, train + val + test)
    made: list = []
    report = run_protocol("all", table, factory("red", made), workdir=tmp_path / "work")
    overall = report.to_frame().set_index(GENERATOR).loc[OVERALL]
    val_cut = choose_threshold(np.array([0, 0, 1, 1]), np.array([51, 56, 77, 102]) / 255)
    test_cut = choose_threshold(np.array([0, 0, 1, 1, 1]), np.array([26, 77, 89, 102, 153]) / 255)
    assert val_cut == pytest.approx((56 + 77) / 2 / 255) and val_cut != pytest.approx(test_cut)
    assert overall[THRESHOLD] == pytest.approx(val_cut)
    # at the val cut the real at 77 is called fake; at 0.5 the fakes at 89 and 102 are called real
    assert overall[ACC_AT_VAL] == pytest.approx(4 / 5)
    assert overall[ACCURACY] == pytest.approx(3 / 5)
    assert report.meta["protocol"] == "all"
    assert report.meta["thresholds"][OVERALL]["chosen_on"] == "val"
    # the detector was fitted on train only and validated on val only
    log = made[0].fit_log[0]
    assert set(log["train"]["split"]) == {"train"} and set(log["val"]["split"]) == {"val"}
    assert log["workdir"] == tmp_path / "work" / "all"


def _two_generators(tmp_path: Path, with_c_in_train: bool = True) -> pd.DataFrame:
    """Reals around red 128; fakes of 'a' bright (~230), of 'b' dark (~25); 'c' test-only."""
    rows = []
    for split, n in (("train", 3), ("val", 2), ("test", 3)):
        for i in range(n):
            rows += [(126 + i, 0, "a", split), (230 + i, 1, "a", split)]
            rows += [(128 + i, 0, "b", split), (25 + i, 1, "b", split)]
    rows += [(120, 0, "c", "test"), (200, 1, "c", "test")]
    return red_table(tmp_path, rows)


def test_cross_generator_matrix(tmp_path: Path) -> None:
    table = _two_generators(tmp_path)
    made: list = []
    report = run_protocol(
        "cross-generator", table, factory("nearest", made), workdir=tmp_path / "w"
    )
    auc = report.matrix(AUC)
    assert list(auc.index) == ["a", "b"]
    assert list(auc.columns) == ["a", "b", "c"]
    assert auc.to_numpy() == pytest.approx(np.ones((2, 3)))  # the ranking separates every pair
    acc = report.matrix(ACCURACY)
    # trained on 'a' (fakes bright), dark 'b' fakes are closer to the reals: called real
    assert acc.loc["a", "a"] == 1.0 and acc.loc["b", "b"] == 1.0
    assert acc.loc["a", "b"] == 0.5 and acc.loc["b", "a"] == 0.5
    assert report.matrix(ACC_AT_VAL).shape == (2, 3)
    frame = report.to_frame()
    assert set(frame[TRAIN]) == {"a", "b"}
    for source in ("a", "b"):
        assert frame[frame[TRAIN] == source][GENERATOR].tolist() == [OVERALL, "a", "b", "c"]
    assert [set(d.fit_log[0]["train"]["generator"]) for d in made] == [{"a"}, {"b"}]
    assert {d.fit_log[0]["workdir"] for d in made} == {tmp_path / "w" / "a", tmp_path / "w" / "b"}
    assert set(report.meta["thresholds"]) == {"a", "b"}


def test_cross_generator_without_own_reals_trains_with_all_reals(tmp_path: Path) -> None:
    rows = [
        (20, 0, "", "train"),
        (30, 0, "", "train"),
        (200, 1, "x", "train"),
        (210, 1, "y", "train"),
        (25, 0, "", "test"),
        (205, 1, "x", "test"),
        (215, 1, "y", "test"),
    ]
    made: list = []
    report = run_protocol("cross-generator", red_table(tmp_path, rows), factory("red", made))
    assert [len(d.fit_log[0]["train"]) for d in made] == [3, 3]  # own fake + both reals
    by = report.select(CLEAN).set_index([TRAIN, GENERATOR])
    assert by.loc[("x", "y"), N_REAL] == 1 and by.loc[("x", "y"), N_FAKE] == 1


def test_cross_generator_needs_named_generators(tmp_path: Path) -> None:
    rows = [(20, 0, "", "train"), (200, 1, "", "train"), (25, 0, "", "test"), (205, 1, "", "test")]
    with pytest.raises(DataError, match="cross-generator needs"):
        run_protocol("cross-generator", red_table(tmp_path, rows), factory())


def test_missing_split_is_a_data_error(tmp_path: Path) -> None:
    table = red_table(tmp_path, [(20, 0, "a", "train"), (200, 1, "a", "train")])
    with pytest.raises(DataError, match="no 'test' rows"):
        run_protocol("all", table, factory())


def test_robustness_tiers_add_rows(tmp_path: Path) -> None:
    table = red_table(
        tmp_path,
        [
            (20, 0, "a", "train"),
            (200, 1, "a", "train"),
            (30, 0, "a", "test"),
            (190, 1, "a", "test"),
        ],
    )
    cfg = RobustnessConfig(jpeg=[10, 50], blur=[1.0], downscale=[0.5])
    report = run_protocol("all", table, factory("red"), robustness=cfg)
    frame = report.to_frame()
    pairs = report.tiers
    assert pairs[0][0] == CLEAN and math.isnan(pairs[0][1])
    assert pairs[1:] == [("jpeg", 10.0), ("jpeg", 50.0), ("blur", 1.0), ("downscale", 0.5)]
    assert len(frame) == 5 * 2  # (tier, value) x {overall, a}
    assert not frame.duplicated([TRAIN, TIER, VALUE, GENERATOR]).any()
    assert report.select("jpeg", 10)[GENERATOR].tolist() == [OVERALL, "a"]
    assert report.meta["robustness"]["jpeg"] == [10, 50]


def test_jpeg_changes_high_frequency_scores(tmp_path: Path, make_image) -> None:  # type: ignore[no-untyped-def]
    paths = [str(make_image(tmp_path / f"r{i}.png", i, fmt="PNG")) for i in range(3)]
    paths += [
        str(make_image(tmp_path / f"f{i}.png", 50 + i, fake=True, fmt="PNG")) for i in range(3)
    ]
    det = fitted("hf")
    (clean_tier, clean), (jpeg_tier, jpeg) = predict_tiers(
        det, paths, tiers_from_config(RobustnessConfig(jpeg=[10]))
    )
    assert (clean_tier.kind, jpeg_tier.kind, jpeg_tier.value) == (CLEAN, "jpeg", 10.0)
    assert np.abs(clean.p_fake[3:] - jpeg.p_fake[3:]).min() > 0.2  # checkerboard trace is gone
    labels = [0, 0, 0, 1, 1, 1]
    table = make_table(
        [Sample(p, y, "g", split="test") for p, y in zip(paths, labels, strict=True)]
    )
    report = evaluate_detector(det, table, robustness=RobustnessConfig(jpeg=[10]))
    by = report.to_frame().set_index([TIER, GENERATOR])
    assert by.loc[(CLEAN, "g"), FAKE_ACCURACY] == 1.0
    assert by.loc[("jpeg", "g"), FAKE_ACCURACY] == 0.0
    assert by.loc[("jpeg", "g"), VALUE] == 10.0


def test_bad_tier_fails_before_training(tmp_path: Path) -> None:
    table = red_table(
        tmp_path, [(20, 0, "a", "train"), (200, 1, "a", "train"), (30, 0, "a", "test")]
    )
    made: list = []
    with pytest.raises(ConfigError, match="jpeg=0"):
        run_protocol("all", table, factory("red", made), robustness=RobustnessConfig(jpeg=[0]))
    assert made == []


def test_empty_test_table_is_a_data_error() -> None:
    with pytest.raises(DataError, match="nothing to evaluate"):
        evaluate_detector(fitted(), make_table([]))


@pytest.mark.parametrize("progress", [True, False])
def test_run_experiment_without_progress_also_quiets_training_bars(
    monkeypatch: pytest.MonkeyPatch, progress: bool
) -> None:
    from fakescope.config import load_config
    from fakescope.eval import protocols

    made: list[object] = []

    def fake_run_protocol(name: str, table: pd.DataFrame, factory, **kwargs: object) -> None:  # type: ignore[no-untyped-def]
        made.append(factory())

    monkeypatch.setattr(protocols, "run_protocol", fake_run_protocol)
    cfg = load_config(None, {"detector.name": "cnn", "eval.protocol": "all"})
    protocols.run_experiment(cfg, lambda: pd.DataFrame(), progress=progress)
    assert made[0].params.progress is progress  # type: ignore[attr-defined]
    probe = load_config(None, {"detector.name": "probe", "eval.protocol": "all"})
    protocols.run_experiment(probe, lambda: pd.DataFrame(), progress=progress)
    assert made[1].params.progress is progress  # type: ignore[attr-defined]
    tree = load_config(None, {"detector.name": "hierarchy", "eval.protocol": "all"})
    protocols.run_experiment(tree, lambda: pd.DataFrame(), progress=progress)
    node = made[2].params.node.params  # type: ignore[attr-defined]
    assert node.get("progress", True) is progress and node["arch"] == "resnet18"
