"""The results plan: which recipes run under which studies, on which datasets, with what overrides.

A plan (YAML, e.g. ``configs/results-mini.yaml``) names recipes - experiment
configs such as ``configs/cnndetection.yaml`` - with per-plan overrides, and
the *studies* to run them under. A study is a protocol run on one dataset; the
plain form is a protocol name (study name = protocol name, default dataset)::

    title: Reference methods on the mini benchmark
    benchmark_note: mini preset built from the bundled CIFAR-10 sample
    protocols: [single-source, leave-one-family-out]
    source: dcgan          # eval.source of every run (null = the recipe's own)
    holdout: null          # eval.holdout of every run
    recipes:
      cnndetection:
        config: cnndetection.yaml            # relative to the plan file
        set: {detector.params.img_size: 32}  # dotted overrides, as --set
      hierarchy:
        config: hierarchy.yaml
        protocols: [attribution]             # instead of the plan's protocols

The full form of a study (plan-level or recipe-level ``protocols`` entry) is a
mapping, over named datasets declared under ``datasets``::

    datasets:                      # key -> optional default path (relative to the plan file)
      realgen: {path: null, note: real-generator images}   # no path: --data realgen=PATH
      mini: {path: ../bench/mini}
    highlight: general             # optional: a recipe compared with the best of the others
    protocols:
      - name: realgen-loo          # run folder and page section (letters, digits, . _ -)
        protocol: leave-one-out    # a registered protocol
        data: realgen              # dataset key (default: "default", the --data PATH one)
        title: Leave one source out, normalised        # section heading (optional)
        note: free text under the heading              # optional
        set: {eval.group: generator, data.normalize.crop: 176}
        test_data: realgen         # optional: its path becomes eval.test_data (cross-dataset)
      - leave-one-family-out       # plain: a protocol on the default dataset

A recipe-level ``protocols`` string that names a plan-level study means that
study; any other string is a plain protocol. Study names are unique within a
list, and every study of a name means the same settings. The dataset key
``default`` is the one ``--data PATH`` gives (``datasets.default`` may give it
a path and a note); ``--data NAME=PATH`` gives a named one.

A recipe may add overrides for some of its studies only, under ``per_study``
(study name -> dotted overrides); e.g. its native input size on 256 px images
but 32 px on the mini benchmark::

    recipes:
      npr:
        config: npr.yaml
        set: {detector.params.epochs: 3}
        per_study:
          realgen-loo: {detector.params.img_size: 160}
          mini-lofo: {detector.params.img_size: 32}

Every ``per_study`` key must be a study the recipe runs under.

Overrides of one run, later wins (:func:`run_overrides`): plan
``source``/``holdout`` < recipe ``set`` < study ``set`` < recipe
``per_study[study]`` < the run's own keys (``data.root``, ``eval.test_data``,
``eval.protocol``, ``out``). The study's ``set`` wins over the recipe's
``set`` because it defines the conditions every recipe of a page section is
compared under (its normalisation, its ``eval.group``); the recipe's other keys
(``img_size``, epochs, tiers) stay. ``per_study`` is the recipe's deliberate
exception for one study, so it wins over both. Neither a study's ``set`` nor a
recipe's ``per_study`` may hold the run's own keys (use the study's ``data``,
``test_data``, ``protocol``).

:func:`load_plan` reads a plan file, :func:`parse_plan` validates an already
parsed one, :func:`read_plan_copy` reads the resolved copy (``plan.json``)
that :func:`fakescope.eval.results.run_plan` saves beside the runs. Every
error is a one-line :class:`~fakescope.errors.ConfigError`. This module only
describes runs; :mod:`fakescope.eval.results` runs them (it imports this
module, never the reverse).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from fakescope.config import Strict
from fakescope.errors import ConfigError

#: The resolved plan, saved in the runs folder by :func:`fakescope.eval.results.run_plan`.
PLAN_FILE = "plan.json"
#: Key of the dataset ``--data PATH`` gives (studies without ``data`` run on it).
DEFAULT_DATASET = "default"
#: Override keys every run sets itself (no study ``set`` nor ``per_study`` may hold them).
RUN_KEYS = ("data.root", "eval.test_data", "eval.protocol", "out")
#: Names of recipes, studies and datasets (folder names): letters, digits, ``.``, ``_``, ``-``.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _check_name(kind: str, name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise ValueError(f"{kind} name {name!r} must be letters, digits, '.', '_' or '-'")
    return name


def _no_run_keys(where: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """``overrides`` unchanged; a ValueError when it holds one of :data:`RUN_KEYS`."""
    taken = [k for k in overrides if k in RUN_KEYS]
    if taken:
        raise ValueError(
            f"{where} may not hold {', '.join(taken)}; use the study's "
            "'protocol', 'data' and 'test_data' keys"
        )
    return overrides


class DatasetSpec(Strict):
    """A dataset of a plan: an optional default path (relative to the plan file) and a note."""

    path: Path | None = None
    note: str = ""


class Study(Strict):
    """One protocol on one dataset: a run folder name and a page section (see module docstring)."""

    name: str
    protocol: str
    data: str = DEFAULT_DATASET
    title: str = ""
    note: str = ""
    set: dict[str, Any] = Field(default_factory=dict)
    test_data: str | None = None

    @field_validator("name")
    @classmethod
    def _folder_name(cls, value: str) -> str:
        return _check_name("study", value)

    @field_validator("set")
    @classmethod
    def _set_without_run_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _no_run_keys("a study's set", value)

    @classmethod
    def plain(cls, protocol: str) -> Study:
        """The study a bare protocol name means: that protocol on the default dataset."""
        return cls(name=protocol, protocol=protocol)

    @property
    def is_plain(self) -> bool:
        """True when this is what a bare protocol name means (no title, data, set ...)."""
        return self == Study.plain(self.name)

    @property
    def datasets(self) -> list[str]:
        """The dataset keys this study reads: its data, then its test data (when any)."""
        return [self.data] + ([self.test_data] if self.test_data else [])


def _entry(value: Any, named: dict[str, Any]) -> Any:
    """A raw ``protocols`` entry as a study mapping (a string: that plan study, else plain)."""
    if isinstance(value, str):
        return named.get(value, {"name": value, "protocol": value})
    return value.model_dump() if isinstance(value, Study) else value


class RecipeRun(Strict):
    """One recipe of a plan: its config file, overrides, optional own studies.

    ``set``: dotted overrides of all its runs; ``per_study``: study name ->
    dotted overrides of its run in that study only (they win over the study's
    ``set``; see the module docstring).
    """

    config: Path
    set: dict[str, Any] = Field(default_factory=dict)
    per_study: dict[str, dict[str, Any]] = Field(default_factory=dict)
    protocols: list[Study] | None = None

    @field_validator("per_study")
    @classmethod
    def _per_study_without_run_keys(
        cls, value: dict[str, dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        for study, overrides in value.items():
            _no_run_keys(f"per_study.{study}", overrides)
        return value


class ResultsPlan(Strict):
    """Recipes x studies to run for a results page (unknown keys are an error)."""

    title: str
    benchmark_note: str = ""
    datasets: dict[str, DatasetSpec] = Field(default_factory=dict)
    protocols: list[Study] = Field(min_length=1)
    source: str | None = None
    holdout: str | None = None
    highlight: str | None = None
    recipes: dict[str, RecipeRun] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _expand_studies(cls, raw: Any) -> Any:
        """Bare protocol names -> study mappings; recipe strings naming plan studies -> those."""
        if not isinstance(raw, dict):
            return raw
        raw = dict(raw)
        named: dict[str, Any] = {}
        if isinstance(raw.get("protocols"), list):
            raw["protocols"] = [_entry(v, {}) for v in raw["protocols"]]
            named = {
                e["name"]: e
                for e in raw["protocols"]
                if isinstance(e, dict) and isinstance(e.get("name"), str)
            }
        if isinstance(raw.get("recipes"), dict):
            recipes = {}
            for key, recipe in raw["recipes"].items():
                if isinstance(recipe, dict) and isinstance(recipe.get("protocols"), list):
                    recipe = {
                        **recipe,
                        "protocols": [_entry(v, named) for v in recipe["protocols"]],
                    }
                recipes[key] = recipe
            raw["recipes"] = recipes
        return raw

    @field_validator("recipes", "datasets")
    @classmethod
    def _key_names(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        """Recipe and dataset keys name folders and flags: letters, digits, '.', '_', '-'."""
        kind = "recipe" if info.field_name == "recipes" else "dataset"
        for name in value:
            _check_name(kind, name)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ResultsPlan:
        lists = [("protocols", self.protocols)]
        lists += [
            (f"recipe {r!r}", run.protocols) for r, run in self.recipes.items() if run.protocols
        ]
        first: dict[str, Study] = {}
        known = [DEFAULT_DATASET, *self.datasets]
        for where, studies in lists:
            names = [s.name for s in studies]
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValueError(
                    f"study name {twice[0]!r} appears twice in {where}; give each study its own name"
                )
            for study in studies:
                if first.setdefault(study.name, study) != study:
                    raise ValueError(
                        f"{where}: study {study.name!r} differs from another study of that name; "
                        "rename one (a name is one run folder and one page section)"
                    )
                unknown = [k for k in study.datasets if k not in known]
                if unknown:
                    raise ValueError(
                        f"study {study.name!r} names unknown dataset {unknown[0]!r}; declare it "
                        f"under 'datasets' (declared: {', '.join(known)})"
                    )
        for recipe in self.recipes:
            self._check_per_study(recipe)
        if self.highlight is not None and self.highlight not in self.recipes:
            raise ValueError(
                f"highlight {self.highlight!r} is not a recipe of this plan; use one of "
                f"{', '.join(self.recipes)}"
            )
        return self

    def _check_per_study(self, recipe: str) -> None:
        """ValueError when ``recipe``'s ``per_study`` names a study it does not run under."""
        names = self.protocols_of(recipe)
        unknown = [s for s in self.recipes[recipe].per_study if s not in names]
        if unknown:
            raise ValueError(
                f"recipe {recipe!r}: per_study names study {unknown[0]!r}, which it does not "
                f"run under; use one of {', '.join(names)}"
            )

    def studies_of(self, recipe: str) -> list[Study]:
        """The studies ``recipe`` runs under (its own list, else the plan's)."""
        own = self.recipes[recipe].protocols
        return list(self.protocols if own is None else own)

    def protocols_of(self, recipe: str) -> list[str]:
        """The study names (run folders) of ``recipe``; a plain study's name is its protocol."""
        return [s.name for s in self.studies_of(recipe)]

    def study(self, name: str) -> Study | None:
        """The study called ``name`` (plan-level or any recipe's), None when there is none."""
        for recipe in self.recipes:
            for s in self.studies_of(recipe):
                if s.name == name:
                    return s
        return next((s for s in self.protocols if s.name == name), None)

    def study_runs(self, only: Sequence[str] | None = None) -> list[tuple[str, Study]]:
        """``(recipe, study)`` pairs in plan order; ``only`` keeps those recipes."""
        names = list(self.recipes)
        if only is not None:
            unknown = [n for n in only if n not in self.recipes]
            if unknown:
                raise ConfigError(
                    f"--only names unknown recipe(s) {', '.join(unknown)}; "
                    f"the plan has {', '.join(names)}"
                )
            names = [n for n in names if n in set(only)]
        return [(name, study) for name in names for study in self.studies_of(name)]

    def runs(self, only: Sequence[str] | None = None) -> list[tuple[str, str]]:
        """``(recipe, study name)`` pairs in plan order; ``only`` keeps those recipes."""
        return [(recipe, study.name) for recipe, study in self.study_runs(only)]

    def dataset_keys(self, only: Sequence[str] | None = None) -> list[str]:
        """The dataset keys the runs read (data and test data), in first-use order."""
        return list(dict.fromkeys(k for _, s in self.study_runs(only) for k in s.datasets))


