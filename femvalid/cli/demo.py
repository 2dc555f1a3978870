"""``femvalid demo``: check and mesh the bundled example implants."""

from __future__ import annotations

import time
from pathlib import Path

from femvalid.cli import warn
from femvalid.geometry import load_surface
from femvalid.geometry.examples import EXAMPLE_DESIGNS, write_example_designs
from femvalid.meshing import MeshSettings, mesh_surface, write_vtu

DEMO_SIZE_MM = 1.0
DEMO_ORDER = 2


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="run the example designs end to end", description=__doc__.split(":", 1)[1].strip())
    p.add_argument("-o", "--output", metavar="OUTDIR", default="reports/demo", help="output folder (default reports/demo)")
    p.set_defaults(handler=run)


def run(args) -> int:
    out = Path(args.output)
    designs_dir, meshes_dir = out / "designs", out / "meshes"
    meshes_dir.mkdir(parents=True, exist_ok=True)
    print(f"writing the example designs to {designs_dir}/")
    paths = write_example_designs(designs_dir)
    rows = []
    for design, path in zip(EXAMPLE_DESIGNS, paths):
        label = f"{design.name} rev {design.revision}"
        print(f"checking and meshing {label} ...", flush=True)
        surface, report = load_surface(path)
        for message in report.warnings:
            warn(path, message)
        started = time.perf_counter()
        mesh = mesh_surface(surface, MeshSettings(DEMO_SIZE_MM, DEMO_ORDER), source=str(path))
        seconds = time.perf_counter() - started
        target = meshes_dir / f"{design.name}_{design.revision}.vtu"
        write_vtu(mesh, target)
        q = mesh.quality.to_dict()
        rows.append((label, report.triangles, report.volume_mm3, len(mesh.elements), len(mesh.nodes),
                     q["volume_error_percent"], q["sicn_min"], seconds))
    print()
    print(f"{'design':<16} {'STL tris':>9} {'volume mm³':>11} {'P2 tets':>8} {'nodes':>7} {'vol err %':>10} {'min SICN':>9} {'s':>5}")
    for label, tris, vol, tets, nodes, err, sicn, sec in rows:
        print(f"{label:<16} {tris:>9} {vol:>11.1f} {tets:>8} {nodes:>7} {err:>+10.3f} {sicn:>9.3f} {sec:>5.1f}")
    print(f"\nmeshes (VTU, open in ParaView) are in {meshes_dir}/")
    return 0
