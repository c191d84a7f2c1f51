"""Every built-in continual-learning method, registered: import ``create_strategy`` from here.

One import line per method module fills the registry of :mod:`fakescope.continual.base`.
"""

from fakescope.continual import (
    cored,  # noqa: F401 - registers "cored"
    ewc,  # noqa: F401 - registers "ewc"
    ft,  # noqa: F401 - registers "ft"
    kd,  # noqa: F401 - registers "kd"
    lwf,  # noqa: F401 - registers "lwf"
    replay,  # noqa: F401 - registers "replay"
    tg,  # noqa: F401 - registers "tg"
)
from fakescope.continual.base import STRATEGIES, ContinualStrategy, create_strategy

__all__ = ["STRATEGIES", "ContinualStrategy", "create_strategy"]
