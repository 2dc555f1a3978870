"""Atomic file output (a reader sees either the old file or the whole new one), and run locks."""

from __future__ import annotations

import fcntl
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "write_atomic", "exclusive_lock", "remove_partial_files", "PARTIAL"]

#: Marks the temporary name of a file being written; what a killed process leaves behind.
PARTIAL = ".partial-"


def _public_mode() -> int:
    """The mode a new file gets under the current umask (mkstemp alone would give 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside ``path``; on success it replaces ``path``, else it is removed."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}{PARTIAL}", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _public_mode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="")


def remove_partial_files(folder: str | Path) -> int:
    """Delete the temporaries of writes that never finished (a killed run); returns how many."""
    count = 0
    for leftover in Path(folder).rglob(f".*{PARTIAL}*"):
        if leftover.is_file():
            leftover.unlink(missing_ok=True)
            count += 1
    return count


@contextmanager
def exclusive_lock(path: str | Path, label: str):
    """Hold an exclusive lock on ``path`` (created if needed) while the block runs.

    Yields True when this process holds it, else the holder's ``label`` (a string).
    The kernel releases the lock when the process ends, however it ends (SIGKILL
    included), so it never goes stale.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            return
        os.ftruncate(fd, 0)
        os.pwrite(fd, label.encode("utf-8"), 0)
        yield True
    finally:
        os.close(fd)
