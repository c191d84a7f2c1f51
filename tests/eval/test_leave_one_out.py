"""leave-one-out over any grouping and cross-dataset, with the exact ToyDetector."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakescope.data.schema import GENERATOR, LABEL
from fakescope.errors import DataError
from fakescope.eval.catalog import PROTOCOLS, run_protocol
from fakescope.eval.leave_one_out import TEST_TABLE, unseen_scores
from fakescope.eval.metrics import AUC, FAKE_ACCURACY, OVERALL, TRAIN
from tests.eval.eval_toys import ToyDetector, factory, red_table
from tests.eval.test_generalisation import three_generators, trained_on


def test_registered() -> None:
    assert {"leave-one-out", "cross-dataset"} <= set(PROTOCOLS.names())


def test_leave_one_generator_out_holds_each_generator_out(tmp_path: Path) -> None:
    made: list[ToyDetector] = []
    report = run_protocol(
        "leave-one-out", three_generators(tmp_path), factory("nearest", made), options={}
    )
    assert report.sources == ["without a", "without b", "without d"]
    for held, train in zip(("a", "b", "d"), trained_on(made), strict=True):
        assert held not in set(train[GENERATOR])  # neither its fakes nor its tagged reals
    assert report.meta["group"] == "generator"
    assert report.meta["held_out"] == {"without a": ["a"], "without b": ["b"], "without d": ["d"]}
    # the nearest-mean toy trained without d (dark fakes) calls d's fakes real: unseen fails
    fake_acc = report.matrix(FAKE_ACCURACY)
    assert fake_acc.loc["without d", "d"] == 0.0
    # ...while the run that saw only bright fakes (a, b) never misses a seen one
    assert fake_acc.loc["without d", "a"] == 1.0 and fake_acc.loc["without d", "b"] == 1.0
    unseen = unseen_scores(report, FAKE_ACCURACY)
    assert sorted(unseen.index) == ["a", "b", "d"] and unseen["d"] == 0.0


def test_group_by_family_matches_leave_one_family_out(tmp_path: Path) -> None:
    table = three_generators(tmp_path)
    made: list[ToyDetector] = []
    report = run_protocol(
        "leave-one-out", table, factory("nearest", made), options={"group": "family"}
    )
    assert report.meta["held_out"] == {"without diffusion": ["d"], "without gan": ["a", "b"]}
    assert [set(t[GENERATOR]) for t in trained_on(made)] == [{"a", "b"}, {"d"}]


def test_group_by_any_column_and_single_holdout(tmp_path: Path) -> None:
    table = three_generators(tmp_path)
    table["source"] = table[GENERATOR].map({"a": "web", "b": "web", "d": "lab"})
    made: list[ToyDetector] = []
    report = run_protocol(
        "leave-one-out",
        table,
        factory("nearest", made),
        options={"group": "source", "holdout": "lab"},
    )
    assert report.sources == ["without lab"]
    assert set(trained_on(made)[0][GENERATOR]) == {"a", "b"}


def _counts(report: object, train: str, generator: str) -> int:
    """Images behind one (train source, test generator) cell of a report."""
    frame = report.to_frame()  # type: ignore[attr-defined]
    cell = frame[(frame[TRAIN] == train) & (frame[GENERATOR] == generator)].iloc[0]
    return int(cell["n_real"] + cell["n_fake"])


@pytest.mark.parametrize("protocol", ["leave-one-out", "leave-one-family-out"])
def test_held_out_group_is_tested_on_all_its_rows(tmp_path: Path, protocol: str) -> None:
    # three_generators: per generator 3 train + 2 val + 2 test images per class
    table = three_generators(tmp_path)
    holdout = "d" if protocol == "leave-one-out" else "diffusion"
    everything = run_protocol(protocol, table, factory(), options={"holdout": holdout})
    name = f"without {holdout}"
    assert everything.meta["unseen_rows"] == "all"
    assert _counts(everything, name, "d") == 2 * (3 + 2 + 2)  # never trained on: every row
    assert _counts(everything, name, "a") == 2 * 2  # seen: its test split only
    only_test = run_protocol(
        protocol, table, factory(), options={"holdout": holdout, "unseen_rows": "test"}
    )
    assert _counts(only_test, name, "d") == 2 * 2
    with pytest.raises(DataError, match="unseen_rows"):
        run_protocol(protocol, table, factory(), options={"unseen_rows": "train"})


def test_leave_one_out_errors(tmp_path: Path) -> None:
    table = three_generators(tmp_path)
    with pytest.raises(DataError, match="not a column"):
        run_protocol("leave-one-out", table, factory(), options={"group": "nope"})
    with pytest.raises(DataError, match=r"unknown holdout 'x'.*a, b, d"):
        run_protocol("leave-one-out", table, factory(), options={"holdout": "x"})
    one = table[(table[GENERATOR] == "a")]
    with pytest.raises(DataError, match="at least 2"):
        run_protocol("leave-one-out", one, factory(), options={})


def test_cross_dataset_trains_on_one_tests_on_every_row_of_the_other(tmp_path: Path) -> None:
    train = three_generators(tmp_path / "one")
    rows = [
        (120, 0, "x", "train"),
        (126, 0, "x", "test"),
        (30, 1, "x", "val"),
        (20, 1, "x", "test"),
    ]
    other = red_table(tmp_path / "two", rows)
    made: list[ToyDetector] = []
    report = run_protocol(
        "cross-dataset",
        train,
        factory("nearest", made),
        options={TEST_TABLE: other, "train_name": "one"},
    )
    assert report.sources == ["one"]
    frame = report.to_frame()
    overall = frame[frame[GENERATOR] == OVERALL].iloc[0]
    assert overall["n_real"] + overall["n_fake"] == len(other)  # every split of the other set
    assert report.meta["held_out"] == {"one": ["x"]}
    assert unseen_scores(report, AUC).index.tolist() == ["x"]
    assert set(trained_on(made)[0][LABEL]) == {0, 1}


def test_cross_dataset_needs_a_test_set(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="--test-data"):
        run_protocol("cross-dataset", three_generators(tmp_path), factory(), options={})


def test_reports_carry_the_format_audit_of_the_test_data(tmp_path: Path) -> None:
    from PIL import Image

    from fakescope.data.schema import PATH, SPLIT
    from fakescope.eval.leave_one_out import AUDIT

    rows = [(124 + i, 0, g, "train") for g in "ad" for i in range(3)]
    rows += [(200 + i, 1, g, "train") for g in "ad" for i in range(3)]
    rows += [(124 + i, y, g, "test") for g in "ad" for y in (0, 1) for i in range(8)]
    table = red_table(tmp_path, rows)
    # d's test fakes become JPEGs while every real stays PNG: a format shortcut for d only
    d_fakes = (table[GENERATOR] == "d") & (table[LABEL] == 1) & (table[SPLIT] == "test")
    for i in table.index[d_fakes]:
        png = Path(table.at[i, PATH])
        jpg = png.with_suffix(".jpg")
        Image.open(png).convert("RGB").save(jpg, quality=80)
        table.at[i, PATH] = str(jpg)
    report = run_protocol("leave-one-out", table, factory(), options={})
    audit = report.meta[AUDIT]
    assert audit["a"] == "pass"
    assert audit["d"].startswith("shortcut") and "container" in audit["d"]
