"""User-facing errors.

Every error a user can cause (bad path, bad config, bad file) is raised as a
:class:`FakescopeError` whose message is one line saying what is wrong and what
to do. The CLI prints that line and exits non-zero, without a traceback.
"""


class FakescopeError(Exception):
    """A problem with the user's input: the message says what is wrong and what to do."""


class ConfigError(FakescopeError):
    """A configuration file or flag is invalid."""


class DataError(FakescopeError):
    """A dataset folder, manifest or layout is invalid."""


class DecodeError(FakescopeError):
    """One image file could not be decoded (a per-file error, never fatal for a scan)."""


class BundleError(FakescopeError):
    """A saved detector bundle is missing, incomplete, unsafe or from another version."""


class NotFittedError(FakescopeError):
    """A model was used before it was fitted."""
