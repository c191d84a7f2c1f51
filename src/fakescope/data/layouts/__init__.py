"""Dataset folder layouts, each registered in :data:`~.base.LAYOUTS`.

===========  ===============================================================
``binary``   ``<root>/<gen>/[<sub>/][<split>/]{0_real,1_fake}`` (+ split-first)
``classes``  ``<root>/{train,valid,test}/<class>/`` (DmyT; "real" is class 0)
``tasks``    ``<root>/<Task>/{train,val}/{real,fake}`` (FaceForensics++, CoReD)
``genimage`` ``<root>/<gen>/[<sub>/]{train,val}/{ai,nature}``
``manifest`` a CSV/Parquet file with ``path`` and ``label`` columns
===========  ===============================================================

Import the filled registry from :mod:`.catalog`. This file imports nothing (a
layout imports its sibling ``base``, which would run this file: an import cycle).
"""
