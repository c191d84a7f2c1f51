"""The generator zoo: one file per generator, each registered in :data:`~.base.GENERATORS`.

Import the filled registry from :mod:`.catalog`. This file imports nothing, so
importing one generator never imports the others (and makes no import cycle).
"""
