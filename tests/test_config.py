"""Config loading: path resolution, overrides, --set parsing, unknown keys, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from fakescope.config import ExperimentConfig, load_config, parse_set, validate_params
from fakescope.errors import ConfigError


def write_yaml(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_without_a_file() -> None:
    cfg = load_config(None)
    assert cfg == ExperimentConfig()
    assert cfg.detector.name == "cnn"
    assert cfg.eval.robustness.jpeg == []


def test_relative_paths_resolve_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg_file = write_yaml(
        tmp_path / "configs" / "exp.yaml",
        "data:\n  root: ../bench/mini\n  family_map: families.yaml\nout: runs/a\nworkdir: /abs/work\n",
    )
    monkeypatch.chdir(tmp_path)
    cfg = load_config(cfg_file)
    assert cfg.data.root == (tmp_path / "bench" / "mini").resolve()
    assert cfg.data.family_map == (tmp_path / "configs" / "families.yaml").resolve()
    assert cfg.out == (tmp_path / "configs" / "runs" / "a").resolve()
    assert cfg.workdir == Path("/abs/work")


def test_override_paths_resolve_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg_file = write_yaml(tmp_path / "configs" / "exp.yaml", "data:\n  root: data\n")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config(cfg_file, {"data.root": "mine", "out": "runs/x"})
    assert cfg.data.root == (elsewhere / "mine").resolve()
    assert cfg.out == (elsewhere / "runs" / "x").resolve()


def test_dotted_overrides_beat_the_file_and_none_is_ignored(tmp_path: Path) -> None:
    cfg_file = write_yaml(
        tmp_path / "c.yaml", "detector:\n  name: probe\n  params: {epochs: 3, lr: 0.1}\n"
    )
    cfg = load_config(cfg_file, {"detector.params.epochs": 7, "detector.name": None})
    assert cfg.detector.name == "probe"  # None = flag not given
    assert cfg.detector.params == {"epochs": 7, "lr": 0.1}


def test_override_creates_missing_sections() -> None:
    cfg = load_config(None, {"eval.robustness.jpeg": [75, 50], "data.split.seed": 3})
    assert cfg.eval.robustness.jpeg == [75, 50]
    assert cfg.data.split.seed == 3


def test_eval_protocol_options() -> None:
    cfg = load_config(None)
    assert cfg.eval.protocol_options() == {
        "source": None,
        "holdout": None,
        "group": None,
        "unseen_rows": "all",
    }
    cfg = load_config(None, parse_set(["eval.protocol=single-source", "eval.source=dcgan"]))
    assert (cfg.eval.protocol, cfg.eval.source, cfg.eval.holdout) == (
        "single-source",
        "dcgan",
        None,
    )
    cfg = load_config(None, {"eval.holdout": "gan", "eval.unseen_rows": "test"})
    assert cfg.eval.protocol_options() == {
        "source": None,
        "holdout": "gan",
        "group": None,
        "unseen_rows": "test",
    }
    with pytest.raises(ConfigError, match="unseen_rows"):
        load_config(None, {"eval.unseen_rows": "some"})


def test_override_through_a_scalar_is_an_error() -> None:
    with pytest.raises(ConfigError, match="name is not a section"):
        load_config(None, {"detector.name": "cnn", "detector.name.x": 1})


@pytest.mark.parametrize(
    ("item", "key", "value"),
    [
        ("detector.params.epochs=2", "detector.params.epochs", 2),
        ("detector.params.lr=0.001", "detector.params.lr", 0.001),
        ("eval.robustness.jpeg=[75, 50]", "eval.robustness.jpeg", [75, 50]),
        ("detector.name=probe", "detector.name", "probe"),
        ("x.flag=true", "x.flag", True),
        ("out=a=b", "out", "a=b"),
        (" data.layout = binary", "data.layout", "binary"),
    ],
)
def test_parse_set_reads_yaml_scalars(item: str, key: str, value: object) -> None:
    assert parse_set([item]) == {key: value}


def test_parse_set_without_equals_names_the_item() -> None:
    with pytest.raises(ConfigError, match="'epochs'"):
        parse_set(["epochs"])


def test_parse_set_later_items_win() -> None:
    assert parse_set(["a=1", "a=2"]) == {"a": 2}


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("bogus: 1\n", "bogus"),
        ("data:\n  roots: x\n", "data.roots"),
        ("eval:\n  robustness:\n    jpg: [1]\n", "eval.robustness.jpg"),
    ],
)
def test_unknown_keys_are_named(tmp_path: Path, text: str, key: str) -> None:
    cfg_file = write_yaml(tmp_path / "c.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_config(cfg_file)
    message = str(info.value)
    assert f"'{key}'" in message
    assert "unknown config key" in message
    assert "\n" not in message


def test_unknown_override_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"'detector\.nmae'"):
        load_config(None, {"detector.nmae": "cnn"})


def test_invalid_value_is_one_line(tmp_path: Path) -> None:
    cfg_file = write_yaml(tmp_path / "c.yaml", "data:\n  split:\n    val: 2\n")
    with pytest.raises(ConfigError) as info:
        load_config(cfg_file)
    assert "data.split.val" in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file_bad_yaml_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write_yaml(tmp_path / "bad.yaml", "a: [1, 2\n"))
    with pytest.raises(ConfigError, match="mapping"):
        load_config(write_yaml(tmp_path / "list.yaml", "- 1\n- 2\n"))


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    assert load_config(write_yaml(tmp_path / "empty.yaml", "")) == ExperimentConfig()


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    epochs: int = 1


def test_validate_params_names_unknown_and_invalid_keys() -> None:
    assert validate_params(_Params, {"epochs": 3}, "cnn detector").epochs == 3
    with pytest.raises(ConfigError, match="unknown cnn detector parameter 'epoch'"):
        validate_params(_Params, {"epoch": 3}, "cnn detector")
    with pytest.raises(ConfigError, match="invalid cnn detector parameter 'epochs'"):
        validate_params(_Params, {"epochs": "many"}, "cnn detector")
