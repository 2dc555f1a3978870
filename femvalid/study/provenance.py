"""The provenance manifest of a study run: inputs, versions, settings, outputs."""

from __future__ import annotations

import platform
import sys
from datetime import datetime, timezone
from importlib import metadata, resources
from pathlib import Path

from femvalid import __version__
from femvalid.fem import solvers
from femvalid.study.paths import sha256_file
from femvalid.study.studyfile import Study

__all__ = ["manifest", "utc_now", "DEPENDENCIES"]

DEPENDENCIES = ("numpy", "scipy", "gmsh", "meshio", "pyamg", "pymeshfix", "tqdm", "sfepy")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


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
