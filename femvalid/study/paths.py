"""Helpers the study modules share, importing nothing of femvalid: file hashes, the cache folder, output names."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["sha256_file", "cache_dir", "DESIGN_PAGE"]

#: The report's page of each design, OUTDIR/<design>/DESIGN_PAGE, beside its revisions' folders.
DESIGN_PAGE = "report.html"


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cache_dir() -> Path:
    """$FEMVALID_CACHE_DIR, else $XDG_CACHE_HOME/femvalid, else ~/.cache/femvalid."""
    if os.environ.get("FEMVALID_CACHE_DIR"):
        return Path(os.environ["FEMVALID_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "femvalid"
