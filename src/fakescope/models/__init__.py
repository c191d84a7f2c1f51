"""Backbones: timm models, the packaged EfficientNet-Lite0, open_clip encoders.

``create_backbone(name)`` builds one; ``list_backbones()`` lists the accepted
names. Each kind registers itself in :data:`BACKBONES` when imported below.
"""

from fakescope.models import effnet_lite0, npr_resnet, openclip, timm_backbone
from fakescope.models.backbone import (
    BACKBONES,
    DEFAULT_BACKBONE,
    Backbone,
    create_backbone,
    list_backbones,
    register_backbone,
)
from fakescope.models.effnet_lite0 import efficientnet_lite0_classifier
from fakescope.models.weights import WeightsError, cache_dir, read_weights_file

__all__ = [
    "BACKBONES",
    "DEFAULT_BACKBONE",
    "Backbone",
    "WeightsError",
    "cache_dir",
    "create_backbone",
    "efficientnet_lite0_classifier",
    "effnet_lite0",
    "list_backbones",
    "npr_resnet",
    "openclip",
    "read_weights_file",
    "register_backbone",
    "timm_backbone",
]
