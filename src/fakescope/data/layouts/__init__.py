"""Dataset folder layouts: the ``LAYOUTS`` registry, filled by the imports below.

===========  ===============================================================
``binary``   ``<root>/<gen>/[<sub>/][<split>/]{0_real,1_fake}`` (+ split-first)
``classes``  ``<root>/{train,valid,test}/<class>/`` (DmyT; "real" is class 0)
``tasks``    ``<root>/<Task>/{train,val}/{real,fake}`` (FaceForensics++, CoReD)
``genimage`` ``<root>/<gen>/[<sub>/]{train,val}/{ai,nature}``
``manifest`` a CSV/Parquet file with ``path`` and ``label`` columns
===========  ===============================================================
"""

from fakescope.data.layouts import binary, classes, genimage, manifest, tasks
from fakescope.data.layouts.base import LAYOUTS, RAW_COLUMNS, SUB, Layout
from fakescope.data.layouts.classes import class_mapping
from fakescope.data.layouts.files import IMAGE_EXTENSIONS, SPLIT_ALIASES, is_image_name

__all__ = [
    "IMAGE_EXTENSIONS",
    "LAYOUTS",
    "RAW_COLUMNS",
    "SPLIT_ALIASES",
    "SUB",
    "Layout",
    "binary",
    "class_mapping",
    "classes",
    "genimage",
    "is_image_name",
    "manifest",
    "tasks",
]
