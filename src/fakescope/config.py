"""Experiment configuration: YAML files validated by typed pydantic models.

Every CLI command takes ``--config FILE`` plus flags that override it.
Unknown keys are an error; relative paths resolve against the config file's
folder (against the working directory for paths given as flags).

Example::

    data:
      root: bench/mini          # a dataset folder (any supported layout)
      layout: auto
    detector:
      name: cnn
      params: {arch: resnet18, epochs: 3}
    eval:
      protocol: cross-generator   # or single-source (+ source: dcgan), leave-one-family-out
      robustness: {jpeg: [75, 50], blur: [1.0], downscale: [0.5]}
    out: runs/resnet18
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fakescope.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """Base of every config model: unknown keys are an error."""

    model_config = ConfigDict(extra="forbid")


class SplitConfig(Strict):
    """Deterministic split for layouts without train/val/test folders (fractions of each stratum)."""

    val: float = Field(default=0.1, ge=0, lt=1)
    test: float = Field(default=0.2, ge=0, lt=1)
    seed: int = 0


class NormalizeConfig(Strict):
    """Make every image's file format identical before use (removes format shortcuts).

    ``scale``: first down-scale every image by this factor with antialiasing
    (Lanczos; e.g. 0.5), which wipes the 8x8 grid of an earlier JPEG compression
    that a re-encode alone keeps (None = no resampling); ``crop``: centre-crop every
    image to ``crop`` x ``crop`` pixels (None = keep the size); ``jpeg_quality``:
    re-encode every image as JPEG at this quality (4:2:0, no metadata; None =
    lossless PNG). Applied identically to reals and fakes; the files are cached in
    ``cache`` (None = the user cache folder).
    """

    scale: float | None = Field(default=None, gt=0, lt=1)
    crop: int | None = Field(default=None, ge=8)
    jpeg_quality: int | None = Field(default=None, ge=1, le=100)
    cache: Path | None = None


class DataConfig(Strict):
    """Where the images are and how to read them (``normalize``: see :class:`NormalizeConfig`)."""

    root: Path | None = None
    layout: str = "auto"
    family_map: Path | None = None
    split: SplitConfig = SplitConfig()
    normalize: NormalizeConfig | None = None


class DetectorSpec(Strict):
    """A registered detector name and its params (validated by that detector's Params)."""

    name: str = "cnn"
    params: dict[str, Any] = Field(default_factory=dict)


class RobustnessConfig(Strict):
    """Degradation tiers for re-evaluation: JPEG qualities, blur sigmas, downscale factors."""

    jpeg: list[int] = Field(default_factory=list)
    blur: list[float] = Field(default_factory=list)
    downscale: list[float] = Field(default_factory=list)


class EvalConfig(Strict):
    """Evaluation protocol, its options and robustness tiers.

    ``source``: the training generator of ``single-source`` (None = every
    generator in turn); ``holdout``: the family ``leave-one-family-out`` holds
    out, or the ``group`` value ``leave-one-out`` holds out (None = each in
    turn); ``group``: the column ``leave-one-out`` groups by (generator,
    family, source, ...); ``test_data``: the other dataset ``cross-dataset``
    tests on; ``unseen_rows``: what ``leave-one-out`` / ``leave-one-family-out``
    test a held-out group on - "all" its rows (default: it was never trained on,
    so its train and val rows are fair test images too) or its "test" split only.
    Other protocols ignore them.
    """

    protocol: str = "all"
    source: str | None = None
    holdout: str | None = None
    group: str | None = None
    test_data: Path | None = None
    unseen_rows: Literal["all", "test"] = "all"
    robustness: RobustnessConfig = RobustnessConfig()

    def protocol_options(self) -> dict[str, str | None]:
        """The ``options`` passed to the protocol: source, holdout, group and unseen_rows."""
        return {
            "source": self.source,
            "holdout": self.holdout,
            "group": self.group,
            "unseen_rows": self.unseen_rows,
        }


class ContinualConfig(Strict):
    """A continual-learning sequence (``fakescope continual``; see :mod:`fakescope.continual`).

    ``tasks``: task names in training order (generators, families or ``a+b`` groups);
    ``methods``: strategy names (``fakescope.continual.catalog.STRATEGIES``); ``shots``: train
    images per class of every task after the first (None = all); ``memory``: replay
    memory size in images; ``cutmix``: CutMix probability (Beta(0.5, 0.5) mixing);
    ``params``: per-method parameters, e.g. ``{kd: {alpha: 0.5}}``.
    """

    tasks: list[str] = Field(default_factory=list)
    methods: list[str] = Field(default_factory=lambda: ["ft", "kd", "tg", "cored"])
    shots: int | None = Field(default=None, ge=1)
    memory: int = Field(default=500, ge=0)
    cutmix: float = Field(default=0.2, ge=0, le=1)
    params: dict[str, dict[str, Any]] = Field(default_factory=dict)


class OutlierConfig(Strict):
    """Synthetic outliers for scorers trained on ID vs outliers (the abnormality module).

    ``kinds``: transforms of :mod:`fakescope.data.outliers` (None = all); ``per_image``:
    outliers made from each ID training image.
    """

    kinds: list[str] | None = None
    per_image: int = Field(default=1, ge=1)


class OODEvalConfig(Strict):
    """The ``ood`` protocol (``eval --protocol ood``; see :mod:`fakescope.eval.ood_protocol`).

    ``id_generators`` / ``ood_generators``: generator or family names (a family stands for
    all its generators); ``ood_folders``: extra OOD sets ``NAME: PATH`` (folders of images);
    ``scorers``: OOD scorer names, ``scorer_params``: their settings by name;
    ``outliers`` / ``real_outliers``: training outliers of the abnormality module;
    ``max_per_set``: at most this many test images per set (seeded subsample; None = all);
    ``scenario``: a free label written into the report.
    """

    scenario: str = ""
    id_generators: list[str] = Field(default_factory=list)
    ood_generators: list[str] = Field(default_factory=list)
    ood_folders: dict[str, Path] = Field(default_factory=dict)
    scorers: list[str] = Field(default_factory=lambda: ["msp", "energy", "knn", "mahalanobis"])
    scorer_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    outliers: OutlierConfig = OutlierConfig()
    real_outliers: list[Path] = Field(default_factory=list)
    max_per_set: int | None = Field(default=None, ge=1)
    seed: int = 0


class ExperimentConfig(Strict):
    """The whole experiment: data, detector, evaluation, output folder."""

    data: DataConfig = DataConfig()
    detector: DetectorSpec = DetectorSpec()
    eval: EvalConfig = EvalConfig()
    continual: ContinualConfig = ContinualConfig()
    ood: OODEvalConfig = OODEvalConfig()
    out: Path = Path("runs/latest")
    workdir: Path | None = None


PATH_FIELDS = (("data", "root"), ("data", "family_map"), ("out",), ("workdir",))


def load_config(
    path: str | Path | None, overrides: dict[str, Any] | None = None
) -> ExperimentConfig:
    """Read ``path`` (YAML; None = defaults), apply dotted ``overrides``, validate.

    ``overrides`` maps dotted keys to values, e.g. ``{"detector.params.epochs": 2}``;
    None values are ignored (flags the user did not give).
    """
    raw: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise ConfigError(f"config file {p} does not exist; check the path")
        try:
            raw = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            first = str(exc).splitlines()[0]
            raise ConfigError(f"{p} is not valid YAML ({first}); fix the file") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{p} must hold a mapping at the top level, not {type(raw).__name__}")
        base = p.resolve().parent
        _resolve_paths(raw, base)
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(raw, key, value)
    _resolve_paths(raw, Path.cwd())
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc, path)) from None


