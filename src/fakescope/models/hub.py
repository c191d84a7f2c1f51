"""Is the Hugging Face hub reachable? Decided once per process, so offline runs fail fast.

timm and open_clip fetch pretrained weights from the hub; without a network
``huggingface_hub`` retries for about a minute before giving up. fakescope asks
first: :func:`hub_offline_reason` returns why the hub cannot be used (the user
set ``HF_HUB_OFFLINE=1`` / ``TRANSFORMERS_OFFLINE=1``, or a ~2 s TCP connect to
the hub's host on port 443 failed; the connect is tried at most once per host
per process) or None when it can. While offline, :func:`hub_cache_only` lets the
libraries read weights already in the local hub cache without any network call;
anything else fails at once and the caller names the local-weights option.
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

from fakescope.errors import FakescopeError

OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
DEFAULT_ENDPOINT = "https://huggingface.co"
CONNECT_TIMEOUT_S = 2.0
_TRUE = {"1", "true", "yes", "on"}

#: How to give local weights instead, for messages (library keyword / CLI option).
WEIGHTS_OPTION = "--set detector.params.weights=PATH"
NO_PRETRAINED_OPTION = "--set detector.params.pretrained=false"


class HubUnavailableError(FakescopeError):
    """Pretrained weights are needed from the hub, which cannot be reached, and are not cached."""


def _host_port() -> tuple[str, int]:
    url = urlparse(os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT)
    return url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)


@functools.lru_cache(maxsize=8)
def _connect_fails(host: str, port: int, timeout: float = CONNECT_TIMEOUT_S) -> str | None:
    """One TCP connect to ``host:port``; the reason it failed, or None (cached per process)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"cannot connect to {host}:{port} ({type(exc).__name__})"


def hub_offline_reason() -> str | None:
    """Why the hub cannot be used right now (a short phrase), or None when it can.

    The environment variables are read on every call; the network check runs
    once per host per process and is skipped behind a proxy (assumed reachable).
    """
    for var in OFFLINE_VARS:
        if os.environ.get(var, "").strip().lower() in _TRUE:
            return f"{var}={os.environ[var]} is set"
    if any(os.environ.get(v) for v in PROXY_VARS):
        return None
    return _connect_fails(*_host_port())


@contextmanager
def hub_cache_only() -> Iterator[None]:
    """Inside the block huggingface_hub uses only its local cache (no request, no retry)."""
    try:
        from huggingface_hub import constants
    except ImportError:  # no hub client: the libraries cannot download anything anyway
        yield
        return
    before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before


def offline_message(what: str, reason: str) -> str:
    """One line: ``what`` needs the hub, which is unreachable (``reason``); how to go on."""
    return (
        f"the pretrained weights of {what} are not in the local cache and the Hugging Face hub "
        f"cannot be used ({reason}); pass a local weights file with {WEIGHTS_OPTION} "
        f"(weights=PATH in Python), or train from scratch with {NO_PRETRAINED_OPTION}"
    )
