"""A tiny generic registry: ``@REGISTRY.register("name")`` and ``REGISTRY.get("name")``.

Each kind of plug-in (detectors, backbones, heads, layouts, ...) has one
registry. Plug-ins register themselves when their module is imported; a
package's ``catalog`` module (e.g. :mod:`fakescope.detectors.catalog`) imports
them all, so code that looks plug-ins up by name imports the catalog. Package
``__init__`` files import nothing (that would be an import cycle: a plug-in
imports its sibling ``base``, which runs the package ``__init__``). Adding a
method is one new file plus one import line in the catalog; nothing branches on
names.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from fakescope.errors import FakescopeError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects of one kind (usually classes or factories).

    ``catalog``: the module that imports every built-in plug-in of this kind; an
    unknown name looked up before it was imported says so in the error.
    """

    def __init__(self, kind: str, catalog: str | None = None) -> None:
        self.kind = kind
        self.catalog = catalog
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name``; a duplicate name is a bug."""

        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return deco

    def unregister(self, name: str) -> T:
        """Remove and return ``name`` (for tests that register temporary plug-ins)."""
        return self._items.pop(name)

    def get(self, name: str) -> T:
        """Return the object registered as ``name`` or raise a one-line user error."""
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            hint = ""
            if self.catalog is not None and self.catalog not in sys.modules:
                hint = f" (built-in ones register when {self.catalog} is imported)"
            raise FakescopeError(
                f"unknown {self.kind} {name!r}; choose one of: {known}{hint}"
            ) from None

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
