"""Reading the inbox without leaving it: no link followed, no special file opened.

People and their copy tools write the inbox. A symbolic link, a FIFO, a socket or a
device file in a batch folder must not make ingest read outside the inbox, hang, or
crash the batch, so every entry is classified without following links before
anything opens it, and only regular files are ever opened.

On a local inbox each walk and each open goes down from the inbox root through
directory file descriptors (``openat`` with ``O_NOFOLLOW``), so a folder swapped for
a link after it was listed is refused, not followed. A file is opened with
``O_NONBLOCK`` (a FIFO swapped in cannot hang the open) and the opened descriptor
must still be the regular file that was listed (``fstat``: same device and inode).
Object stores (s3://, gs://, memory://) have no links or special files: every key is
a regular file and the checks reduce to the backend's own ``type``.

Not caught: a hard link (it *is* a regular file of the inbox; only the file system's
own protection, ``fs.protected_hardlinks``, stops one to a file the writer cannot read).
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Literal

from pipelines.ingest.errors import NotRegularFile
from pipelines.storage import Storage

Kind = Literal["file", "directory", "symlink", "fifo", "socket", "device", "other"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC

_WHAT: dict[str, str] = {
    "directory": "a folder",
    "symlink": "a symbolic link",
    "fifo": "a FIFO (named pipe)",
    "socket": "a socket",
    "device": "a device file",
    "other": "not a regular file",
}


@dataclass(frozen=True)
class Entry:
    """One inbox entry as found without following links."""

    path: str
    """Relative to the folder it was listed from (POSIX)."""
    kind: Kind
    size: int | None = None
    """Bytes, for a regular file."""
    identity: tuple[int, int] | None = None
    """(st_dev, st_ino) of a local regular file; None on object stores."""
    target: str | None = None
    """Where a symbolic link points (read with readlink, never followed)."""

    def describe(self) -> str:
        """What it is, in English, for a quarantine detail."""
        what = _WHAT.get(self.kind, "a regular file")
        if self.kind == "symlink" and self.target is not None:
            what += f" to {self.target!r}"
        return what


def _kind(mode: int) -> Kind:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "other"


def _parts(rel: str) -> list[str]:
    parts = [p for p in rel.strip("/").split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise ValueError(f"inbox path {rel!r} must not hold '.' or '..'")
    return parts


# --- local: every step from the inbox root through directory descriptors ----------
def _lstat_at(dir_fd: int, name: str, path: str) -> Entry:
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    kind = _kind(st.st_mode)
    target = None
    if kind == "symlink":
        with contextlib.suppress(OSError):
            target = os.readlink(name, dir_fd=dir_fd)
    return Entry(
        path,
        kind,
        size=st.st_size if kind == "file" else None,
        identity=(st.st_dev, st.st_ino) if kind == "file" else None,
        target=target,
    )


def _open_dir(root: str, parts: list[str]) -> int:
    """A descriptor of root/parts…; NotRegularFile when a part is not a real folder.

    The root itself is configuration (it may be a link); below it nothing is followed.
    """
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for i, part in enumerate(parts):
            try:
                sub = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                raise
            except OSError as exc:  # ELOOP: a link; ENOTDIR: a file, a FIFO…
                entry = _lstat_at(fd, part, "/".join(parts[: i + 1]))
                if entry.kind == "directory":
                    raise  # a real folder that cannot be opened: a real error
                raise NotRegularFile(entry, "; expected a folder") from exc
            os.close(fd)
            fd = sub
    except BaseException:
        os.close(fd)
        raise
    return fd


def _scan_local(storage: Storage, rel: str) -> list[Entry]:
    fd = _open_dir(storage.full(""), _parts(rel))
    try:
        with os.scandir(fd) as it:
            names = sorted(e.name for e in it)
        return [_lstat_at(fd, name, name) for name in names]
    finally:
        os.close(fd)


# --- object stores (and any other fsspec backend) -------------------------------------
def _remote_entry(path: str, info: dict) -> Entry:
    if info.get("islink"):
        return Entry(path, "symlink", target=info.get("destination"))
    kind = info.get("type")
    if kind == "file":
        return Entry(path, "file", size=int(info.get("size") or 0))
    if kind == "directory":
        return Entry(path, "directory")
    return Entry(path, "other")


def _scan_remote(storage: Storage, rel: str) -> list[Entry]:
    base = storage.full(rel).rstrip("/")
    if not storage.fs.exists(base):
        raise FileNotFoundError(base)
    out = []
    for info in storage.fs.ls(base, detail=True):
        name = posixpath.basename(info["name"].rstrip("/"))
        if name and info["name"].rstrip("/") != base:
            out.append(_remote_entry(name, info))
    return sorted(out, key=lambda e: e.path)


# --- the API --------------------------------------------------------------------------
def scan_dir(storage: Storage, rel: str) -> list[Entry]:
    """The entries directly in folder ``rel``, sorted by name, nothing followed.

    ``FileNotFoundError`` when it does not exist; ``NotRegularFile`` when ``rel`` or a
    folder above it is a link or not a folder.
    """
    return _scan_local(storage, rel) if storage.is_local else _scan_remote(storage, rel)


def walk(storage: Storage, rel: str) -> list[Entry]:
    """Every entry below folder ``rel`` except real folders (walked into), sorted.

    A link to a folder is an entry of kind ``symlink``: listed, not walked. Paths are
    relative to ``rel``. Raises like ``scan_dir`` for ``rel`` itself.
    """
    out: list[Entry] = []

    def visit(prefix: str) -> None:
        for e in scan_dir(storage, posixpath.join(rel, prefix) if prefix else rel):
            path = posixpath.join(prefix, e.path) if prefix else e.path
            if e.kind == "directory":
                try:
                    visit(path)
                    continue
                except NotRegularFile as exc:  # swapped for a link since listed
                    e = exc.entry
            out.append(Entry(path, e.kind, e.size, e.identity, e.target))

    visit("")
    return sorted(out, key=lambda e: e.path)


def probe(storage: Storage, rel: str) -> Entry | None:
    """What ``rel`` is, nothing followed: the entry itself, or the first folder on the
    way that is a link or not a folder; None when nothing is there."""
    parts = _parts(rel)
    if not parts:
        return Entry("", "directory")
    if not storage.is_local:
        full = storage.full(rel)
        if not storage.fs.exists(full):
            return None
        return _remote_entry(rel, storage.fs.info(full))
    try:
        fd = _open_dir(storage.full(""), parts[:-1])
    except NotRegularFile as exc:
        return exc.entry if exc.entry.kind != "file" else None  # a/x, a a file: nothing there
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        return _lstat_at(fd, parts[-1], "/".join(parts))
    except FileNotFoundError:
        return None
    finally:
        os.close(fd)


def open_file(storage: Storage, rel: str, *, identity: tuple[int, int] | None = None) -> IO[bytes]:
    """Open the regular file ``rel`` for reading, never through a link, never blocking.

    ``identity``: the (st_dev, st_ino) it was listed with; a different file there now
    is refused. ``NotRegularFile`` when it is not (or no longer) that regular file;
    ``FileNotFoundError`` when it is gone.
    """
    if not storage.is_local:
        full = storage.full(rel)
        info = storage.fs.info(full)  # FileNotFoundError when absent
        entry = _remote_entry(rel, info)
        if entry.kind != "file":
            raise NotRegularFile(entry)
        return storage.open(rel)
    parts = _parts(rel)
    if not parts:
        raise NotRegularFile(Entry(rel, "directory"))
    dir_fd = _open_dir(storage.full(""), parts[:-1])
    try:
        # lstat first: a device is never opened (opening some has side effects).
        listed = _lstat_at(dir_fd, parts[-1], rel)
        if listed.kind != "file":
            raise NotRegularFile(listed)
        try:
            fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=dir_fd)
        except FileNotFoundError:
            raise
        except OSError:  # ELOOP, ENXIO…: swapped for a link or a socket since the lstat?
            swapped = _lstat_at(dir_fd, parts[-1], rel)
            if swapped.kind == "file":
                raise
            raise NotRegularFile(swapped, " (swapped in while opening)") from None
    finally:
        os.close(dir_fd)
    try:
        st = os.fstat(fd)
        now = (st.st_dev, st.st_ino)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(Entry(rel, _kind(st.st_mode)), " (swapped in while opening)")
        if now != listed.identity or (identity is not None and now != identity):
            raise NotRegularFile(listed, " but not the file that was listed (replaced since)")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def still_same_file(path: str, identity: tuple[int, int] | None) -> bool:
    """Whether local ``path`` is still the regular file ``identity`` names, for tools that
    open by path (pdftoppm, Pillow) after the file was checked. True without an identity."""
    if identity is None:
        return True
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) == identity


def ready_batches(inbox: Storage) -> Iterator[tuple[str, Entry | None]]:
    """``(key, None)`` for each inbox/<district>/<school>/<batch>/ holding a manifest.csv;
    ``(key, entry)`` for a district, school or batch entry that is not a real folder
    (a link is never followed to look for a manifest in it)."""
    for d in _dirs_or_refused(inbox, ""):
        if isinstance(d, Entry):
            yield d.path, d
            continue
        for s in _dirs_or_refused(inbox, d):
            if isinstance(s, Entry):
                yield s.path, s
                continue
            for b in _dirs_or_refused(inbox, s):
                if isinstance(b, Entry):
                    yield b.path, b
                    continue
                with contextlib.suppress(FileNotFoundError, NotRegularFile):
                    if any(e.path == "manifest.csv" for e in scan_dir(inbox, b)):
                        yield b, None


def _dirs_or_refused(inbox: Storage, rel: str) -> Iterator[str | Entry]:
    try:
        entries = scan_dir(inbox, rel)
    except (FileNotFoundError, NotRegularFile):
        return
    for e in entries:
        path = posixpath.join(rel, e.path) if rel else e.path
        if e.kind == "directory":
            yield path
        elif e.kind != "file":
            yield Entry(path, e.kind, target=e.target)
