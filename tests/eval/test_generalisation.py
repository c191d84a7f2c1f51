"""single-source and leave-one-family-out with the exact ToyDetector (see eval_toys.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from fakescope.data.schema import FAMILY, GENERATOR, LABEL, SPLIT
from fakescope.errors import DataError
from fakescope.eval.catalog import PROTOCOLS, run_protocol
from fakescope.eval.generalisation import generator_families, without_group
from fakescope.eval.metrics import ACC_AT_VAL, AUC, FAKE_ACCURACY, OVERALL, TRAIN
from tests.eval.eval_toys import ToyDetector, factory, red_table

#: Fake red level per generator: the gan fakes are bright, the diffusion fakes dark.
FAKE_RED = {"a": 230, "b": 215, "d": 25}
FAMILIES = {"a": "gan", "b": "gan", "d": "diffusion"}


def three_generators(
    tmp_path: Path, *, tag_reals: bool = True, families: dict[str, str] | None = FAMILIES
) -> pd.DataFrame:
    """Generators a, b (family gan) and d (diffusion): reals near red 128, 3/2/2 per split."""
    rows = []
    for split, n in (("train", 3), ("val", 2), ("test", 2)):
        for g, red in FAKE_RED.items():
            for i in range(n):
                rows += [(124 + i, 0, g if tag_reals else "", split), (red + i, 1, g, split)]
    table = red_table(tmp_path, rows)
    if families is not None:
        fakes = table[LABEL] == 1
        table.loc[fakes, FAMILY] = table.loc[fakes, GENERATOR].map(families)
    return table


def trained_on(made: list[ToyDetector]) -> list[pd.DataFrame]:
    """The training table each detector's fit received, in order."""
    return [d.fit_log[0]["train"] for d in made]  # type: ignore[misc]


def validated_on(made: list[ToyDetector]) -> list[pd.DataFrame]:
    return [d.fit_log[0]["val"] for d in made]  # type: ignore[misc]


def test_registered() -> None:
    assert {"single-source", "leave-one-family-out"} <= set(PROTOCOLS.names())


# ------------------------------------------------------------- single-source
def test_single_source_trains_on_one_generator_tests_on_all(tmp_path: Path) -> None:
    made: list[ToyDetector] = []
    report = run_protocol(
        "single-source",
        three_generators(tmp_path),
        factory("nearest", made),
        workdir=tmp_path / "w",
        options={"source": "a", "holdout": "ignored"},
    )
    assert len(made) == 1
    (train,), (val,) = trained_on(made), validated_on(made)
    assert set(train[GENERATOR]) == {"a"} and set(train[SPLIT]) == {"train"}
    assert sorted(train[LABEL]) == [0, 0, 0, 1, 1, 1]
    assert set(val[GENERATOR]) == {"a"} and set(val[SPLIT]) == {"val"}
    assert made[0].fit_log[0]["workdir"] == tmp_path / "w" / "a"
    assert report.sources == ["a"]
    assert report.meta["protocol"] == "single-source" and report.meta["source"] == "a"
    assert report.meta["seen"] == {"a": ["a"]}
    assert report.meta["thresholds"]["a"]["chosen_on"] == "val"
    frame = report.to_frame()
    assert frame[GENERATOR].tolist() == [OVERALL, "a", "b", "d"]  # every test generator
    fake_acc = report.matrix(FAKE_ACCURACY)
    # bright 'a' fakes learnt: bright 'b' fakes are caught, dark 'd' fakes are not
    assert fake_acc.loc["a", "a"] == 1.0 and fake_acc.loc["a", "b"] == 1.0
    assert fake_acc.loc["a", "d"] == 0.0
    assert report.matrix(AUC).shape == (1, 3) and report.matrix(ACC_AT_VAL).shape == (1, 3)


def test_single_source_without_a_source_runs_every_generator(tmp_path: Path) -> None:
    made: list[ToyDetector] = []
    report = run_protocol("single-source", three_generators(tmp_path), factory("nearest", made))
    assert [set(t[GENERATOR]) for t in trained_on(made)] == [{"a"}, {"b"}, {"d"}]
    assert list(report.matrix(AUC).index) == ["a", "b", "d"]
    assert list(report.matrix(AUC).columns) == ["a", "b", "d"]
    assert report.meta["seen"] == {"a": ["a"], "b": ["b"], "d": ["d"]}
    assert report.meta["source"] is None


def test_single_source_with_untagged_reals_trains_with_all_reals(tmp_path: Path) -> None:
    made: list[ToyDetector] = []
    table = three_generators(tmp_path, tag_reals=False)
    run_protocol("single-source", table, factory("red", made), options={"source": "d"})
    (train,) = trained_on(made)
    assert (train[LABEL] == 0).sum() == 9 and set(train.loc[train[LABEL] == 1, GENERATOR]) == {"d"}


