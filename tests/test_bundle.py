"""Bundles: atomic save, round trip, refusal of pickles, one-line format/version errors."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

import fakescope
from fakescope.bundle import CONFIG, FORMAT, META, WEIGHTS, load_bundle, read_meta, save_bundle
from fakescope.data.index import index_dataset
from fakescope.data.schema import PATH, SPLIT
from fakescope.errors import BundleError, NotFittedError
from tests.cli.tiny_detector import (
    TinyDetector,
    make_dataset,
    tiny_registered,  # noqa: F401 - autouse fixture
)


class BoomError(RuntimeError):
    pass


class FailingExtra(TinyDetector):
    """Fails while writing its extra files (after config, weights and meta)."""

    def _save_extra(self, directory: Path) -> None:
        (directory / "extra.json").write_text("{}")
        raise BoomError("disk full")


class InterruptedExtra(TinyDetector):
    def _save_extra(self, directory: Path) -> None:
        raise KeyboardInterrupt


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[TinyDetector, list[str]]:
    root = make_dataset(tmp_path_factory.mktemp("data") / "ds", n=6)
    table = index_dataset(root)
    det = TinyDetector({"steps": 50, "num_workers": 0})
    det.fit(table[table[SPLIT] == "train"], table[table[SPLIT] == "val"])
    return det, table[table[SPLIT] == "test"][PATH].tolist()


def as_failing(det: TinyDetector, cls: type[TinyDetector]) -> TinyDetector:
    other = cls(det.params)
    other.classes_, other.threshold_ = det.classes_, det.threshold_
    other.weight, other.bias = det.weight, det.bias
    return other


def test_round_trip_keeps_predictions_threshold_and_meta(
    fitted: tuple[TinyDetector, list[str]], tmp_path: Path
) -> None:
    det, paths = fitted
    where = det.save(tmp_path / "b")
    assert where == (tmp_path / "b").resolve()
    assert sorted(p.name for p in where.iterdir()) == sorted([CONFIG, META, WEIGHTS])
    meta = read_meta(where)
    assert meta["format"] == FORMAT
    assert meta["fakescope_version"] == fakescope.__version__
    assert meta["classes"] == ["real", "fake"]
    assert meta["threshold"] == pytest.approx(det.threshold_)
    assert meta["input"]["size"] == 32
    loaded = load_bundle(where)
    assert isinstance(loaded, TinyDetector)
    assert loaded.params == det.params
    assert loaded.threshold_ == pytest.approx(det.threshold_)
    np.testing.assert_allclose(loaded.predict_proba(paths), det.predict_proba(paths), rtol=1e-6)
    assert [p.name for p in tmp_path.iterdir()] == ["b"]  # no temp dirs left


def test_resave_replaces_an_old_bundle(
    fitted: tuple[TinyDetector, list[str]], tmp_path: Path
) -> None:
    det, _ = fitted
    det.save(tmp_path / "b")
    det.threshold_, old = 0.25, det.threshold_
    try:
        det.save(tmp_path / "b")
    finally:
        det.threshold_ = old
    assert read_meta(tmp_path / "b")["threshold"] == 0.25
    assert [p.name for p in tmp_path.iterdir()] == ["b"]


@pytest.mark.parametrize("cls", [FailingExtra, InterruptedExtra])
def test_failed_save_leaves_no_bundle_and_no_temp_dir(
    fitted: tuple[TinyDetector, list[str]], tmp_path: Path, cls: type[TinyDetector]
) -> None:
    det = as_failing(fitted[0], cls)
    with pytest.raises((BoomError, KeyboardInterrupt)):
        det.save(tmp_path / "b")
    assert list(tmp_path.iterdir()) == []


def test_failed_resave_keeps_the_old_bundle(
    fitted: tuple[TinyDetector, list[str]], tmp_path: Path
) -> None:
    det, _ = fitted
    det.save(tmp_path / "b")
    before = {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()}
    with pytest.raises(BoomError):
        as_failing(det, FailingExtra).save(tmp_path / "b")
    assert {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["b"]


def test_save_refuses_a_foreign_folder_and_an_unfitted_detector(
    fitted: tuple[TinyDetector, list[str]], tmp_path: Path
) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "me.jpg").write_bytes(b"x")
    with pytest.raises(BundleError, match="not a fakescope bundle"):
        fitted[0].save(tmp_path / "photos")
    assert [p.name for p in (tmp_path / "photos").iterdir()] == ["me.jpg"]
    with pytest.raises(NotFittedError):
        save_bundle(TinyDetector(), tmp_path / "new")
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("name", ["model.pkl", "model.pt", "weights.ckpt", "head.joblib"])
def test_pickle_files_are_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(BundleError, match="never loads pickles") as info:
        load_bundle(path)
    assert "\n" not in str(info.value)


def test_bundle_holding_a_pickle_is_refused(
    fitted: tuple[TinyDetector, list[str]], tmp_path: Path
) -> None:
    where = fitted[0].save(tmp_path / "b")
    (where / "head.pkl").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(BundleError, match=r"refuses to load pickles") as info:
        load_bundle(where)
    assert "head.pkl" in str(info.value)


def test_format_mismatch_names_both_versions(
    fitted: tuple[TinyDetector, list[str]], tmp_path: Path
) -> None:
    where = fitted[0].save(tmp_path / "b")
    meta = json.loads((where / META).read_text())
    meta.update(format=FORMAT + 98, fakescope_version="9.9.9")
    (where / META).write_text(json.dumps(meta))
    with pytest.raises(BundleError) as info:
        load_bundle(where)
    message = str(info.value)
    assert "\n" not in message
    assert f"format {FORMAT + 98}" in message and "9.9.9" in message
    assert f"format {FORMAT}" in message and fakescope.__version__ in message


@pytest.mark.parametrize("missing", [CONFIG, WEIGHTS, META])
def test_incomplete_bundle_names_the_missing_file(
    fitted: tuple[TinyDetector, list[str]], tmp_path: Path, missing: str
) -> None:
    where = fitted[0].save(tmp_path / "b")
    (where / missing).unlink()
    with pytest.raises(BundleError, match=f"{missing} is missing"):
        read_meta(where)


def test_missing_and_corrupt_bundles(
    fitted: tuple[TinyDetector, list[str]], tmp_path: Path
) -> None:
    with pytest.raises(BundleError, match="no bundle at"):
        read_meta(tmp_path / "nope")
    (tmp_path / "file.yaml").write_text("x: 1")
    with pytest.raises(BundleError, match="is a file"):
        read_meta(tmp_path / "file.yaml")
    where = fitted[0].save(tmp_path / "b")
    (where / META).write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        read_meta(where)


def test_bundle_is_readable_by_group_and_others_under_umask_022(
    fitted: tuple[TinyDetector, list[str]], tmp_path: Path
) -> None:
    det, _ = fitted
    old = os.umask(0o022)
    try:
        where = det.save(tmp_path / "shared")
        det.save(tmp_path / "shared")  # a re-save keeps the modes too
    finally:
        os.umask(old)
    assert stat.S_IMODE(where.stat().st_mode) == 0o755  # not mkdtemp's 0o700
    for path in where.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path.name
    assert [p.name for p in tmp_path.iterdir()] == ["shared"]


def test_save_refuses_a_file_at_the_bundle_path(
    fitted: tuple[TinyDetector, list[str]], tmp_path: Path
) -> None:
    det, _ = fitted
    (tmp_path / "model").write_text("mine")
    with pytest.raises(BundleError, match="is a file"):
        det.save(tmp_path / "model")
    assert (tmp_path / "model").read_text() == "mine"


def test_bundle_object_saves_and_loads_every_part_together(
    fitted: tuple[TinyDetector, list[str]], tmp_path: Path
) -> None:
    from fakescope.bundle import DATA_USE, Bundle
    from fakescope.inference.calibration import Band, Calibrator

    det, paths = fitted
    cal = Calibrator("platt", {"a": 0.7, "b": -0.2}, Band(0.1, 0.4, 0.6, 20, 20), "band", 40)
    uses = [{"step": "unsure band", "data": "calibration", "rows": 40}]
    where = Bundle(det, cal, None, uses).save(tmp_path / "b")
    assert {p.name for p in where.iterdir()} >= {CONFIG, WEIGHTS, META, "calibration.json"}
    assert read_meta(where)[DATA_USE] == uses
    back = Bundle.load(where)
    assert back.calibrator is not None and back.calibrator.to_dict() == cal.to_dict()
    assert back.abstainer is None and back.data_use == uses
    np.testing.assert_allclose(back.detector.predict(paths).proba, det.predict(paths).proba)
    plain = Bundle.load(save_bundle(det, tmp_path / "plain"))  # no extras, no data_use
    assert plain.calibrator is None and plain.abstainer is None and plain.data_use == []
    with pytest.raises(fakescope.errors.ConfigError, match="backend"):
        Bundle.load(where, backend="tensorrt")


def test_failed_bundle_save_keeps_the_old_bundle_whole(
    fitted: tuple[TinyDetector, list[str]], tmp_path: Path
) -> None:
    from fakescope.bundle import Bundle
    from fakescope.inference.calibration import Calibrator

    det, _ = fitted
    cal = Calibrator("platt", {"a": 1.0, "b": 0.0}, None, "no band", 10)
    where = Bundle(det, cal).save(tmp_path / "b")
    with pytest.raises(BoomError):
        Bundle(as_failing(det, FailingExtra), None).save(where)
    assert (where / "calibration.json").is_file()  # nothing half-replaced
    assert Bundle.load(where).calibrator is not None
