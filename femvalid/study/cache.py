"""A cache of finished jobs, keyed by the hash of everything that determines them.

An entry is a folder named by the key holding the job's results.json and fields.vtu
and an index of their SHA-256; an entry whose files do not match their hashes
(a run killed while writing, a disk error, a hand edit) is ignored and replaced.
Location: $FEMVALID_CACHE_DIR, else $XDG_CACHE_HOME/femvalid, else ~/.cache/femvalid.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from femvalid import __version__
from femvalid.fem import solvers
from femvalid.study.paths import cache_dir, sha256_file
from femvalid.study.provenance import engine_fingerprint

__all__ = ["cache_dir", "job_key", "load", "store"]

_FILES = ("results.json", "fields.vtu")




def job_key(study, design, case) -> str:
    """SHA-256 of the inputs and settings that determine a job's result."""
    payload = {
        "femvalid": __version__,
        "stl_sha256": study.inputs[str(design.stl)],
        "units": design.units,
        "material": design.material.to_dict(),
        "loadcase": case.to_dict(),
        "loadcase_files": [study.inputs[str(path)] for path in case.input_files()],  # a CT and its vertebra
        "mesh": [study.mesh_size_mm, study.mesh_order, study.mesh_refine_mm, design.mesh_size_mm, design.surface],
        "solver": [solvers.RTOL, solvers.DIRECT_MAX_DOFS],
        "engine": engine_fingerprint(),  # femvalid's computing code and data, and its libraries' versions
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def load(key: str, folder: Path) -> dict | None:
    """Copy a valid entry's files into ``folder`` and return its results; None on a miss."""
    entry = cache_dir() / key
    try:
        index = json.loads((entry / "index.json").read_text())
        if any(sha256_file(entry / name) != index[name] for name in _FILES):
            return None
        results = json.loads((entry / "results.json").read_text())
    except (OSError, ValueError, KeyError):
        return None
    shutil.copyfile(entry / "fields.vtu", folder / "fields.vtu")
    return results


def store(key: str, folder: Path) -> None:
    """Save a finished job's files under ``key`` (atomically: a new folder renamed into place)."""
    root = cache_dir()
    try:
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=root))
        for name in _FILES:
            shutil.copyfile(folder / name, staging / name)
        (staging / "index.json").write_text(json.dumps({name: sha256_file(staging / name) for name in _FILES}))
        target = root / key
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    except OSError:
        pass  # a cache that cannot be written only costs time
