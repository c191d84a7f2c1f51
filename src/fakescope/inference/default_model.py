"""The detector that ships with fakescope: where it lives, how ``--model`` falls back to it.

``check``, ``scan`` and ``serve`` take ``--model BUNDLE``; without it they use
the default model, found in this order:

1. the bundle folder named by the environment variable ``FAKESCOPE_DEFAULT_MODEL``
   (tests, users with their own "house" model);
2. the bundle installed with the package at ``fakescope/assets/default-model/``
   (package data, found with :mod:`importlib.resources`).

Neither present is a one-line error that says how to get a model (train one, install
a release that ships it, or point the variable at a bundle).

**Integrity.** A default bundle carries ``SHA256SUMS`` (the ``sha256sum`` format:
``<hex>  <relative path>`` per line, every file of the bundle but itself), so
``sha256sum -c SHA256SUMS`` inside the folder checks it too. The packaged bundle
must have it; a bundle named by the variable is checked when it has one. A changed,
missing or unlisted file is a one-line error. :func:`seal` writes the file
(``fakescope bundle seal``), after optionally merging release facts into
``meta.json`` (keys :data:`CARD_KEYS`, read by the model card and by :func:`describe`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from fakescope.errors import BundleError, ConfigError

#: Environment variable naming a bundle folder to use instead of the packaged default.
ENV_VAR = "FAKESCOPE_DEFAULT_MODEL"
#: The packaged default bundle, relative to the ``fakescope`` package.
ASSET_PARTS = ("assets", "default-model")
#: Checksum file inside a default bundle (``sha256sum`` format).
SUMS = "SHA256SUMS"
#: ``meta.json`` keys a release adds (all optional): ``release`` ({name, version, date}),
#: ``training_data`` ({summary, sources: [{name, real, fake, images, licence}], families,
#: generators, absent_families}), ``train_command`` (the command line that trained it).
CARD_KEYS = ("release", "training_data", "train_command")
#: Name shown for the default model when its meta.json has no ``release.name``.
DEFAULT_NAME = "fakescope default"
_CHUNK = 1 << 20


def _how_to_get_one() -> str:
    return (
        "train one with 'fakescope train --data DATA --out BUNDLE' and pass --model BUNDLE, "
        f"install a fakescope release that ships the default model, or set {ENV_VAR}=BUNDLE"
    )


@dataclass(frozen=True)
class ResolvedModel:
    """The bundle a command will use. ``origin``: "--model", :data:`ENV_VAR` or "package";
    ``meta``: its ``meta.json`` (read and validated for the default model only)."""

    path: Path
    origin: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def is_default(self) -> bool:
        """True when no ``--model`` was given."""
        return self.origin != "--model"

    def line(self) -> str:
        """``model: <description>``, the first line of ``check`` / ``scan`` output."""
        return f"model: {describe(self.meta) if self.is_default else self.path}"


def packaged_dir() -> Path | None:
    """The packaged default-model folder (it may not exist), or None when the package
    is not installed as plain files (a zip import: set :data:`ENV_VAR` instead)."""
    where = resources.files("fakescope")
    for part in ASSET_PARTS:
        where = where.joinpath(part)
    return where if isinstance(where, Path) else None


def default_location() -> tuple[Path | None, str]:
    """``(folder, origin)`` of the default model before any check: :data:`ENV_VAR` when set
    (non-empty), else the packaged folder."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser(), ENV_VAR
    return packaged_dir(), "package"


def resolve_model(model: Path | None) -> ResolvedModel:
    """The bundle for ``--model`` (returned as given: the loaders check it), or the verified
    default model when ``model`` is None; a one-line :class:`BundleError` when there is none."""
    from fakescope.bundle import read_meta

    if model is not None:
        return ResolvedModel(Path(model).expanduser(), "--model")
    folder, origin = default_location()
    if origin == ENV_VAR:
        assert folder is not None
        if not folder.is_dir():
            raise BundleError(
                f"{ENV_VAR}={folder} is not a bundle folder; point it at a folder written by "
                f"'fakescope train', or unset it to use the packaged model"
            )
        if (folder / SUMS).is_file():
            verify(folder)
    else:
        if folder is None or not (folder / "meta.json").is_file():
            raise BundleError(
                f"no --model given and this fakescope has no default model; {_how_to_get_one()}"
            )
        verify(folder)
    return ResolvedModel(folder, origin, read_meta(folder))


