"""Data: sample tables, folder layouts, decoding, transforms and loading.

The indexing API lives in its modules (light: pandas only; torch-based loading
lives in :mod:`fakescope.data.loader`)::

    from fakescope.data.index import detect_layout, index_dataset
    from fakescope.data.info import format_summary, summarize

This file imports nothing, so importing one data module never imports the others.
"""