def test_single_source_unknown_source_lists_the_generators(tmp_path: Path) -> None:
    made: list[ToyDetector] = []
    with pytest.raises(DataError, match=r"unknown source generator 'x'.*a, b, d") as info:
        run_protocol(
            "single-source",
            three_generators(tmp_path),
            factory("red", made),
            options={"source": "x"},
        )
    assert "\n" not in str(info.value) and made == []


# ------------------------------------------------------ leave-one-family-out
def test_leave_one_family_out_holds_each_family_out(tmp_path: Path) -> None:
    made: list[ToyDetector] = []
    report = run_protocol(
        "leave-one-family-out",
        three_generators(tmp_path),
        factory("nearest", made),
        workdir=tmp_path / "w",
    )
    assert report.sources == ["without diffusion", "without gan"]
    no_diffusion, no_gan = trained_on(made)
    # held-out generators are absent from training: their fakes and their tagged reals
    assert set(no_diffusion[GENERATOR]) == {"a", "b"} and len(no_diffusion) == 12
    assert set(no_gan[GENERATOR]) == {"d"} and len(no_gan) == 6
    assert set(no_gan[SPLIT]) == {"train"}
    assert [set(v[GENERATOR]) for v in validated_on(made)] == [{"a", "b"}, {"d"}]
    assert made[1].fit_log[0]["workdir"] == tmp_path / "w" / "without_gan"
    assert report.meta["held_out"] == {"without diffusion": ["d"], "without gan": ["a", "b"]}
    assert report.meta["seen"] == {"without diffusion": ["a", "b"], "without gan": ["d"]}
    assert report.meta["families"] == FAMILIES and report.meta["holdout"] is None
    frame = report.to_frame()
    for source in report.sources:  # tested on every generator, held out ones included
        assert frame[frame[TRAIN] == source][GENERATOR].tolist() == [OVERALL, "a", "b", "d"]
    fake_acc = report.matrix(FAKE_ACCURACY)
    assert fake_acc.loc["without gan", "d"] == 1.0
    assert fake_acc.loc["without gan", "a"] == 0.0 and fake_acc.loc["without gan", "b"] == 0.0


def test_leave_one_family_out_single_holdout(tmp_path: Path) -> None:
    made: list[ToyDetector] = []
    report = run_protocol(
        "leave-one-family-out",
        three_generators(tmp_path),
        factory("red", made),
        options={"holdout": "gan", "source": "ignored"},
    )
    assert len(made) == 1 and report.sources == ["without gan"]
    assert report.meta["held_out"] == {"without gan": ["a", "b"]}
    assert report.meta["holdout"] == "gan"


def test_leave_one_family_out_with_untagged_reals_keeps_every_real(tmp_path: Path) -> None:
    made: list[ToyDetector] = []
    table = three_generators(tmp_path, tag_reals=False)
    run_protocol("leave-one-family-out", table, factory("red", made), options={"holdout": "gan"})
    (train,) = trained_on(made)
    assert (train[LABEL] == 0).sum() == 9
    assert set(train.loc[train[LABEL] == 1, GENERATOR]) == {"d"}


def test_leave_one_family_out_errors(tmp_path: Path) -> None:
    made: list[ToyDetector] = []
    make = factory("red", made)
    with pytest.raises(DataError, match=r"unknown holdout family 'vae'.*diffusion, gan"):
        run_protocol(
            "leave-one-family-out", three_generators(tmp_path), make, options={"holdout": "vae"}
        )
    one_family = three_generators(tmp_path, families={"a": "gan", "b": "gan", "d": "gan"})
    with pytest.raises(DataError, match=r"at least 2 families.*'gan'"):
        run_protocol("leave-one-family-out", one_family, make)
    no_family = three_generators(tmp_path, families=None).drop(columns=[FAMILY])
    with pytest.raises(DataError, match=r"needs the family of every fake.*family_map") as info:
        run_protocol("leave-one-family-out", no_family, make)
    assert "\n" not in str(info.value)
    partial = three_generators(tmp_path, families={"a": "gan", "b": "gan"})  # d: no family
    with pytest.raises(DataError, match=r"have no family \(generators: d\)"):
        run_protocol("leave-one-family-out", partial, make)
    assert made == []  # every error comes before any training


def test_generator_families_and_without_group_by_family(tmp_path: Path) -> None:
    table = three_generators(tmp_path)
    assert generator_families(table) == FAMILIES
    rest = without_group(table, FAMILY, "gan", {"a", "b"})
    assert set(rest[GENERATOR]) == {"d"} and len(rest) == 2 * 7
    clash = table.copy()
    clash.loc[
        (clash[LABEL] == 1) & (clash[GENERATOR] == "a") & (clash[SPLIT] == "test"), FAMILY
    ] = "diffusion"
    with pytest.raises(DataError, match="generator 'a' has fakes of several families"):
        generator_families(clash)
