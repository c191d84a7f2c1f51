"""Tiny autoencoders (TAESD family) of real latent-diffusion VAEs: architecture, weights, loading.

Five encoder/decoder pairs, distilled by their author to reproduce the latent
spaces and decoders of published latent-diffusion models (see the README of
``tiny-autoencoders.zip`` in ../shared/data):

==========  ==========  ===============  ======
decoder     file stem   mimics           latent
==========  ==========  ===============  ======
``sd``      ``taesd``   SD 1.x / 2.x     4
``sdxl``    ``taesdxl`` SDXL             4
``sd3``     ``taesd3``  SD 3             16
``flux1``   ``taef1``   FLUX.1           16
``flux2``   ``taef2``   FLUX.2           32
==========  ==========  ===============  ======

Each file ``<stem>_{encoder,decoder}.safetensors`` is the state dict of one
``nn.Sequential`` (the key's leading integer is the layer index); the modules
below rebuild those sequences so the files load strictly.

* encoder: x [B, 3, H, W] in [0, 1] (H, W multiples of 8) -> z [B, C, H/8, W/8];
* decoder: z [B, C, h, w] -> x [B, 3, 8h, 8w], clamped to [0, 1].

Where the weights come from (:func:`resolve_weights`): an explicit path
(a folder, or a ``.zip`` holding the files, possibly in a sub-folder), else
the configured path (``--weights``), else ``$FAKESCOPE_WEIGHTS``. Every file
is checked against :data:`SHA256` before it is used. Nothing here downloads;
:func:`fetch_published` (internet only, never called by fakescope itself or
its tests) fetches the author's own published files.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from torch import nn

from fakescope.models.weights import StateDict, WeightsError, load_checked, state_dict_sha256

#: Environment variable naming the folder or zip that holds the weights.
WEIGHTS_ENV = "FAKESCOPE_WEIGHTS"
#: The command-line option that names it, for messages.
WEIGHTS_OPTION = "--weights PATH"
PARTS = ("encoder", "decoder")


@dataclass(frozen=True)
class TaeSpec:
    """One tiny autoencoder: its file stem, latent channels and what it mimics."""

    stem: str
    latent_channels: int
    mimics: str
    #: taef2: the three blocks next to the latent carry a GroupNorm "pool" branch.
    pool_blocks: bool = False


#: Decoder name -> its autoencoder.
TAE_SPECS: dict[str, TaeSpec] = {
    "sd": TaeSpec("taesd", 4, "Stable Diffusion 1.x / 2.x"),
    "sdxl": TaeSpec("taesdxl", 4, "Stable Diffusion XL"),
    "sd3": TaeSpec("taesd3", 16, "Stable Diffusion 3"),
    "flux1": TaeSpec("taef1", 16, "FLUX.1"),
    "flux2": TaeSpec("taef2", 32, "FLUX.2", pool_blocks=True),
}

#: sha256 of every file (from the README of tiny-autoencoders.zip).
SHA256: dict[str, str] = {
    "taef1_decoder.safetensors": "bb41500b646d5b8b592b7f3ca5d20d888c3075e209d178d99af609cd7e02a1d4",
    "taef1_encoder.safetensors": "19f5a854ce575fd0a1c0a52938410cf5fb4dc4b8ae71c8887533646d8fe47030",
    "taef2_decoder.safetensors": "79b69df8dd742e179d3b929905310a39901a805840f9b2b8968d1bbf5f65d642",
    "taef2_encoder.safetensors": "ed439d4f19057d2a3b8fb43e3caa9aff37f5b9fdbf707cddff57f5a8ae8d5068",
    "taesd3_decoder.safetensors": "e940e227e2a41919f0735ec423129724666f8b949c8bbce7a04b78ecfb4667de",
    "taesd3_encoder.safetensors": "e5c96f3476bd26fe73e96d701a694f40d7ab48a290494cbbf70a3697d09cab4a",
    "taesd_decoder.safetensors": "d903e7cc3ae58f21d985a3498a841fa8b230edccff7ac5d27607b0c557945c6f",
    "taesd_encoder.safetensors": "a6b8c0fda4aad50784e543389e0239c72c5e31e9775c9e612ea8333bf3a77dcb",
    "taesdxl_decoder.safetensors": "ae5256b046b01d577279ed93a55bbb1fb2689e55aa14cfc0f7f841e0160202a5",
    "taesdxl_encoder.safetensors": "3d78013286676a1a51074831230f90972e573698fe4b11416d6f28e0cd5bbe7e",
}

#: sha256 over names, dtypes, shapes and bytes of each file's tensors cast to float32
#: (:func:`fakescope.models.weights.state_dict_sha256`): the same weights stored in
#: another container (e.g. converted by :func:`fetch_published`) are accepted too.
TENSOR_SHA256: dict[str, str] = {
    "taef1_decoder.safetensors": "d90cc5d6b93bae6ff30ae2a881ad2b25a2e875e994c6849b7a858cd5516f7637",
    "taef1_encoder.safetensors": "a75b86f1b57a3bcf8b2b78e90f16028709f392398a608a061ec418f3212ecfb0",
    "taef2_decoder.safetensors": "8ddd05cf9db7f8556c1416972fb28909c95a76aad1e5446a23faed14f284e0e5",
    "taef2_encoder.safetensors": "ce1d6f69a003031b77cd29f7e28c9ae1e6f011678e4cd483559283b01b78097a",
    "taesd3_decoder.safetensors": "4f9032e5040e3d347cee5bf97f950258fa7887f271ff432ba39464509f58338f",
    "taesd3_encoder.safetensors": "ccf238d202ae4fd94a87c7fccf211722eb19f7386b11599d25ac7abd3788baa1",
    "taesd_decoder.safetensors": "7cf9a98c9c03fe45499c3571b9aea6c12e4ffbba3b72956db4b5bb605c21f3bd",
    "taesd_encoder.safetensors": "e74d6cca3e7cec58efa5bca16486bf7f12c49e664939a2d63ada60d49390d6cc",
    "taesdxl_decoder.safetensors": "dba35204376c9adf13b21fcc7fd3dd0ff006721ffd3a7ff448a8e311c0c9e0ac",
    "taesdxl_encoder.safetensors": "c0850a6e065eab6644501d4f7dfd7738a5ed28c2710e4702659a4889782a6003",
}

WIDTH = 64


def tae_spec(decoder: str) -> TaeSpec:
    """The :class:`TaeSpec` of ``decoder``; one-line :class:`WeightsError` listing the choices."""
    if decoder not in TAE_SPECS:
        raise WeightsError(f"unknown decoder {decoder!r}; choose one of: {', '.join(TAE_SPECS)}")
    return TAE_SPECS[decoder]


def file_name(stem: str, part: str) -> str:
    """``<stem>_<part>.safetensors``, e.g. ``taesd_decoder.safetensors``."""
    return f"{stem}_{part}.safetensors"


# ------------------------------------------------------------------ architecture
def _conv(c_in: int, c_out: int, *, bias: bool = True, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=bias)


class SoftClamp(nn.Module):
    """``tanh(z / 3) * 3``: bounds the latent to (-3, 3) smoothly (no parameters)."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z / 3.0) * 3.0


