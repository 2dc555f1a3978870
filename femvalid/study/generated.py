"""Designs a study generates instead of reading: lattice blocks, kept in the cache.

A lattice design's STL is generated once per spec and stored under the cache folder
as ``lattices/<key>.stl`` with its record (``<key>.json``). The key hashes the spec
and the generator's revision, so an unchanged spec reuses the same file, and its
SHA-256 goes into the run's provenance like any STL's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from femvalid import __version__
from femvalid._files import atomic_path, write_atomic
from femvalid.geometry.lattice import LatticeSpec, generate_lattice
from femvalid.geometry.stl import write_stl
from femvalid.study.paths import cache_dir

__all__ = ["GENERATOR_REVISION", "lattice_stl"]

#: Changes whenever the generator makes other triangles for the same spec.
GENERATOR_REVISION = "lattice-1"


def lattice_stl(spec: LatticeSpec, source: str = "lattice") -> tuple[Path, dict]:
    """The generated STL for ``spec`` and its record (Lattice.to_dict), from the cache or made now."""
    payload = {"spec": dataclasses.asdict(spec), "generator": GENERATOR_REVISION, "femvalid": __version__}
    key = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]
    folder = cache_dir() / "lattices"
    stl, info = folder / f"{key}.stl", folder / f"{key}.json"
    try:
        return stl, json.loads(info.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    lattice = generate_lattice(spec, source)
    record = lattice.to_dict()
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(stl) as tmp:
        write_stl(tmp, lattice.surface.triangles, name=lattice.stl_header)
    write_atomic(info, json.dumps(record, indent=2) + "\n")  # last: its presence means the STL is complete
    return stl, record