def describe(meta: Mapping[str, Any]) -> str:
    """One line naming a default model from its ``meta.json``: e.g.
    ``fakescope default (version 1.0, trained on realgen-dev: 4 sources, 6,000 images)``."""
    found = meta.get("release")
    release: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    name = str(release.get("name") or DEFAULT_NAME)
    version = release.get("version") or meta.get("fakescope_version") or "?"
    facts = [f"version {version}"]
    trained = trained_on(meta)
    if trained:
        facts.append(f"trained on {trained}")
    return f"{name} ({', '.join(facts)})"


def trained_on(meta: Mapping[str, Any]) -> str:
    """Short words for the training data: ``training_data.summary``, else the source names,
    else the train-step row count of ``data_use``; "" when nothing is recorded."""
    data = meta.get("training_data")
    if isinstance(data, Mapping):
        if data.get("summary"):
            return str(data["summary"])
        names = [str(s.get("name")) for s in data.get("sources") or [] if isinstance(s, Mapping)]
        if names:
            return ", ".join(names)
    for use in meta.get("data_use") or []:
        if isinstance(use, Mapping) and use.get("data") == "train":
            return f"{use.get('rows', '?')} training images"
    return ""


# ------------------------------------------------------------ checksums
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _files(folder: Path) -> list[str]:
    """Relative POSIX paths of every regular file under ``folder`` except :data:`SUMS`."""
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.relative_to(folder).as_posix() != SUMS
    )


def checksums(folder: Path) -> dict[str, str]:
    """``{relative path: sha256 hex}`` of every file of the bundle ``folder`` (but SUMS)."""
    return {name: _sha256(folder / name) for name in _files(folder)}


def read_sums(folder: Path) -> dict[str, str]:
    """Parse ``folder/SHA256SUMS``; a malformed line is a one-line :class:`BundleError`."""
    sums: dict[str, str] = {}
    path = folder / SUMS
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        digest, sep, name = raw.partition("  ")
        name = name.removeprefix("*")
        if (
            not sep
            or len(digest) != 64
            or not name
            or name.startswith("/")
            or ".." in name.split("/")
        ):
            raise BundleError(
                f"{path} line {number} is not '<sha256>  <file>'; reinstall the model "
                "or re-run 'fakescope bundle seal'"
            )
        sums[name] = digest.lower()
    return sums


def verify(folder: Path) -> None:
    """Check every file of ``folder`` against its ``SHA256SUMS``; a missing sums file, a
    changed, missing or unlisted file is a one-line :class:`BundleError`."""
    if not (folder / SUMS).is_file():
        raise BundleError(
            f"the default model at {folder} has no {SUMS}; reinstall fakescope "
            "or run 'fakescope bundle seal' on it"
        )
    expected, present = read_sums(folder), set(_files(folder))
    problems = [f"{n} is missing" for n in sorted(set(expected) - present)]
    problems += [f"{n} is not listed" for n in sorted(present - set(expected))]
    problems += [
        f"{n} has changed (sha256 mismatch)"
        for n in sorted(present & set(expected))
        if _sha256(folder / n) != expected[n]
    ]
    if problems:
        raise BundleError(
            f"the default model at {folder} failed its integrity check ({'; '.join(problems)}); "
            f"reinstall fakescope or point {ENV_VAR} at an intact bundle"
        )


def seal(folder: Path, release: Mapping[str, Any] | None = None) -> Path:
    """Make ``folder`` (a bundle) installable as the default model: merge ``release``
    (keys of :data:`CARD_KEYS` only) into its ``meta.json``, then write ``SHA256SUMS``.

    Both files are written atomically; returns the path of ``SHA256SUMS``.
    """
    from fakescope.bundle import META, read_meta
    from fakescope.fileio import atomic_write_text

    folder = Path(folder).expanduser()
    meta = read_meta(folder)
    if release:
        unknown = sorted(set(release) - set(CARD_KEYS))
        if unknown:
            raise ConfigError(
                f"release info has unknown key(s) {', '.join(unknown)}; use {', '.join(CARD_KEYS)}"
            )
        meta.update(release)
        atomic_write_text(folder / META, json.dumps(meta, indent=2))
    lines = [f"{digest}  {name}\n" for name, digest in checksums(folder).items()]
    return atomic_write_text(folder / SUMS, "".join(lines))
