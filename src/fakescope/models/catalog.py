"""Every built-in backbone kind, registered: import :func:`create_backbone` from here.

One import line per backbone module fills the registry of :mod:`fakescope.models.backbone`
(``efficientnet_lite0``, ``timm:<arch>``, ``open_clip:<model>``).
"""

from fakescope.models import (
    effnet_lite0,  # noqa: F401 - registers "efficientnet_lite0"
    openclip,  # noqa: F401 - registers "open_clip"
    timm_backbone,  # noqa: F401 - registers "timm" (and the NPR ResNet with timm)
)
from fakescope.models.backbone import (
    BACKBONES,
    DEFAULT_BACKBONE,
    Backbone,
    create_backbone,
    list_backbones,
    register_backbone,
)

__all__ = [
    "BACKBONES",
    "DEFAULT_BACKBONE",
    "Backbone",
    "create_backbone",
    "list_backbones",
    "register_backbone",
]
