"""No absolute paths in written reports: rewrite them relative to the report or the cwd.

A report travels (attached to an issue, committed under ``docs/``, copied to
a team drive), so ``report.json`` / ``report.md`` / ``report.html`` must not
carry the writer's absolute paths (``/home/<user>/...``, a pytest temp dir, a
cache folder). Every absolute path found is rewritten, first rule that applies:

1. inside ``base`` (the folder the report is written to): relative to it
   (``"."`` for ``base`` itself);
2. inside the current working directory: relative to it;
3. anything else: its last component only (the file or folder name).

:func:`portable_value` walks JSON-able data (dicts, lists, strings) and is
used for ``report.json``; :func:`portable_text` rewrites rendered Markdown /
HTML text and leaves ``data:`` URIs (embedded PNGs, whose base64 may contain
``/``) untouched. A string that *is* an absolute path is rewritten whole (so
spaces in it are fine); inside longer text a path ends at whitespace, a quote,
``<``, ``>``, ``|``, ``,``, ``;``, ``)``, ``]`` or ``}``.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

#: An absolute POSIX path (``/x...``) or Windows path (``C:\\x`` / ``C:/x``) inside text; not
#: preceded by a word character, ``.``, ``:``, ``/``, ``~``, ``\\`` or ``<`` (so ``n/a``,
#: ``TPR/FPR``, ``http://...``, ``./x``, ``~/x`` and HTML end tags are left alone).
_IN_TEXT = re.compile(r"(?<![\w.:/~\\<])(?:/(?!/)|[A-Za-z]:[\\/])[^\s\"'<>|,;)\]}`]+")
#: Embedded images and other data URIs: never rewritten.
_DATA_URI = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+")
_WINDOWS_ABS = re.compile(r"^[A-Za-z]:[\\/]")


def _is_absolute(text: str) -> bool:
    return text.startswith("/") or bool(_WINDOWS_ABS.match(text))


def _anchors(base: str | Path | None) -> list[Path]:
    """Folders paths are made relative to, in order: ``base``, then the cwd."""
    folders = [Path(base).expanduser()] if base is not None else []
    with contextlib.suppress(OSError):  # a deleted cwd: only base and names are left
        folders.append(Path.cwd())
    # as given and with symlinks resolved (/tmp may be a link), without repeats
    out = [p for f in folders for p in (f.absolute(), f.resolve())]
    return list(dict.fromkeys(out))


def portable_path(path: str, base: str | Path | None = None) -> str:
    """``path`` rewritten by the module's rules (unchanged when it is not absolute)."""
    if not _is_absolute(path):
        return path
    return _rewrite(path, _anchors(base))


def portable_text(text: str, base: str | Path | None = None) -> str:
    """``text`` with every absolute path in it rewritten (``data:`` URIs untouched)."""
    anchors = _anchors(base)

    def fix(part: str) -> str:
        return _IN_TEXT.sub(lambda m: _rewrite(m.group(0), anchors), part)

    pieces, last = [], 0
    for match in _DATA_URI.finditer(text):
        pieces += [fix(text[last : match.start()]), match.group(0)]
        last = match.end()
    pieces.append(fix(text[last:]))
    return "".join(pieces)


def _rewrite(path: str, anchors: list[Path]) -> str:
    """An absolute ``path``: relative to the first anchor holding it, else its name."""
    if _WINDOWS_ABS.match(path):
        return PureWindowsPath(path).name or path
    target = PurePosixPath(os.path.normpath(path))
    for anchor in anchors:
        try:
            return str(target.relative_to(PurePosixPath(anchor))) or "."
        except ValueError:
            continue
    return target.name or "."


def portable_value(value: Any, base: str | Path | None = None) -> Any:
    """A copy of JSON-able ``value`` with absolute paths in its strings (and keys) rewritten."""
    if isinstance(value, str):
        if _is_absolute(value) and "\n" not in value:
            return portable_path(value, base)
        return portable_text(value, base)
    if isinstance(value, dict):
        return {portable_value(str(k), base): portable_value(v, base) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [portable_value(v, base) for v in value]
    return value