def _resolve_paths(raw: dict[str, Any], base: Path) -> None:
    _resolve_ood_paths(raw, base)
    for keys in PATH_FIELDS:
        node: Any = raw
        for k in keys[:-1]:
            node = node.get(k) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get(keys[-1]), str | Path):
            value = Path(node[keys[-1]]).expanduser()
            node[keys[-1]] = str(value if value.is_absolute() else (base / value).resolve())


def _resolve_ood_paths(raw: dict[str, Any], base: Path) -> None:
    """Resolve ``ood.ood_folders`` values and ``ood.real_outliers`` against ``base``."""
    ood = raw.get("ood")
    if not isinstance(ood, dict):
        return

    def fix(value: Any) -> Any:
        if not isinstance(value, str | Path):
            return value
        p = Path(value).expanduser()
        return str(p if p.is_absolute() else (base / p).resolve())

    if isinstance(ood.get("ood_folders"), dict):
        ood["ood_folders"] = {k: fix(v) for k, v in ood["ood_folders"].items()}
    if isinstance(ood.get("real_outliers"), list):
        ood["real_outliers"] = [fix(v) for v in ood["real_outliers"]]


def _set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    node = raw
    *parents, last = key.split(".")
    for k in parents:
        child = node.setdefault(k, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {key}: {k} is not a section")
        node = child
    node[last] = value


def parse_set(items: list[str]) -> dict[str, Any]:
    """Parse ``--set key.path=value`` flags (values parsed as YAML scalars/lists)."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(
                f"--set expects key=value, got {item!r} (e.g. detector.params.epochs=2)"
            )
        key, value = item.split("=", 1)
        out[key.strip()] = _scalar(value)
    return out


def _scalar(text: str) -> Any:
    """A ``--set`` value as YAML, with ``1e-3``-style floats (YAML 1.1 reads them as strings)."""
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _one_line(exc: ValidationError, path: str | Path | None) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "<root>"
    src = f" in {path}" if path else ""
    if err["type"] == "extra_forbidden":
        return f"unknown config key {where!r}{src}; remove it or fix its spelling"
    return f"invalid config value for {where!r}{src}: {err['msg']}"


def validate_params(model: type[M], params: dict[str, Any], where: str) -> M:
    """Validate ``params`` against a detector's ``Params`` model with a one-line error."""
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            raise ConfigError(
                f"unknown {where} parameter {key!r}; see 'fakescope list' for its options"
            ) from None
        raise ConfigError(f"invalid {where} parameter {key!r}: {err['msg']}") from None
