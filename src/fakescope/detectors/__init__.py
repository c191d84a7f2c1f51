"""Detectors: everything users train, save, load and run (see :mod:`.base`).

Each detector module registers itself in :data:`~.base.DETECTORS`; import the
filled registry from :mod:`.catalog`::

    from fakescope.detectors.catalog import DETECTORS, Detector

This file imports nothing: a detector module imports its sibling ``base``, which
runs this file first, so filling the registry here would be an import cycle.
"""
