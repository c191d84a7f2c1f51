"""The output folder of a build: its identity, resume state and done-markers (all under ``.work``).

``<out>/.work/`` (hidden: dataset indexing skips it) holds

* ``build.json`` - the build's identity (preset, source fingerprint, seed,
  generators, resolution); a folder holding another identity is refused
  unless ``--force`` (wipe; only a fakescope benchmark or an empty folder is
  ever wiped);
* ``plan.json`` - which source image goes where (:mod:`fakescope.forge.plan`);
* ``<generator>/checkpoint/`` - the generator's resumable training checkpoint;
* ``<generator>/<split>.done``, ``<generator>/done.json`` - done-markers;
* ``complete`` - written last, when the whole build is done.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from fakescope.errors import FakescopeError
from fakescope.fileio import atomic_write_json

WORK = ".work"


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (sorted keys, so the same object -> same bytes)."""
    atomic_write_json(path, obj, sort_keys=True)


def read_json(path: Path) -> Any:
    """The JSON content of ``path``, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _describe(identity: dict[str, Any]) -> str:
    preset = identity.get("preset", {})
    source = identity.get("source", {})
    return (
        f"preset {preset.get('name')} at {preset.get('resolution')} px, seed {identity.get('seed')}, "
        f"source {source.get('path')}"
    )


class Workspace:
    """Paths and state of one build's output folder."""

    def __init__(self, out: Path) -> None:
        self.root = out
        self.work = out / WORK

    # ------------------------------------------------------------ paths
    def gen_dir(self, generator: str) -> Path:
        """``.work/<generator>/``."""
        return self.work / generator

    def checkpoint_dir(self, generator: str) -> Path:
        """Where the generator's training checkpoint lives."""
        return self.gen_dir(generator) / "checkpoint"

    def split_marker(self, generator: str, split: str) -> Path:
        """Done-marker of one split of one generator."""
        return self.gen_dir(generator) / f"{split}.done"

    def done_file(self, generator: str) -> Path:
        """Done-marker (with timings) of one generator."""
        return self.gen_dir(generator) / "done.json"

    @property
    def plan_file(self) -> Path:
        """``.work/plan.json``."""
        return self.work / "plan.json"

    @property
    def complete_marker(self) -> Path:
        """Written when the whole build is done."""
        return self.work / "complete"

    def mark(self, path: Path, content: Any = None) -> None:
        """Write a marker (JSON) atomically."""
        write_json(path, content if content is not None else {})

    # ------------------------------------------------------------ identity
    def check(self, identity: dict[str, Any], *, resume: bool, force: bool) -> bool:
        """Check ``root`` against ``identity``; wipe it with ``force``; True when resuming.

        Writes nothing else (see :meth:`claim`), so a build refused later (too few
        images) leaves no trace in a new folder.

        Raises a one-line :class:`FakescopeError` when the folder holds another
        build (or the same one without ``--resume``), or is a non-empty folder
        that is not a fakescope benchmark.
        """
        root = self.root
        if root.exists() and not root.is_dir():
            raise FakescopeError(f"--out {root} is a file; choose a folder")
        existing = read_json(self.work / "build.json")
        occupied = root.is_dir() and any(root.iterdir())
        is_bench = existing is not None or (root / "benchmark.json").is_file()
        if occupied and force:
            if not is_bench:
                raise FakescopeError(
                    f"--out {root} is not empty and holds no fakescope benchmark; --force only "
                    "replaces benchmarks: choose an empty or new folder"
                )
            for child in root.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
            existing, occupied = None, False
        resuming = False
        if occupied:
            if existing is None:
                raise FakescopeError(
                    f"--out {root} is not empty and holds no fakescope benchmark; choose an "
                    "empty or new folder"
                )
            if existing != identity:
                hint = " (--resume continues only the same build)" if resume else ""
                raise FakescopeError(
                    f"--out {root} holds a different build ({_describe(existing)}){hint}; "
                    "pass --force to replace it or choose another folder"
                )
            if not resume:
                state = "a complete" if self.complete_marker.exists() else "an unfinished"
                raise FakescopeError(
                    f"--out {root} already holds {state} build of this benchmark; pass --resume "
                    "to finish (or reuse) it, or --force to rebuild it"
                )
            resuming = True
        return resuming

    def claim(self, identity: dict[str, Any]) -> None:
        """Create ``.work`` and record the build's identity there."""
        self.work.mkdir(parents=True, exist_ok=True)
        write_json(self.work / "build.json", identity)
