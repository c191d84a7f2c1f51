"""Data: sample tables, folder layouts, decoding, transforms and loading.

The indexing API is re-exported here (light: pandas only; torch-based loading
lives in :mod:`fakescope.data.loader` and is imported where used)::

    from fakescope.data import index_dataset, summarize, format_summary
"""

from fakescope.data.families import apply_families, load_family_map
from fakescope.data.index import detect_layout, index_dataset
from fakescope.data.info import format_summary, summarize
from fakescope.data.layouts import LAYOUTS, class_mapping
from fakescope.data.splits import assign_splits

__all__ = [
    "LAYOUTS",
    "apply_families",
    "assign_splits",
    "class_mapping",
    "detect_layout",
    "format_summary",
    "index_dataset",
    "load_family_map",
    "summarize",
]
