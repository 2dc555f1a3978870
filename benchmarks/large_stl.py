"""STLs of millions of triangles: meshing (resampled at the mesh size) and a P1 solve.

    .venv/bin/python -m benchmarks.large_stl                    # generate the three cages, mesh and solve
    .venv/bin/python -m benchmarks.large_stl --stl A.stl --size 0.15 --no-solve

Each STL is a generated lattice-filled interbody cage (``femvalid lattice gyroid-sheet
--relative-density 0.3 --cell-size 3 --cage 26 11 10 --resolution N``; N = 36, 56, 80
give about 2, 5 and 10 M triangles of the same design). Each is meshed as ``femvalid
mesh`` does (read and check, the memory estimates, ``mesh_surface`` with ``surface =
"auto"``, which resamples above 1 M triangles), in a fresh process so that its peak
memory is its own; the P1 axial compression (``LOADCASE_TYPES["axial_compression"]``,
F2077 lumbar, bonded platens, Ti-6Al-4V) is solved in another. Peak memory is the
resident maximum of the process (``ru_maxrss``) and, separately, of the gmsh worker
under it; both are alive together, so their sum bounds the meshing peak.

Results go to ``benchmarks/large_stl.json`` (and the table printed); the table in
``benchmarks/large_stl.md`` is copied from a run. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESOLUTIONS = (36, 56, 80)
CAGE = ["gyroid-sheet", "--relative-density", "0.3", "--cell-size", "3", "--cage", "26", "11", "10"]


def _peak_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0


def mesh_one(stl: str, size: float, out: str) -> dict:
    """Read, check and mesh one STL as ``femvalid mesh`` does; the mesh goes to ``out`` (npz)."""
    import numpy as np

    from femvalid.geometry import load_surface
    from femvalid.meshing import MeshSettings, mesh_surface
    from femvalid.meshing.mesher import available_memory_bytes, check_mesh_size

    started = time.perf_counter()
    surface, report = load_surface(stl)
    read = time.perf_counter() - started
    read_peak = _peak_mb()
    estimate = check_mesh_size(surface, size, 1, source=stl, available_bytes=available_memory_bytes())
    clock = time.perf_counter()
    mesh = mesh_surface(surface, MeshSettings(size, 1, timeout_s=3000.0), source=stl)
    meshing = time.perf_counter() - clock
    q = mesh.quality.to_dict()
    np.savez(out, nodes=mesh.nodes, elements=mesh.elements, size=size)
    return {
        "stl": stl, "stl_triangles": report.triangles_in_file, "stl_volume_mm3": surface.signed_volume,
        "size_mm": size, "read_check_s": read, "read_check_peak_mb": read_peak,
        "mesh_s": meshing, "total_s": time.perf_counter() - started,
        "gmsh_s": mesh.quality.gmsh_seconds, "nodes": len(mesh.nodes), "elements": len(mesh.elements),
        "dofs_p1": 3 * len(mesh.nodes), "estimated_nodes": estimate["nodes"], "estimated_bytes": estimate["bytes"],
        "volume_error_percent": q["volume_error_percent"], "sicn_min": q["sicn_min"], "surface": q["surface"],
        "resampling": q.get("resampling"), "warnings": mesh.quality.warnings(),
        "peak_mb": _peak_mb(), "peak_gmsh_mb": _peak_mb(resource.RUSAGE_CHILDREN),
    }


def solve_one(mesh_file: str) -> dict:
    """The P1 F2077 axial compression on a saved mesh."""
    import numpy as np

    from femvalid.loadcases import LOADCASE_TYPES
    from femvalid.loadcases.loadcase import loadcase_from_table
    from femvalid.materials.library import get_material
    from femvalid.meshing import VolumeMesh

    with np.load(mesh_file) as data:
        mesh = VolumeMesh(data["nodes"], data["elements"], size_mm=float(data["size"]))
    case = loadcase_from_table({"name": "f2077-axial-lumbar", "type": "axial_compression", "force": 1000.0,
                                "platens": "bonded", "contact_tolerance": 0.05}, "benchmark")
    phases = _time_phases()
    started = time.perf_counter()
    analysis = LOADCASE_TYPES[case.type](mesh, get_material("ti6al4v-am"), case, source=mesh_file)
    seconds = time.perf_counter() - started
    solver = analysis.solver
    keep = ("solver", "iterations", "setup_seconds", "solve_seconds", "assembly_seconds", "residual")
    return {"solve_s": seconds, "solve_peak_mb": _peak_mb(), "dofs": 3 * len(mesh.nodes),
            "stiffness_N_per_mm": analysis.qoi.get("stiffness_N_per_mm"),
            "von_mises_p99_MPa": analysis.qoi.get("von_mises_p99_MPa"),
            "phases_s": {k: round(v, 2) for k, v in phases.items()},
            "solver": {k: solver[k] for k in keep if k in solver}}


def _time_phases() -> dict:
    """Wrap the rigid-fixture load case's steps (fixtures from the bearing faces, the solve,
    the stresses) with timers; returns the dict they add their seconds to."""
    from femvalid.loadcases import axial, rigid

    phases: dict = {}

    def timed(name, fn):
        def wrapper(*a, **k):
            clock = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                phases[name] = phases.get(name, 0.0) + time.perf_counter() - clock
        return wrapper

    for module in (rigid, axial):
        for name in ("platen_setup", "fit_bearing_faces", "contact_nodes", "solve", "stress_field", "stress_qoi",
                     "field_output"):
            if hasattr(module, name):
                setattr(module, name, timed(name, getattr(module, name)))
    return phases


def _child(args: list[str], log) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    run = subprocess.run([sys.executable, "-m", "benchmarks.large_stl", *args], capture_output=True, text=True,
                         env=env, cwd=HERE.parent, check=False)
    if run.returncode != 0:
        log(run.stderr[-3000:])
        return {"error": (run.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(run.stdout.strip().splitlines()[-1])


def generate(resolution: int, folder: Path, log) -> Path:
    path = folder / f"cage_r{resolution}.stl"
    if not path.exists():
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "femvalid", "lattice", *CAGE, "--resolution", str(resolution),
                        "-o", str(path)], check=True, cwd=HERE.parent)
        log(f"generated {path} in {time.perf_counter() - started:.0f} s")
    return path


def table(rows: list[dict]) -> str:
    head = ("| STL triangles | size mm | read+check s | resample s | gmsh s | mesh peak GB (main + gmsh) | "
            "resampled triangles | volume error % (surface / mesh) | Hausdorff mm | nodes | P1 DOF | "
            "solve s | solve peak GB |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r.get('stl')} | failed: {r['error']} |")
            continue
        s = r.get("resampling") or {}
        resample_s = sum(s.get("seconds", {}).values()) if s else 0.0
        gmsh = sum((r.get("gmsh_s") or {}).values())
        solve = r.get("solve", {})
        lines.append(
            f"| {r['stl_triangles'] / 1e6:.2f} M | {r['size_mm']:g} | {r['read_check_s']:.0f} | {resample_s:.0f} | "
            f"{gmsh:.0f} | {r['peak_mb'] / 1024:.1f} + {r['peak_gmsh_mb'] / 1024:.1f} | "
            f"{s.get('triangles', '—')} | {s.get('volume_error_percent', float('nan')):+.3f} / "
            f"{r['volume_error_percent']:+.3f} | {s.get('hausdorff_mm', float('nan')):.3f} | {r['nodes']} | "
            f"{r['dofs_p1'] / 1e6:.2f} M | {solve.get('solve_s', float('nan')):.0f} | "
            f"{solve.get('solve_peak_mb', float('nan')) / 1024:.1f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stl", nargs="*", help="STL files (default: generate the three cages)")
    p.add_argument("--resolutions", type=int, nargs="*", default=list(RESOLUTIONS))
    p.add_argument("--size", type=float, default=0.15, help="mesh size, mm (default 0.15)")
    p.add_argument("--folder", default=str(HERE / ".cache" / "large_stl"), help="where STLs and meshes go")
    p.add_argument("--no-solve", action="store_true")
    p.add_argument("--output", default=str(HERE / "large_stl.json"))
    p.add_argument("--mesh-one", nargs=3, metavar=("STL", "SIZE", "OUT"), help=argparse.SUPPRESS)
    p.add_argument("--solve-one", metavar="MESH", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.mesh_one:
        print(json.dumps(mesh_one(args.mesh_one[0], float(args.mesh_one[1]), args.mesh_one[2])))
        return 0
    if args.solve_one:
        print(json.dumps(solve_one(args.solve_one)))
        return 0

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    stls = [Path(s) for s in args.stl] if args.stl else [generate(r, folder, log) for r in args.resolutions]
    rows = []
    for stl in stls:
        mesh_file = folder / f"{stl.stem}_h{args.size:g}.npz"
        log(f"meshing {stl} at {args.size:g} mm")
        row = _child(["--mesh-one", str(stl), repr(args.size), str(mesh_file)], log)
        row.setdefault("stl", str(stl))
        if "error" not in row and not args.no_solve:
            log(f"solving {mesh_file}")
            row["solve"] = _child(["--solve-one", str(mesh_file)], log)
        rows.append(row)
        log(json.dumps(row))
        Path(args.output).write_text(json.dumps({"rows": rows}, indent=1), encoding="utf-8")
    print(table(rows))
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
