"""Weights files: safe reading, strict loading, order remapping, hashing, the user cache.

Only ``.safetensors`` files are read by default. Torch pickles (``.pt``, ``.pth``,
``.bin``, ``.ckpt``) are refused unless the caller passes ``allow_pickle=True``
(``--set detector.params.allow_pickle=true`` for the ``cnn`` and ``probe`` detectors),
and even then they go through ``torch.load(weights_only=True)``, torch's
restricted unpickler that only rebuilds tensors and plain containers.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from fakescope.errors import FakescopeError
from fakescope.fileio import atomic_path

SAFE_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle", ".tar")
#: Keys under which common training scripts nest the state dict of a checkpoint.
NESTED_KEYS = ("state_dict", "model", "model_state_dict", "module")
COUNTER_SUFFIX = "num_batches_tracked"
#: The command-line way to set ``allow_pickle`` (``fakescope train``/``eval``), for messages.
ALLOW_PICKLE_OPTION = "--set detector.params.allow_pickle=true"

StateDict = dict[str, torch.Tensor]


class WeightsError(FakescopeError):
    """A weights file is missing, unsafe, unreadable or does not fit the model."""


def cache_dir() -> Path:
    """fakescope's user cache folder: ``$FAKESCOPE_CACHE`` or ``~/.cache/fakescope``."""
    env = os.environ.get("FAKESCOPE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "fakescope"


def read_weights_file(path: str | Path, *, allow_pickle: bool = False) -> StateDict:
    """Read a state dict (name -> CPU tensor) from ``path``.

    ``.safetensors`` is read directly (no code execution possible). Pickle formats
    raise :class:`WeightsError` unless ``allow_pickle`` is True, in which case they are
    read with ``torch.load(weights_only=True)``; a checkpoint that nests its weights
    under ``state_dict``/``model`` is unwrapped and a ``module.`` prefix is stripped.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise WeightsError(f"weights file {p} does not exist; check the path")
    suffix = p.suffix.lower()
    if suffix in SAFE_SUFFIXES:
        try:
            return dict(load_file(str(p), device="cpu"))
        except (SafetensorError, OSError) as exc:
            raise WeightsError(
                f"cannot read {p} as safetensors ({exc}); re-export the weights"
            ) from None
    if suffix in PICKLE_SUFFIXES:
        if not allow_pickle:
            raise WeightsError(
                f"{p} is a pickle ({suffix}) and fakescope does not load pickles by default; "
                "convert it to .safetensors, or if you trust it pass allow_pickle=True "
                f"(command line: {ALLOW_PICKLE_OPTION})"
            )
        try:
            obj = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as exc:  # the restricted unpickler raises many types
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise WeightsError(
                f"cannot read {p} with torch.load(weights_only=True): {first}"
            ) from None
        return _as_state_dict(obj, p)
    raise WeightsError(
        f"unknown weights format {suffix or '(no suffix)'} for {p}; use a .safetensors file"
    )


def _as_state_dict(obj: object, source: Path) -> StateDict:
    """Unwrap a loaded checkpoint into a flat name -> tensor dict."""
    for _ in range(3):
        if isinstance(obj, Mapping) and not _all_tensors(obj):
            nested = next(
                (obj[k] for k in NESTED_KEYS if k in obj and isinstance(obj[k], Mapping)), None
            )
            if nested is None:
                break
            obj = nested
    if not isinstance(obj, Mapping) or not _all_tensors(obj) or not obj:
        raise WeightsError(
            f"{source} does not hold a state dict of tensors; save model.state_dict() instead"
        )
    out = {str(k): v for k, v in obj.items()}
    if all(k.startswith("module.") for k in out):
        out = {k.removeprefix("module."): v for k, v in out.items()}
    return out


def _all_tensors(obj: Mapping[object, object]) -> bool:
    return all(isinstance(v, torch.Tensor) for v in obj.values())


def save_safetensors_atomic(
    tensors: Mapping[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None
) -> Path:
    """Write ``tensors`` to ``path`` as safetensors, complete or not at all (:func:`atomic_path`)."""
    data = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(data, str(tmp), metadata=metadata)
    return Path(path).expanduser()


def load_checked(module: nn.Module, state: Mapping[str, torch.Tensor], *, source: str) -> None:
    """Load ``state`` into ``module`` strictly: same keys, same shapes, else a one-line error.

    ``source`` names where the weights came from (a path or "packaged weights") for the message.
    """
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]!r})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]!r})")
        raise WeightsError(
            f"weights from {source} do not fit this model: {', '.join(parts)} tensor names; "
            "pass weights saved from the same architecture"
        )
    for key, ref in expected.items():
        got = state[key]
        if tuple(got.shape) != tuple(ref.shape):
            raise WeightsError(
                f"weights from {source} do not fit this model: {key!r} has shape {tuple(got.shape)} "
                f"but the model expects {tuple(ref.shape)}; pass weights of the same architecture"
            )
    module.load_state_dict(dict(state), strict=True)


def remap_by_order(
    source: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor], *, what: str
) -> StateDict:
    """Rename ``source`` tensors to ``target``'s names by position (counters excluded).

    Both dicts' non-counter tensors (``num_batches_tracked`` skipped) must line up one
    to one, in order, with equal shapes; otherwise :class:`WeightsError` names the first
    mismatch. Target counters are set to 0. Returns a complete state dict in target names.
    """
    src = [(k, v) for k, v in source.items() if not k.endswith(COUNTER_SUFFIX)]
    dst = [(k, v) for k, v in target.items() if not k.endswith(COUNTER_SUFFIX)]
    if len(src) != len(dst):
        raise WeightsError(
            f"{what}: the weights hold {len(src)} tensors but the model has {len(dst)}; "
            "they are not the same architecture"
        )
    out: StateDict = {}
    for i, ((sk, sv), (dk, dv)) in enumerate(zip(src, dst, strict=True)):
        if tuple(sv.shape) != tuple(dv.shape):
            raise WeightsError(
                f"{what}: tensor {i} {sk!r} has shape {tuple(sv.shape)} but {dk!r} expects "
                f"{tuple(dv.shape)}; the weights do not line up with the model"
            )
        out[dk] = sv
    for key, ref in target.items():
        if key.endswith(COUNTER_SUFFIX):
            out[key] = torch.zeros_like(ref)
    return {k: out[k] for k in target}


def state_dict_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """Hex sha256 over names, dtypes, shapes and bytes of every tensor (sorted by name)."""
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().data)
    return h.hexdigest()
