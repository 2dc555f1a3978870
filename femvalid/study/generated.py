"""Designs a study generates instead of reading: lattice blocks and parametric cages, kept in the cache.

A lattice design's STL is generated once per spec and stored under the cache folder
as ``lattices/<key>.stl`` with its record (``<key>.json``). The key hashes the spec
and the generator's revision, so an unchanged spec reuses the same file, and its
SHA-256 goes into the run's provenance like any STL's. A parametric cage family's
members (``family = { cage = {...} }``) are kept the same way, as ``cages/<key>.stl``.
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

__all__ = ["CAGE_GENERATOR_REVISION", "GENERATOR_REVISION", "cage_stl", "lattice_stl"]

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


#: Changes whenever the parametric cage gives other triangles for the same parameters.
CAGE_GENERATOR_REVISION = "cage-1"


def cage_stl(parameters: dict, resolution_mm: float = 1.0, source: str = "cage") -> Path:
    """The STL of :class:`~femvalid.geometry.implants.InterbodyCage` (``parameters``: its
    fields), from the cache (``cages/<key>.stl``) or generated now.

    Raises
    ------
    ValueError
        Parameters the cage refuses (a window larger than the footprint, too much lordosis).
    """
    from femvalid.geometry.implants import InterbodyCage

    cage = InterbodyCage(**parameters)  # refuses impossible parameters before any file is made
    payload = {"cage": dataclasses.asdict(cage), "resolution_mm": resolution_mm,
               "generator": CAGE_GENERATOR_REVISION, "femvalid": __version__}
    key = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]
    folder = cache_dir() / "cages"
    stl, info = folder / f"{key}.stl", folder / f"{key}.json"
    if info.is_file() and stl.is_file():
        return stl
    surface = cage.surface(resolution_mm)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(stl) as tmp:
        write_stl(tmp, surface.triangles, name=f"femvalid InterbodyCage {source}"[:80])
    write_atomic(info, json.dumps(payload, indent=2) + "\n")  # last: its presence means the STL is complete
    return stl
