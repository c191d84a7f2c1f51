"""On-disk cache of frozen-backbone embeddings, keyed by file content.

Layout: one SQLite database per *namespace* in the cache folder,
``<cache_dir>/<namespace>.sqlite``, with a table ``emb(digest, vec)`` where
``vec`` is the embedding [D] as little-endian float32 bytes (no pickle) and an
``info`` table describing the namespace. The namespace is a hash of a
description dict (for the probe: the backbone's ``cache_key``, which covers its
weights, the input config) and D. A row's key is the BLAKE2b hash of the file's *bytes*, so a
copied or renamed file hits the cache and an edited one misses.

SQLite gives atomic transactions and safe concurrent readers/writers (WAL mode,
a busy timeout), so several processes may share a cache folder. A cache that
cannot be opened or written only warns: results are then computed, not cached.
Only clean inputs are cached; callers must bypass the cache for degraded
inputs (an ``image_fn``), and files that fail to decode are never cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from fakescope.data.loader import iter_batches
from fakescope.data.transforms import ImageTransform

#: Bump when the stored format changes (part of every namespace).
CACHE_FORMAT = 1
#: ``cache_dir`` value meaning "the default location" (see :func:`default_cache_dir`).
AUTO = "auto"
_CHUNK = 500  # digests per SELECT ... IN (...)


def default_cache_dir() -> Path:
    """``$FAKESCOPE_CACHE/embeddings`` if set, else ``~/.cache/fakescope/embeddings``."""
    root = os.environ.get("FAKESCOPE_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "fakescope"
    return base / "embeddings"


def resolve_cache_dir(value: str | Path | None) -> Path | None:
    """``None`` -> caching off; ``"auto"`` -> :func:`default_cache_dir`; else that folder."""
    if value is None:
        return None
    if str(value) == AUTO:
        return default_cache_dir()
    return Path(value).expanduser()


def file_digest(path: str | Path) -> str | None:
    """BLAKE2b-160 hex digest of the file's bytes, or None when it cannot be read."""
    h = hashlib.blake2b(digest_size=20)
    try:
        with Path(path).open("rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


def digest_files(paths: Sequence[str | Path], threads: int = 4) -> list[str | None]:
    """:func:`file_digest` of every path (threads overlap the reads), in order."""
    if len(paths) < 64:
        return [file_digest(p) for p in paths]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(file_digest, paths, chunksize=32))


