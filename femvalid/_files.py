"""Atomic file output (a reader sees either the old file or the whole new one), run locks, and the
checks on every file femvalid reads (regular files of bounded size) and every place it writes."""

from __future__ import annotations

import fcntl
import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path

from femvalid.errors import InputError

__all__ = ["atomic_path", "write_atomic", "exclusive_lock", "remove_partial_files", "PARTIAL",
           "input_file_size", "read_input_bytes", "check_output_folder", "check_output_file", "MAX_TEXT_BYTES"]

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


# --- reading inputs and checking output places ------------------------------------

#: Largest text input femvalid reads (a study or load-case file): far above any real one.
MAX_TEXT_BYTES = 16 * 2**20

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISREG, "a file"))


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "a special file")


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def input_file_size(path: str | Path, limit_bytes: int | None = None, what: str = "a regular file",
                    error=InputError) -> int:
    """The size of ``path``, refused (``error``, exit status 2) unless it is a regular file of
    at most ``limit_bytes``; ``what`` names what it should be ("an STL file").

    Devices (/dev/zero), FIFOs, sockets, folders, symlink loops and missing files are
    refused with a reason, without opening them (opening a FIFO would block).
    """
    try:
        info = os.stat(path)
    except OSError as exc:
        raise error(path, f"cannot open: {_os_reason(exc)}") from None
    except ValueError as exc:  # a NUL byte in the name
        raise error(path, f"cannot open: {exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise error(path, f"is {_kind(info.st_mode)}, not {what}")
    if limit_bytes is not None and info.st_size > limit_bytes:
        raise error(path, f"{_mib(info.st_size)}, too large for {what} (femvalid reads at most {_mib(limit_bytes)})")
    return info.st_size


def _mib(size: float) -> str:
    return f"{size / 2**20:.4g} MiB"


def read_input_bytes(path: str | Path, limit_bytes: int = MAX_TEXT_BYTES, what: str = "a regular file",
                     error=InputError) -> bytes:
    """The bytes of a regular file of at most ``limit_bytes``; anything else is refused (``error``)."""
    input_file_size(path, limit_bytes, what, error)
    try:
        # O_NONBLOCK: a file swapped for a FIFO since the check does not block the open.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise error(path, f"cannot open: {_os_reason(exc)}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(path, f"is {_kind(info.st_mode)}, not {what}")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if total > limit_bytes:
                raise error(path, f"too large for {what} (femvalid reads at most {_mib(limit_bytes)})")
            chunks.append(chunk)
    except OSError as exc:
        raise error(path, f"cannot read: {_os_reason(exc)}") from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        try:
            os.stat(candidate)
            return candidate
        except FileNotFoundError:
            continue
        except (OSError, ValueError):
            return candidate  # the stat in the caller says why
    return Path(".")


def _probe(folder: Path, label) -> None:
    """Create and remove a file in ``folder``: the only test that root, read-only mounts and /proc all answer."""
    try:
        fd, name = tempfile.mkstemp(prefix=".femvalid-write-test-", dir=folder)
    except OSError as exc:
        raise InputError(label, f"cannot write into {folder}: {_os_reason(exc)}") from None
    os.close(fd)
    os.unlink(name)


def check_output_folder(folder: str | Path, what: str = "output folder", create: bool = False) -> Path:
    """Refuse (InputError, exit 2) an output folder that cannot be written, before any work.

    The folder may not exist yet: then its nearest existing parent must be a writable
    folder. With ``create`` it is made (with its parents) and tested itself.
    """
    folder = Path(folder)
    target = _nearest_existing(folder)
    try:
        info = os.stat(target)
    except (OSError, ValueError) as exc:
        reason = _os_reason(exc) if isinstance(exc, OSError) else str(exc)
        raise InputError(folder, f"cannot be used as the {what}: {reason}") from None
    if not stat.S_ISDIR(info.st_mode):
        if target == folder:
            raise InputError(folder, f"exists and is {_kind(info.st_mode)}, not a folder")
        raise InputError(folder, f"cannot be used as the {what}: {target} is {_kind(info.st_mode)}, not a folder")
    if create and target != folder:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(folder, f"cannot create the {what}: {_os_reason(exc)}") from None
        target = folder
    _probe(target, folder)
    return folder


def check_output_file(path: str | Path, force: bool = False, what: str = "output") -> Path:
    """Refuse (InputError, exit 2) an output file that exists (unless ``force``), is not a
    plain file, or whose folder is missing or cannot be written; checked before any work."""
    path = Path(path)
    if str(path).endswith(("/", os.sep)) or path.name in ("", ".", ".."):
        raise InputError(path, f"names a folder; give a file name for the {what}")
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    except (OSError, ValueError) as exc:
        reason = _os_reason(exc) if isinstance(exc, OSError) else str(exc)
        raise InputError(path, f"cannot be used as the {what}: {reason}") from None
    if info is not None:
        if stat.S_ISLNK(info.st_mode):
            try:
                info = os.stat(path)
            except OSError as exc:
                raise InputError(path, f"cannot be used as the {what}: {_os_reason(exc)}") from None
        if stat.S_ISDIR(info.st_mode):
            raise InputError(path, f"is a folder; give a file name for the {what}")
        if not stat.S_ISREG(info.st_mode):
            raise InputError(path, f"is {_kind(info.st_mode)}; give a plain file name for the {what}")
        if not force:
            raise InputError(path, "exists; use --force to overwrite it")
    parent = path.parent
    try:
        parent_info = os.stat(parent)
    except FileNotFoundError:
        raise InputError(path, f"folder {parent} does not exist") from None
    except (OSError, ValueError) as exc:
        reason = _os_reason(exc) if isinstance(exc, OSError) else str(exc)
        raise InputError(path, f"cannot write into {parent}: {reason}") from None
    if not stat.S_ISDIR(parent_info.st_mode):
        raise InputError(path, f"{parent} is {_kind(parent_info.st_mode)}, not a folder")
    _probe(parent, path)
    return path
