"""``femvalid check STL``: read and check an STL file, print what was found."""

from __future__ import annotations

import json

from femvalid._files import atomic_path
from femvalid.geometry import CheckReport, load_surface
from femvalid.geometry.stl import UNIT_SCALE, write_stl


def add_parser(sub) -> None:
    p = sub.add_parser("check", help="check an STL file", description=__doc__.split(":", 1)[1].strip())
    p.add_argument("stl", metavar="STL", help="binary or ASCII STL file")
    add_input_options(p)
    p.add_argument("-o", "--output", metavar="FIXED.stl",
                   help="write the checked surface (with --repair: the repaired one) as a binary STL in mm, "
                        "to use in a study or with femvalid mesh")
    p.add_argument("--force", action="store_true", help="overwrite FIXED.stl if it exists")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=run)


def add_input_options(p) -> None:
    """Options shared by every command that reads an STL."""
    p.add_argument("--units", choices=list(UNIT_SCALE), default="mm", help="unit of the STL coordinates (default mm)")
    p.add_argument("--repair", action="store_true", help="close holes and drop duplicate triangles (pymeshfix)")


def run(args) -> int:
    from femvalid.cli import output_file

    output = output_file(args.output, ".stl", "the checked STL", force=args.force) if args.output else None
    try:
        surface, report = load_surface(args.stl, args.units, repair=args.repair)
    except Exception as exc:
        report = getattr(exc, "report", None)
        if args.json and report is not None:
            print(json.dumps(report.to_dict(), indent=2))
        raise
    if output is not None:
        with atomic_path(output) as tmp:
            write_stl(tmp, surface.triangles, name=f"checked by femvalid{' (repaired)' if report.repairs else ''}")
    if args.json:
        print(json.dumps({**report.to_dict(), **({"output": str(output)} if output else {})}, indent=2))
    else:
        print(format_report(report) + (f"\n  written to     {output} (binary STL, mm)" if output else ""))
    return 0


def format_report(r: CheckReport) -> str:
    yes = lambda flag: "yes" if flag else "no"  # noqa: E731
    (x0, y0, z0), (x1, y1, z1) = r.bounds_mm
    dx, dy, dz = r.extent_mm
    lines = [
        f"{r.path}: valid closed solid ({r.format} STL, {r.triangles} triangles, {r.vertices} vertices)",
        f"  bounding box   {dx:.4g} × {dy:.4g} × {dz:.4g} mm  "
        f"(x {x0:.4g}…{x1:.4g}, y {y0:.4g}…{y1:.4g}, z {z0:.4g}…{z1:.4g})",
        f"  volume         {r.volume_mm3:.6g} mm³",
        f"  area           {r.area_mm2:.6g} mm²",
        f"  watertight {yes(r.watertight)}, manifold {yes(r.manifold)}, "
        f"winding consistent {yes(r.winding_consistent)}, outward {yes(r.outward)}",
        f"  shells {r.shells} (intersecting: {yes(r.shells_intersect)}), degenerate triangles {r.degenerate_faces}",
    ]
    lines += [f"  repaired: {m}" for m in r.repairs]
    lines += [f"  warning: {m}" for m in r.warnings]
    return "\n".join(lines)
