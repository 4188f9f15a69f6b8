"""The storage root: one fsspec filesystem under a URL, addressed by relative paths.

A local folder by default; ``s3://…``, ``gs://…`` or any fsspec URL at scale.
Code never builds an OS path to stored data: it asks this object.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import fsspec
from fsspec.core import url_to_fs


@dataclass(frozen=True)
class Storage:
    """A storage root. ``rel`` paths are POSIX, relative to the root, never absolute."""

    root_url: str
    _fs: Any = field(default=None, repr=False, compare=False)
    _root: str = field(default="", repr=False, compare=False)

    def __post_init__(self) -> None:
        fs, root = url_to_fs(self.root_url)
        object.__setattr__(self, "_fs", fs)
        object.__setattr__(self, "_root", root.rstrip("/"))

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        return self._fs

    def full(self, rel: str) -> str:
        rel = rel.lstrip("/")
        return posixpath.join(self._root, rel) if rel else self._root

    @property
    def _protocol(self) -> str:
        return self._fs.protocol if isinstance(self._fs.protocol, str) else self._fs.protocol[0]

    @property
    def is_local(self) -> bool:
        """True when ``full(rel)`` is a path on this machine (tools that only read local files)."""
        return self._protocol in ("file", "local")

    def url(self, rel: str) -> str:
        """A URL another process (or a person) can open."""
        full = self.full(rel)
        return full if self.is_local else f"{self._protocol}://{full}"

    def open(self, rel: str, mode: str = "rb") -> IO[Any]:
        if "w" in mode or "a" in mode:
            self._fs.makedirs(posixpath.dirname(self.full(rel)), exist_ok=True)
        return self._fs.open(self.full(rel), mode)

    def read_bytes(self, rel: str) -> bytes:
        with self.open(rel, "rb") as fh:
            return fh.read()

    def write_bytes(self, rel: str, data: bytes) -> None:
        with self.open(rel, "wb") as fh:
            fh.write(data)

    def exists(self, rel: str) -> bool:
        return self._fs.exists(self.full(rel))

    def size(self, rel: str) -> int:
        return int(self._fs.size(self.full(rel)))

    def sha256(self, rel: str, chunk: int = 1 << 20) -> str:
        h = hashlib.sha256()
        with self.open(rel, "rb") as fh:
            while block := fh.read(chunk):
                h.update(block)
        return h.hexdigest()

    def listdir(self, rel: str = "") -> list[str]:
        """Names (not paths) directly under ``rel``; [] when it does not exist."""
        full = self.full(rel)
        if not self._fs.exists(full):
            return []
        return sorted(posixpath.basename(p.rstrip("/")) for p in self._fs.ls(full, detail=False))

    def isdir(self, rel: str) -> bool:
        return self._fs.isdir(self.full(rel))

    def walk_files(self, rel: str = "") -> Iterator[str]:
        """Every file below ``rel``, as paths relative to ``rel``, sorted."""
        base = self.full(rel)
        if not self._fs.exists(base):
            return
        for path in sorted(self._fs.find(base)):
            yield posixpath.relpath(path, base)

    def sub(self, rel: str) -> Storage:
        """A storage rooted at ``rel`` below this one."""
        return Storage(self.url(rel))
