"""``femvalid mesh STL -o MESH.vtu``: check an STL and mesh it into tetrahedra."""

from __future__ import annotations

import json
import time

from femvalid.cli import output_file, positive_number, warn
from femvalid.cli.check import add_input_options
from femvalid.geometry import load_surface
from femvalid.geometry.stl import triangle_count
from femvalid.meshing import MeshSettings, default_size_mm, mesh_surface, write_vtu
from femvalid.meshing.boundary import SURFACE_MODES
from femvalid.meshing.mesher import available_memory_bytes, check_meshable, check_mesh_size


def add_parser(sub) -> None:
    p = sub.add_parser("mesh", help="mesh an STL file into tetrahedra", description=__doc__.split(":", 1)[1].strip())
    p.add_argument("stl", metavar="STL", help="binary or ASCII STL file")
    p.add_argument("-o", "--output", metavar="MESH.vtu", required=True, help="output mesh (VTU, opens in ParaView)")
    p.add_argument("--size", type=float, metavar="MM", help="target element edge length, mm (default: volume/area)")
    p.add_argument("--order", type=int, choices=(1, 2), default=1, help="1 linear, 2 quadratic tetrahedra")
    p.add_argument("--timeout", type=float, default=600.0, metavar="S", help="kill gmsh after S seconds (default 600)")
    p.add_argument("--surface", choices=SURFACE_MODES, default="auto",
                   help="boundary mesh: keep the STL's triangles, remesh them at --size, or auto (default): "
                        "keep them when they are already about --size and well shaped")
    add_input_options(p)
    p.add_argument("--force", action="store_true", help="overwrite MESH.vtu if it exists")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=run)


def run(args) -> int:
    # Every option and the output place are checked before the STL is read or meshed.
    positive_number(args.size, "--size", "length in mm", args.stl)
    positive_number(args.timeout, "--timeout", "number of seconds", args.stl)
    output = output_file(args.output, ".vtu", "the mesh", force=args.force)
    check_meshable(triangle_count(args.stl) or 0, args.stl)  # before reading a file too large to mesh
    surface, report = load_surface(args.stl, args.units, repair=args.repair)
    for message in report.warnings:
        warn(args.stl, message)
    size = args.size or default_size_mm(surface)
    check_mesh_size(surface, size, args.order, source=args.stl, available_bytes=available_memory_bytes())
    started = time.perf_counter()
    settings = MeshSettings(size, args.order, timeout_s=args.timeout, surface=args.surface)
    mesh = mesh_surface(surface, settings, source=args.stl)
    seconds = time.perf_counter() - started
    for message in mesh.quality.warnings():
        warn(args.stl, message)
    write_vtu(mesh, output)  # atomically
    result = {
        "input": report.to_dict(),
        "mesh": {
            "nodes": len(mesh.nodes),
            "elements": len(mesh.elements),
            "order": mesh.order,
            "size_mm": size,
            "seconds": seconds,
            "tets_per_s": len(mesh.elements) / seconds,
            "gmsh_seconds": mesh.quality.gmsh_seconds,
            "quality": mesh.quality.to_dict(),
        },
        "output": str(output),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        q = mesh.quality.to_dict()
        boundary = {"keep": "kept the STL's triangles",
                    "contour": f"resampled at {size:g} mm (signed distance contoured)"}.get(q["surface"],
                                                                                         f"remeshed at {size:g} mm")
        print(
            f"{output}: {len(mesh.elements)} {'quadratic' if mesh.order == 2 else 'linear'} tetrahedra, "
            f"{len(mesh.nodes)} nodes, size {size:g} mm, {seconds:.1f} s ({len(mesh.elements) / seconds:.0f} tets/s)\n"
            f"  surface: {boundary} ({q['surface_reason']})\n"
            f"  volume {q['volume_mm3']:.6g} mm³ (STL {q['reference_volume_mm3']:.6g} mm³, "
            f"{q['volume_error_percent']:+.3f} %)\n"
            f"  quality: min SICN {q['sicn_min']:.3f}, min scaled Jacobian {q['scaled_jacobian_min']:.3f}, "
            f"max aspect ratio {q['aspect_ratio_max']:.2f}"
        )
    return 0