class Block(nn.Module):
    """Residual block on [B, 64, H, W]: ``relu(conv(x') + x')`` with ``x' = x (+ pool(x))``.

    ``conv`` = 3x3 conv, ReLU, 3x3 conv, ReLU, 3x3 conv. With ``pool`` (taef2, next
    to the latent) a 1x1 conv to 4x channels (no bias), GroupNorm(4), ReLU and a
    1x1 conv back (no bias) is first added to the input.
    """

    def __init__(self, channels: int = WIDTH, *, pool: bool = False) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            _conv(channels, channels),
            nn.ReLU(),
            _conv(channels, channels),
            nn.ReLU(),
            _conv(channels, channels),
        )
        self.pool: nn.Sequential | None = None
        if pool:
            wide = 4 * channels
            self.pool = nn.Sequential(
                nn.Conv2d(channels, wide, 1, bias=False),
                nn.GroupNorm(4, wide),
                nn.ReLU(),
                nn.Conv2d(wide, channels, 1, bias=False),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool is not None:
            x = x + self.pool(x)
        return torch.relu(self.conv(x) + x)


def build_encoder(latent_channels: int, *, pool: bool = False) -> nn.Sequential:
    """Encoder [B, 3, H, W] in [0, 1] -> latent [B, C, H/8, W/8] (15 layers, see module doc).

    ``pool``: the last three blocks carry the pool branch (taef2).
    """
    layers: list[nn.Module] = [_conv(3, WIDTH), Block()]
    for stage in range(3):
        layers.append(_conv(WIDTH, WIDTH, bias=False, stride=2))
        layers += [Block(pool=pool and stage == 2) for _ in range(3)]
    layers.append(_conv(WIDTH, latent_channels))
    return nn.Sequential(*layers)


def build_decoder(latent_channels: int, *, pool: bool = False) -> nn.Sequential:
    """Decoder latent [B, C, h, w] -> RGB [B, 3, 8h, 8w] (unclamped; 20 layers, see module doc).

    ``pool``: the first three blocks carry the pool branch (taef2).
    """
    layers: list[nn.Module] = [SoftClamp(), _conv(latent_channels, WIDTH), nn.ReLU()]
    for stage in range(3):
        layers += [Block(pool=pool and stage == 0) for _ in range(3)]
        layers += [nn.Upsample(scale_factor=2, mode="nearest"), _conv(WIDTH, WIDTH, bias=False)]
    layers += [Block(), _conv(WIDTH, 3)]
    return nn.Sequential(*layers)


class TinyAutoencoder(nn.Module):
    """One decoder family's encoder + decoder, float32, in eval mode.

    :meth:`encode`: x [B, 3, H, W] in [0, 1] (H, W multiples of 8) -> z [B, C, H/8, W/8].
    :meth:`decode`: z [B, C, h, w] -> x [B, 3, 8h, 8w] in [0, 1].
    """

    def __init__(self, decoder: str) -> None:
        super().__init__()
        self.name = decoder
        self.spec = tae_spec(decoder)
        c, pool = self.spec.latent_channels, self.spec.pool_blocks
        self.encoder = build_encoder(c, pool=pool)
        self.decoder = build_decoder(c, pool=pool)
        self.eval()

    @property
    def latent_channels(self) -> int:
        """Channels of the latent (4, 16 or 32)."""
        return self.spec.latent_channels

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, 3, H, W] in [0, 1] -> latent [B, C, H/8, W/8]; H, W must be multiples of 8."""
        h, w = x.shape[-2:]
        if h % 8 or w % 8:
            raise ValueError(f"image sides must be multiples of 8, got {h}x{w}")
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent [B, C, h, w] -> image [B, 3, 8h, 8w] clamped to [0, 1]."""
        return self.decoder(z).clamp(0.0, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``decode(encode(x))`` [B, 3, H, W] in [0, 1]."""
        return self.decode(self.encode(x))


# ------------------------------------------------------------------ weights
def _env_hint(stem: str) -> str:
    return (
        f"pass {WEIGHTS_OPTION} or set {WEIGHTS_ENV} to a folder or .zip holding "
        f"{file_name(stem, 'encoder')} and {file_name(stem, 'decoder')} "
        "(../shared/data/tiny-autoencoders.zip)"
    )


def resolve_weights(
    stem: str, explicit: str | Path | None = None, configured: str | Path | None = None
) -> Path:
    """The folder or zip to read ``stem``'s files from: ``explicit`` > ``configured`` > env.

    Raises a one-line :class:`WeightsError` when none is given or the path does not exist.
    """
    for origin, value in (
        ("the weights path", explicit),
        (WEIGHTS_OPTION.split()[0], configured),
        (WEIGHTS_ENV, os.environ.get(WEIGHTS_ENV) or None),
    ):
        if value is None or str(value) == "":
            continue
        path = Path(value).expanduser()
        if not path.exists():
            raise WeightsError(
                f"weights location {path} (from {origin}) does not exist; {_env_hint(stem)}"
            )
        return path
    raise WeightsError(f"no weights for the {stem} autoencoder; {_env_hint(stem)}")


def _find_in_folder(folder: Path, name: str) -> Path | None:
    direct = folder / name
    if direct.is_file():
        return direct
    return next(iter(sorted(folder.rglob(name))), None)


def read_weights_bytes(location: Path, name: str) -> tuple[Path, bytes]:
    """(where, bytes) of file ``name`` in ``location`` (a folder or zip, any sub-folder).

    Raises a one-line :class:`WeightsError` naming the path and the option / env var
    to fix when the file is missing or the location unreadable.
    """
    stem = name.split("_")[0]
    if location.is_dir():
        found = _find_in_folder(location, name)
        if found is not None:
            return found, found.read_bytes()
    elif location.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(location) as zf:
                member = next(
                    (m for m in sorted(zf.namelist()) if m.rsplit("/", 1)[-1] == name), None
                )
                if member is not None:
                    return location / member, zf.read(member)
        except (OSError, zipfile.BadZipFile) as exc:
            raise WeightsError(
                f"cannot read {location} as a zip ({exc}); {_env_hint(stem)}"
            ) from None
    else:
        raise WeightsError(
            f"weights location {location} is neither a folder nor a .zip; {_env_hint(stem)}"
        )
    raise WeightsError(f"{name} is missing from {location}; {_env_hint(stem)}")


def load_state(location: Path, name: str) -> StateDict:
    """The float32 state dict of file ``name`` in ``location``, verified before use.

    Accepted: the published file (its sha256 is in :data:`SHA256`) or the same
    tensors in another safetensors file (:data:`TENSOR_SHA256`). Anything else
    (a truncated, corrupt or different file) raises a one-line :class:`WeightsError`.
    """
    where, data = read_weights_bytes(location, name)
    digest = hashlib.sha256(data).hexdigest()
    tensors: StateDict | None = None
    if digest != SHA256.get(name):
        try:
            parsed = {k: v.float() for k, v in load_safetensors_bytes(data).items()}
        except (SafetensorError, ValueError, RuntimeError):
            parsed = {}
        if parsed and state_dict_sha256(parsed) == TENSOR_SHA256.get(name):
            tensors = parsed
        else:
            raise WeightsError(
                f"{where} is corrupt or not the published file (sha256 {digest[:12]}..., "
                f"expected {SHA256.get(name, '?')[:12]}...); replace it: "
                f"{_env_hint(name.split('_')[0])}"
            )
    if tensors is None:
        tensors = {k: v.float() for k, v in load_safetensors_bytes(data).items()}
    return tensors


def load_tae(
    decoder: str,
    weights: str | Path | None = None,
    *,
    configured: str | Path | None = None,
) -> TinyAutoencoder:
    """The float32 :class:`TinyAutoencoder` of ``decoder`` with its verified published weights.

    ``weights`` (explicit) > ``configured`` (``--weights``) > ``$FAKESCOPE_WEIGHTS``:
    a folder or .zip holding ``<stem>_{encoder,decoder}.safetensors``. Strict load.
    """
    model = TinyAutoencoder(decoder)
    stem = model.spec.stem
    location = resolve_weights(stem, weights, configured)
    for part, module in (("encoder", model.encoder), ("decoder", model.decoder)):
        name = file_name(stem, part)
        load_checked(module, load_state(location, name), source=str(location / name))
    return model.eval()


# ------------------------------------------------------------------ internet only
#: The author's published files (github.com/madebyollin/taesd, main branch): torch state dicts
#: ``<stem>_encoder.pth`` / ``<stem>_decoder.pth`` for taesd, taesdxl, taesd3, taef1, taef2.
PUBLISHED_URL = "https://raw.githubusercontent.com/madebyollin/taesd/main/{stem}_{part}.pth"


def fetch_published(
    dest: str | Path, decoders: tuple[str, ...] = tuple(TAE_SPECS), *, allow_pickle: bool = False
) -> Path:
    """Download the author's published ``.pth`` files and store them as safetensors in ``dest``.

    For users with internet only: fakescope never calls this, and no test does.
    The ``.pth`` files are read with ``torch.load(weights_only=True)`` (torch's
    restricted unpickler: tensors and plain containers only), checked against
    the architecture by a strict load, and written as
    ``<dest>/<stem>_<part>.safetensors``; :func:`load_tae` accepts them when their
    tensors equal the pinned ones (:data:`TENSOR_SHA256`) and refuses them with
    the sha256 message otherwise (the author may have published newer weights).
    The ``.pth`` files are pickles: nothing is downloaded or read unless the caller
    consents with ``allow_pickle=True``.
    """
    import urllib.request

    if not allow_pickle:
        raise WeightsError(
            "the published TAESD weights are .pth pickles; call fetch_published(..., "
            "allow_pickle=True) to consent to reading them with torch's restricted unpickler"
        )

    from fakescope.models.weights import save_safetensors_atomic

    out = Path(dest).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    for decoder in decoders:
        model = TinyAutoencoder(decoder)
        for part, module in (("encoder", model.encoder), ("decoder", model.decoder)):
            url = PUBLISHED_URL.format(stem=model.spec.stem, part=part)
            with urllib.request.urlopen(url, timeout=60) as resp:
                raw = resp.read()
            state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
            load_checked(module, state, source=url)
            save_safetensors_atomic(state, out / file_name(model.spec.stem, part))
    return out
