"""``femvalid lattice TYPE``: generate a lattice block as a watertight STL, at a relative density."""

from __future__ import annotations

import json
import time

from femvalid._files import atomic_path
from femvalid.cli import output_file
from femvalid.errors import InputError
from femvalid.geometry.lattice import (
    LATTICE_TYPES,
    SECTIONS,
    LatticeSpec,
    generate_lattice,
)
from femvalid.geometry.lattice_cage import LatticeCage
from femvalid.geometry.stl import write_stl


def add_parser(sub) -> None:
    p = sub.add_parser("lattice", help="generate a lattice block (TPMS or struts) as an STL",
                       description=__doc__.split(":", 1)[1].strip())
    p.add_argument("type", metavar="TYPE", choices=LATTICE_TYPES, help=", ".join(LATTICE_TYPES))
    p.add_argument("--relative-density", type=float, required=True, metavar="R",
                   help="solid volume / box volume, 0.02 to 0.9")
    p.add_argument("--cell-size", type=float, required=True, metavar="MM", help="unit cell edge, mm")
    p.add_argument("--cells", type=int, nargs=3, metavar=("NX", "NY", "NZ"), help="a block of cells along x, y, z")
    p.add_argument("--cage", type=float, nargs=3, metavar=("LENGTH", "WIDTH", "HEIGHT"),
                   help="instead of a block: an interbody cage of this size (mm) with a solid rim and a lattice core")
    p.add_argument("--rim", type=float, default=1.5, metavar="MM", help="cage rim wall thickness, mm (default 1.5)")
    p.add_argument("--corner-radius", type=float, default=3.0, metavar="MM",
                   help="cage footprint corner radius, mm (default 3)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.stl", help="binary STL to write")
    p.add_argument("--section", choices=SECTIONS, default="circle", help="strut cross-section (strut lattices)")
    p.add_argument("--resolution", type=int, metavar="N",
                   help="voxels per cell edge (default: 4 across the thinnest feature, 12 to 48)")
    p.add_argument("--force", action="store_true", help="overwrite OUT.stl if it exists")
    p.add_argument("--json", action="store_true", help="print what was generated as JSON")
    p.set_defaults(handler=run)


def run(args) -> int:
    output = output_file(args.output, ".stl", "the lattice", force=args.force)
    if (args.cells is None) == (args.cage is None):
        raise InputError("femvalid lattice", "give either --cells NX NY NZ (a block) or --cage LENGTH WIDTH HEIGHT")
    spec = LatticeSpec(args.type, args.relative_density, args.cell_size, tuple(args.cells or (1, 1, 1)),
                       args.section, args.resolution)
    started = time.perf_counter()
    if args.cage:
        cage = LatticeCage(spec, *args.cage, corner_radius_mm=args.corner_radius, rim_mm=args.rim)
        lattice = cage.generate(source="femvalid lattice")
    else:
        lattice = generate_lattice(spec, source="femvalid lattice")
    seconds = time.perf_counter() - started
    with atomic_path(output) as tmp:
        write_stl(tmp, lattice.surface.triangles, name=lattice.stl_header)
    info = {**lattice.to_dict(), "seconds": seconds, "output": str(output)}
    if args.cage:
        info.update(cage_mm=list(args.cage), rim_mm=args.rim, corner_radius_mm=args.corner_radius,
                    core_relative_density=info.pop("relative_density"), box_mm=None, cells=None)
        print(json.dumps(info, indent=2) if args.json else
              f"{output}: interbody cage {' × '.join(f'{v:g}' for v in args.cage)} mm, {args.rim:g} mm rim, "
              f"{lattice.spec.type} core at relative density {lattice.relative_density:.4f} (cell {args.cell_size:g} mm), "
              f"{len(lattice.surface.faces)} triangles, volume {lattice.surface.signed_volume:.6g} mm³, {seconds:.1f} s\n"
              f"  mesh it with: femvalid mesh {output} -o MESH.vtu --surface keep --size {lattice.voxel_mm:.3g}")
        return 0
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    s = lattice.spec
    nx, ny, nz = s.cells
    size = " × ".join(f"{v:g}" for v in s.box_mm)
    what = ("strut radius" if s.type in ("simple-cubic", "bcc", "octet") else "level")
    unit = " mm" if what == "strut radius" else ""
    closed = lattice.closed_form_density
    print(f"{output}: {s.type} lattice, {nx} × {ny} × {nz} cells of {s.cell_size_mm:g} mm ({size} mm), "
          f"{len(lattice.surface.faces)} triangles, {seconds:.1f} s\n"
          f"  relative density {lattice.relative_density:.4f} (requested {s.relative_density:g}, "
          f"{100 * (lattice.relative_density / s.relative_density - 1):+.2f} %)"
          + (f"; closed form at this strut size {closed:.4f}" if closed is not None else "") + "\n"
          f"  {what} {lattice.parameter:.4g}{unit}, thinnest feature about {lattice.feature_mm:.3g} mm, "
          f"voxel {lattice.voxel_mm:.3g} mm\n"
          f"  mesh it with: femvalid mesh {output} -o MESH.vtu --surface keep --size {lattice.voxel_mm:.3g}")
    return 0

