"""Backbones: timm models, the packaged EfficientNet-Lite0, open_clip encoders.

The contract is :mod:`.backbone`; each kind registers itself in
:data:`~.backbone.BACKBONES`. Import the filled registry, ``create_backbone(name)``
and ``list_backbones()`` from :mod:`.catalog`. This file imports nothing, so
importing one model module never imports the others.
"""
