"""The one way fakescope writes a file: complete or not at all, readable by others.

:func:`atomic_write` opens a hidden temp file beside the target, lets the
caller fill it, flushes and fsyncs it, gives it the mode a plain ``open()``
would have given (``0o666`` less the process umask - ``mkstemp``'s private
``0o600`` would otherwise survive the rename, so a report served by a web
server or shared on a team drive could not be read) and renames it onto the
target. On any error or interrupt the temp file is removed and the target is
untouched. :func:`atomic_write_text`, :func:`atomic_write_bytes` and
:func:`atomic_write_json` cover the common cases; :func:`atomic_path` yields a
temp *path* for writers that insist on a file name (safetensors, PIL, pandas,
skops); the temp name ends with the target's suffix, so writers that infer a
format or append one (``np.save`` adds ``.npy``) behave as for the target.
:func:`atomic_dir` does the same for a whole folder (a detector bundle): it
appears complete, with the umask's normal folder mode (``0o777`` less the
umask), or not at all.

``fsync`` (default on) makes the data durable before the rename; pass
``fsync=False`` for many small files that can be regenerated (benchmark
images), where a sync per file would dominate the run time.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal, overload

__all__ = [
    "atomic_dir",
    "atomic_path",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "default_dir_mode",
    "default_file_mode",
]


def _umask() -> int:
    """The process umask, read without changing it where the OS allows.

    ``os.umask`` can only be read by setting it; between the two calls another
    thread creating a file would get mode ``0o666``. Linux (4.7+) reports the
    umask in ``/proc/self/status``; elsewhere the set-and-restore fallback runs.
    """
    try:
        with Path("/proc/self/status").open(encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def default_file_mode() -> int:
    """The mode a new file gets from ``open()``: ``0o666`` less the current umask."""
    return 0o666 & ~_umask()


def default_dir_mode() -> int:
    """The mode a new folder gets from ``mkdir``: ``0o777`` less the current umask."""
    return 0o777 & ~_umask()


def _fsync_path(path: Path) -> None:
    """Flush ``path`` (file or folder) to disk; best effort for folders (not every OS opens one)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        if path.is_dir():
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not path.is_dir():
            raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(target: str | Path, *, fsync: bool = True) -> Iterator[Path]:
    """Yield a temp path beside ``target``; rename it onto ``target`` when the block succeeds.

    The caller writes the whole file to the yielded path (any library that takes
    a file name); the temp name is hidden (leading dot) and ends with
    ``target``'s suffix. Parent folders are created. On an exception the temp
    file is removed and ``target`` keeps its old content (or stays absent).
    """
    target = Path(target).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=f".tmp{target.suffix}", dir=target.parent
    )
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if fsync:
            _fsync_path(tmp)
        tmp.chmod(default_file_mode())
        tmp.replace(target)
        if fsync:
            _fsync_path(target.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@overload
def atomic_write(
    target: str | Path, mode: Literal["w"] = "w", *, fsync: bool = True, newline: str | None = None
) -> contextlib.AbstractContextManager[IO[str]]: ...
@overload
def atomic_write(
    target: str | Path, mode: Literal["wb"], *, fsync: bool = True, newline: str | None = None
) -> contextlib.AbstractContextManager[IO[bytes]]: ...
def atomic_write(
    target: str | Path,
    mode: Literal["w", "wb"] = "w",
    *,
    fsync: bool = True,
    newline: str | None = None,
) -> contextlib.AbstractContextManager[IO[Any]]:
    """Open a file handle (text ``"w"``, UTF-8, or binary ``"wb"``) whose content replaces ``target``.

    Use as ``with atomic_write(path) as fh: fh.write(...)``. The file appears
    only complete, with the umask's normal mode; ``fsync`` (default on) makes
    it durable before the rename. ``newline`` is passed to ``open()`` in text
    mode (``""`` for the csv module and pandas).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write mode must be 'w' or 'wb', not {mode!r}")
    return _atomic_handle(Path(target), mode, fsync, newline)


@contextlib.contextmanager
def _atomic_handle(target: Path, mode: str, fsync: bool, newline: str | None) -> Iterator[IO[Any]]:
    with atomic_path(target, fsync=fsync) as tmp:
        if mode == "wb":
            with tmp.open("wb") as fh:
                yield fh
        else:
            with tmp.open("w", encoding="utf-8", newline=newline) as fh:
                yield fh


def atomic_write_text(target: str | Path, text: str, *, fsync: bool = True) -> Path:
    """Write ``text`` (UTF-8) to ``target`` atomically; returns the target path."""
    with atomic_write(target, "w", fsync=fsync) as fh:
        fh.write(text)
    return Path(target).expanduser()


def atomic_write_bytes(target: str | Path, data: bytes, *, fsync: bool = True) -> Path:
    """Write ``data`` to ``target`` atomically; returns the target path."""
    with atomic_write(target, "wb", fsync=fsync) as fh:
        fh.write(data)
    return Path(target).expanduser()


def atomic_write_json(
    target: str | Path, obj: Any, *, sort_keys: bool = False, fsync: bool = True
) -> Path:
    """Write ``obj`` as indented JSON (plus a final newline) to ``target`` atomically.

    NaN/inf are written as ``NaN``/``Infinity`` (Python's ``json`` reads them back).
    """
    text = json.dumps(obj, indent=2, sort_keys=sort_keys, allow_nan=True) + "\n"
    return atomic_write_text(target, text, fsync=fsync)


@contextlib.contextmanager
def atomic_dir(target: str | Path, *, fsync: bool = True) -> Iterator[Path]:
    """Yield an empty temp folder beside ``target``; it becomes ``target`` when the block succeeds.

    The caller fills the yielded folder with plain writes. On success every
    folder and file inside gets the umask's normal mode (some writers, e.g.
    safetensors, create private ``0o600`` files), the files are fsynced
    (``fsync``), and the folder is renamed onto ``target``; a folder already
    at ``target`` is moved aside first and deleted afterwards, so readers see
    either the old or the new folder, never a mix. On an exception the temp
    folder is deleted and ``target`` is untouched. A *file* at ``target`` is
    refused (``FileExistsError``) before anything is written.
    """
    target = Path(target).expanduser()
    if (target.exists() or target.is_symlink()) and not target.is_dir():
        raise FileExistsError(f"{target} is a file, not a folder; choose another path")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        file_mode, dir_mode = default_file_mode(), default_dir_mode()
        for folder, dirs, files in os.walk(tmp):
            for name in files:
                path = Path(folder) / name
                if not path.is_symlink():
                    path.chmod(file_mode)
                    if fsync:
                        _fsync_path(path)
            for name in dirs:
                if not (Path(folder) / name).is_symlink():
                    (Path(folder) / name).chmod(dir_mode)
            if fsync:
                _fsync_path(Path(folder))
        tmp.chmod(dir_mode)
        _swap_dir(tmp, target)
        if fsync:
            _fsync_path(target.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap_dir(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` to ``target``; an existing ``target`` is moved aside first, then deleted."""
    old: Path | None = None
    if target.exists() or target.is_symlink():
        old = target.with_name(f".{target.name}.old-{os.getpid()}-{secrets.token_hex(4)}")
        target.rename(old)
    try:
        tmp.rename(target)
    except BaseException:
        if old is not None:
            old.rename(target)
        raise
    if old is not None:
        if old.is_symlink() or not old.is_dir():
            old.unlink(missing_ok=True)
        else:
            shutil.rmtree(old, ignore_errors=True)
