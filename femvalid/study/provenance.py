"""The provenance manifest of a study run: inputs, versions, settings, outputs."""

from __future__ import annotations

import hashlib
import platform
import sys
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path

from femvalid import __version__
from femvalid.fem import solvers
from femvalid.study.paths import sha256_file
from femvalid.study.studyfile import Study

__all__ = ["manifest", "utc_now", "DEPENDENCIES", "engine_fingerprint", "source_fingerprint"]

DEPENDENCIES = ("numpy", "scipy", "gmsh", "meshio", "pyamg", "pymeshfix", "tqdm", "sfepy")
#: femvalid's packages whose code and data compute a job's numbers (not the CLI, study
#: bookkeeping, report or verification), and the libraries they compute with.
ENGINE_PACKAGES = ("fem", "meshing", "loadcases", "post", "geometry", "imaging", "materials")
ENGINE_DEPENDENCIES = ("numpy", "scipy", "gmsh", "pyamg", "numba", "meshio", "pymeshfix", "pyvista", "vtk",
                       "pydicom", "nibabel")
_SOURCE_SUFFIXES = (".py", ".toml")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def source_fingerprint(root: Path, packages=ENGINE_PACKAGES) -> str:
    """SHA-256 of the source and data files (.py, .toml) under ``root``/``packages``, by relative path."""
    digest = hashlib.sha256()
    for package in packages:
        for path in sorted(p for p in (Path(root) / package).rglob("*") if p.suffix in _SOURCE_SUFFIXES):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


@lru_cache(maxsize=None)
def engine_fingerprint() -> str:
    """What, besides a job's inputs, can change its numbers: femvalid's computing code and data
    (:func:`source_fingerprint`) and the versions of the libraries it computes with. The job
    cache keys on it, so any change there recomputes; the manifest records it."""
    with resources.as_file(resources.files("femvalid")) as root:
        source = source_fingerprint(root)
    versions = ",".join(f"{name}={_version(name)}" for name in ENGINE_DEPENDENCIES)
    return hashlib.sha256(f"{source};{versions}".encode()).hexdigest()


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def manifest(study: Study, outdir: Path, results, started: str, finished: str) -> dict:
    """Everything needed to trace a run: SHA-256 of every input and output, versions, settings."""
    library = resources.files("femvalid.materials").joinpath("library.toml")
    with resources.as_file(library) as path:
        inputs = {**study.inputs, str(path): sha256_file(path)}
    jobs = []
    for r in results:
        folder = outdir / r.design / r.revision / r.loadcase
        outputs = {p.name: sha256_file(p) for p in sorted(folder.glob("*")) if p.is_file()} if folder.is_dir() else {}
        jobs.append({"design": r.design, "revision": r.revision, "loadcase": r.loadcase, "status": r.status,
                     "folder": str(folder.relative_to(outdir)), "outputs": outputs})
    return {
        "femvalid_version": __version__,
        "engine_fingerprint": engine_fingerprint(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "dependencies": {name: _version(name) for name in DEPENDENCIES},
        "study": {"path": str(study.path.resolve()), "name": study.name, "sha256": study.inputs[str(study.path)]},
        "inputs": inputs,
        "settings": {
            "mesh_size_mm": study.mesh_size_mm,
            "mesh_order": study.mesh_order,
            "mesh_refine_mm": study.mesh_refine_mm,
            "design_mesh_size_mm": {f"{d.name}/{d.revision}": d.mesh_size_mm for d in study.designs if d.mesh_size_mm},
            "generated_lattices": {f"{d.name}/{d.revision}": d.lattice for d in study.designs if d.lattice},
            "mesher": "gmsh HXT, one thread (reproducible), classification angle 40°",
            "solver_relative_tolerance": solvers.RTOL,
            "direct_solver_max_dofs": solvers.DIRECT_MAX_DOFS,
            "equilibrium_tolerance": 1e-6,
        },
        "started": started,
        "finished": finished,
        "jobs": jobs,
    }
