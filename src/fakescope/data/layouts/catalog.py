"""Every built-in folder layout, registered: import :data:`LAYOUTS` from here.

One import line per layout module fills the registry of :mod:`fakescope.data.layouts.base`.
"""

from fakescope.data.layouts import (
    binary,  # noqa: F401 - registers "binary"
    classes,  # noqa: F401 - registers "classes"
    genimage,  # noqa: F401 - registers "genimage"
    manifest,  # noqa: F401 - registers "manifest"
    tasks,  # noqa: F401 - registers "tasks"
)
from fakescope.data.layouts.base import LAYOUTS, Layout

__all__ = ["LAYOUTS", "Layout"]
