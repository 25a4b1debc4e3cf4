"""SHA-256 of files and directories, streamed, as datasets, artifacts and documents record them.

- A file: SHA-256 of its bytes, read in 1 MiB chunks (never whole).
- A directory: SHA-256 over one line per entry, ``<path>\\0<size>\\0<sha256>\\n``, for every
  regular file below it, sorted by path. ``<path>`` is the POSIX path relative to the
  directory (``/`` separators, file-system bytes as they are), ``<size>`` the byte count in
  decimal, ``<sha256>`` the file's digest in lowercase hex. Lines sort by the path's bytes,
  so the digest does not depend on creation order, locale or operating system.
- Symbolic links below a directory are not followed (a link could lead outside the
  dataset, or in a circle). Each contributes ``<path>\\0link\\0<sha256 of its target text>\\n``,
  so adding, removing or re-pointing a link changes the digest, but the content behind it
  is not covered: the result lists such links (``PathDigest.symlinks``) so callers can
  tell. A link given as the top-level path itself is followed: it was named on purpose.
- Empty directories contribute nothing. FIFOs, sockets and devices are refused: reading
  them would block or never end.

Example::

    from auditml.sdk import sha256_path
    digest = sha256_path("data/loans-2025/")
    print(digest.sha256, digest.files, digest.symlinks)
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from auditml.errors import ValidationError

__all__ = ["CHUNK_SIZE", "PathDigest", "sha256_file", "sha256_path"]

#: Bytes read per call while hashing a file.
CHUNK_SIZE = 1024 * 1024

StrPath = str | os.PathLike[str]


@dataclass(frozen=True)
class PathDigest:
    """The digest of a file or directory and what it covers."""

    #: SHA-256 in lowercase hex (of the file's bytes, or of the directory's entry lines).
    sha256: str
    #: Regular files hashed.
    files: int
    #: Their total size in bytes.
    total_bytes: int
    #: Relative POSIX paths of symbolic links that were recorded but not followed.
    symlinks: tuple[str, ...] = ()


def sha256_file(path: StrPath) -> str:
    """Return the SHA-256 (lowercase hex) of a file's bytes, read in 1 MiB chunks.

    Example::

        digest = sha256_file("models/credit-3.2.onnx")
        assert digest == hashlib.sha256(Path("models/credit-3.2.onnx").read_bytes()).hexdigest()

    Raises ValidationError if the file cannot be read (missing, a directory, no permission).
    """
    return _file_digest(Path(path))[0]


def sha256_path(path: StrPath) -> PathDigest:
    """Return the digest of a file or a directory (see the module docstring for the format).

    Example::

        digest = sha256_path("data/loans-2025/")
        if digest.symlinks: log.warning("not covered: %s", digest.symlinks)

    Raises ValidationError if the path does not exist, cannot be read, or (below a
    directory) is a FIFO, socket or device.
    """
    root = Path(path)
    try:
        mode = root.stat().st_mode  # follows a top-level link on purpose
    except OSError as exc:
        raise ValidationError(f"cannot hash {root}: {exc.strerror or exc}") from exc
    if stat.S_ISREG(mode):
        digest, size = _file_digest(root)
        return PathDigest(digest, 1, size)
    if not stat.S_ISDIR(mode):
        raise ValidationError(f"cannot hash {root}: not a regular file or directory")
    entries: list[tuple[bytes, bytes]] = []
    links: list[str] = []
    files = total = 0
    for relative, full in _walk(root):
        try:
            info = full.lstat()
        except OSError as exc:
            raise ValidationError(f"cannot hash {full}: {exc.strerror or exc}") from exc
        if stat.S_ISLNK(info.st_mode):
            target = os.fsencode(os.readlink(full))
            line_size, line_digest = b"link", hashlib.sha256(target).hexdigest()
            links.append(os.fsdecode(relative))
        else:
            line_digest, size = _file_digest(full)
            line_size = str(size).encode()
            files += 1
            total += size
        entries.append((relative, line_size + b"\0" + line_digest.encode()))
    entries.sort()
    outer = hashlib.sha256()
    for relative, rest in entries:
        outer.update(relative + b"\0" + rest + b"\n")
    return PathDigest(outer.hexdigest(), files, total, tuple(sorted(links)))


def _walk(root: Path) -> list[tuple[bytes, Path]]:
    """Every regular file and symlink below `root`: (relative path bytes, full path).

    Iterative rather than recursive, so a deep tree cannot exhaust Python's stack.
    """
    found: list[tuple[bytes, Path]] = []
    pending: list[tuple[Path, bytes]] = [(root, b"")]
    while pending:
        directory, prefix = pending.pop()
        try:
            with os.scandir(directory) as scan:
                children = list(scan)
        except OSError as exc:
            raise ValidationError(f"cannot list {directory}: {exc.strerror or exc}") from exc
        for entry in children:
            relative = prefix + os.fsencode(entry.name)
            full = directory / entry.name
            if entry.is_symlink() or entry.is_file(follow_symlinks=False):
                found.append((relative, full))
            elif entry.is_dir(follow_symlinks=False):
                pending.append((full, relative + b"/"))
            else:
                raise ValidationError(
                    f"cannot hash {full}: a FIFO, socket or device is not data; "
                    "move it out of the dataset directory"
                )
    return found


def _file_digest(path: Path) -> tuple[str, int]:
    """(SHA-256 hex, size) of one file, streamed through one reusable 1 MiB buffer."""
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    size = 0
    try:
        with open(path, "rb", buffering=0) as stream:
            while count := stream.readinto(buffer):
                digest.update(view[:count])
                size += count
    except OSError as exc:
        raise ValidationError(f"cannot hash {path}: {exc.strerror or exc}") from exc
    return digest.hexdigest(), size
