"""The ``fakescope`` command line (typer): thin wrappers that parse flags and call the library.

The app is :data:`fakescope.cli.app.app` (console script ``fakescope.cli.app:main``),
built from one module per command group; heavy imports (torch, pandas) happen
inside the commands so ``fakescope --help`` stays fast. Every user error prints
one red ``error: ...`` line and exits 2; Ctrl-C exits 130 (see :mod:`.common`).
This file imports nothing: each command module imports :mod:`.common`, which
runs this file first, so building the app here would be an import cycle.
"""