def namespace_of(description: Mapping[str, Any]) -> str:
    """Short stable hash of a JSON-able description (the namespace's file name)."""
    text = json.dumps({"format": CACHE_FORMAT, **description}, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


class EmbeddingCache:
    """Embeddings [D] float32 by file-content digest, for one backbone + input config.

    ``description`` must identify everything the embedding depends on (it is
    hashed into the namespace); ``dim`` is D.
    """

    def __init__(self, directory: str | Path, description: Mapping[str, Any], dim: int) -> None:
        self.directory = Path(directory).expanduser()
        self.description = dict(description)
        self.dim = int(dim)
        self.namespace = namespace_of({**self.description, "dim": self.dim})
        self.path = self.directory / f"{self.namespace}.sqlite"
        self._ready = False
        self._broken = False

    def _connect(self) -> sqlite3.Connection:
        if not self._ready:
            self.directory.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=60.0)
        if not self._ready:
            with con:
                con.execute("PRAGMA journal_mode=WAL")
                con.execute(
                    "CREATE TABLE IF NOT EXISTS emb (digest TEXT PRIMARY KEY, vec BLOB NOT NULL) WITHOUT ROWID"
                )
                con.execute(
                    "CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
                )
                con.execute(
                    "INSERT OR IGNORE INTO info VALUES ('description', ?)",
                    (
                        json.dumps(
                            {**self.description, "dim": self.dim}, sort_keys=True, default=str
                        ),
                    ),
                )
            self._ready = True
        return con

    def _fail(self, exc: Exception) -> None:
        if not self._broken:
            warnings.warn(
                f"embedding cache {self.path} is unusable ({exc}); continuing without it "
                "(delete the file or set cache_dir: null)",
                stacklevel=3,
            )
        self._broken = True

    def get_many(self, digests: Sequence[str]) -> dict[str, np.ndarray]:
        """Cached embeddings [D] for the given digests (missing ones are absent)."""
        found: dict[str, np.ndarray] = {}
        if self._broken or not digests:
            return found
        if not self.path.exists():
            return found
        unique = sorted(set(digests))
        try:
            with closing(self._connect()) as con:
                for i in range(0, len(unique), _CHUNK):
                    part = unique[i : i + _CHUNK]
                    marks = ",".join("?" * len(part))
                    rows = con.execute(
                        f"SELECT digest, vec FROM emb WHERE digest IN ({marks})", part
                    )
                    for digest, blob in rows:
                        vec = np.frombuffer(blob, dtype="<f4")
                        if vec.shape == (self.dim,):
                            found[digest] = vec.astype(np.float32)
        except (sqlite3.Error, OSError) as exc:
            self._fail(exc)
            return {}
        return found

    def put_many(self, digests: Sequence[str], vectors: np.ndarray) -> None:
        """Store ``vectors`` [K, D] under ``digests`` [K] in one transaction (non-finite rows skipped)."""
        if self._broken or not len(digests):
            return
        vectors = np.asarray(vectors, dtype="<f4").reshape(len(digests), self.dim)
        rows = [
            (d, v.tobytes()) for d, v in zip(digests, vectors, strict=True) if np.isfinite(v).all()
        ]
        try:
            with closing(self._connect()) as con, con:
                con.executemany("INSERT OR REPLACE INTO emb VALUES (?, ?)", rows)
        except (sqlite3.Error, OSError) as exc:
            self._fail(exc)

    def __len__(self) -> int:
        if not self.path.exists():
            return 0
        try:
            with closing(self._connect()) as con:
                return int(con.execute("SELECT COUNT(*) FROM emb").fetchone()[0])
        except (sqlite3.Error, OSError) as exc:
            self._fail(exc)
            return 0


def embed_files(
    paths: Sequence[str | Path],
    forward: Callable[[torch.Tensor], np.ndarray],
    dim: int,
    transform: ImageTransform,
    shape: tuple[int, int, int],
    *,
    cache: EmbeddingCache | None = None,
    batch_size: int = 64,
    num_workers: int | None = None,
    image_fn: Callable[[Image.Image], Image.Image] | None = None,
    progress: str | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Embeddings [N, dim] float32 of image files, reading/filling ``cache`` when given.

    Files whose content is cached skip decoding and ``forward`` entirely; the
    others are decoded in loader workers, embedded batch by batch
    (``forward``: x [B, 3, H, W] -> [B, dim]) and stored after every batch (an
    interrupted run keeps what it computed). Rows of files that fail to decode
    are NaN and their ``errors`` entry says why ("" = fine). ``image_fn`` (PIL ->
    PIL) degrades each image first; the cache must then be one for that degradation.
    """
    out = np.full((len(paths), dim), np.nan, dtype=np.float32)
    errors = [""] * len(paths)
    digests: list[str | None] = [None] * len(paths)
    todo = list(range(len(paths)))
    if cache is not None and len(paths):
        digests = digest_files(paths)
        hits = cache.get_many([d for d in digests if d is not None])
        for i, d in enumerate(digests):
            if d is not None and d in hits:
                out[i] = hits[d]
        todo = [i for i, d in enumerate(digests) if d is None or d not in hits]
    if not todo:
        return out, errors
    sub_errors = [""] * len(todo)
    for batch in iter_batches(
        [paths[i] for i in todo],
        transform,
        shape,
        batch_size=batch_size,
        num_workers=num_workers,
        image_fn=image_fn,
        errors=sub_errors,
        progress=progress,
    ):
        rows = np.asarray(todo, dtype=np.int64)[batch.index]
        emb = np.asarray(forward(batch.x), dtype=np.float32).reshape(len(rows), dim)
        out[rows] = emb
        if cache is not None:
            keep = [j for j, r in enumerate(rows.tolist()) if digests[r] is not None]
            cache.put_many([str(digests[int(rows[j])]) for j in keep], emb[keep])
    for j, i in enumerate(todo):
        errors[i] = sub_errors[j]
    return out, errors