def load_plan(path: str | Path) -> ResultsPlan:
    """Read and validate a plan YAML; recipe ``config`` and dataset paths resolve against its folder.

    Raises a one-line :class:`ConfigError` for a missing or malformed file, unknown
    keys, or a recipe whose config file does not exist (dataset folders are
    checked by :func:`fakescope.eval.results.run_plan`, only for the datasets it runs on).
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"results plan {p} does not exist; check the path")
    try:
        raw = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        first = (str(exc).splitlines() or ["parse error"])[0]
        raise ConfigError(f"results plan {p} is not valid YAML ({first}); fix the file") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"results plan {p} must hold a mapping (title, protocols, recipes)")
    plan = parse_plan(raw, str(p))
    base = p.resolve().parent
    for name, recipe in plan.recipes.items():
        config = recipe.config.expanduser()
        recipe.config = config if config.is_absolute() else (base / config).resolve()
        if not recipe.config.is_file():
            raise ConfigError(
                f"recipe {name!r}: config {recipe.config} does not exist; fix its 'config' in {p}"
            )
    for spec in plan.datasets.values():
        if spec.path is not None:
            folder = spec.path.expanduser()
            spec.path = folder if folder.is_absolute() else (base / folder).resolve()
    return plan


def parse_plan(raw: Any, where: str = "results plan") -> ResultsPlan:
    """Validate an already-parsed plan (no file checks) with a one-line :class:`ConfigError`."""
    try:
        return ResultsPlan.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(k) for k in err["loc"]) or "<root>"
        if err["type"] == "extra_forbidden":
            raise ConfigError(
                f"unknown key {key!r} in {where}; remove it or fix its spelling"
            ) from None
        reason = (err.get("ctx") or {}).get("error") if err["type"] == "value_error" else None
        if reason is not None and not err["loc"]:
            raise ConfigError(f"{reason} (in {where})") from None
        msg = str(reason) if reason is not None else err["msg"]
        raise ConfigError(f"invalid value for {key!r} in {where}: {msg}") from None


def read_plan_copy(out: str | Path) -> ResultsPlan | None:
    """The plan :func:`fakescope.eval.results.run_plan` saved in ``out`` (None when there is none)."""
    path = Path(out) / PLAN_FILE
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError:
        raise ConfigError(f"{path} is not valid JSON; delete it or pass --plan PLAN") from None
    return parse_plan(raw, str(path))


def run_overrides(
    plan: ResultsPlan,
    recipe: str,
    study: str | Study,
    data: Path,
    run_dir: Path,
    *,
    test_data: Path | None = None,
) -> dict[str, Any]:
    """Dotted overrides of one run, later wins (see the module docstring).

    Plan ``source``/``holdout`` < recipe ``set`` < study ``set`` < recipe
    ``per_study[study]`` < the run's own keys (``data.root``,
    ``eval.protocol``, ``out``, ``eval.test_data``).

    ``study``: a :class:`Study` or the name of one of ``recipe``'s studies.
    ``test_data``: the folder set as ``eval.test_data`` (None = not set). None
    values are left out (the recipe's own value stays).
    """
    if not isinstance(study, Study):
        found = [s for s in plan.studies_of(recipe) if s.name == study]
        study = found[0] if found else Study.plain(study)
    merged: dict[str, Any] = {"eval.source": plan.source, "eval.holdout": plan.holdout}
    merged.update(plan.recipes[recipe].set)
    merged.update(study.set)
    merged.update(plan.recipes[recipe].per_study.get(study.name, {}))
    merged.update({"data.root": str(data), "eval.protocol": study.protocol, "out": str(run_dir)})
    if test_data is not None:
        merged["eval.test_data"] = str(test_data)
    return {k: v for k, v in merged.items() if v is not None}
