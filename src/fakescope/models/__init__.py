"""Backbones: timm models, the packaged EfficientNet-Lite0, open_clip encoders."""
