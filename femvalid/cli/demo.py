"""``femvalid demo``: run the example study (two cage revisions, one VBR) end to end."""

from __future__ import annotations

from pathlib import Path

from femvalid.cli.run import print_summary, write_reports
from femvalid.geometry.examples import EXAMPLE_DESIGNS, write_example_designs
from femvalid.study import read_study, run_study

#: The demo's load cases: F2077 axial compression and F2267 subsidence at the lumbar reference level.
DEMO_LOADCASE = """
[[loadcase]]
name = "f2077-axial-lumbar"
type = "axial_compression"
force = 1000.0
platens = "bonded"
contact_tolerance = 0.05
description = "ASTM F2077 static axial compression, lumbar reference load (as load_cases/f2077-axial-lumbar.toml)"

[[loadcase]]
name = "f2267-subsidence"
type = "subsidence"
force = 1000.0
platens = "bonded"
blocks = "both"
block_material = "pu-foam-15"
block_size = [50.0, 50.0, 20.0]
description = "ASTM F2267 subsidence into grade-15 foam (as load_cases/f2267-subsidence.toml)"
"""


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="run the example study end to end", description=__doc__.split(":", 1)[1].strip())
    p.add_argument("-o", "--output", metavar="OUTDIR", default="reports/demo", help="output folder (default reports/demo)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def demo_study_text() -> str:
    """The example study as TOML, with the designs in ./designs/."""
    lines = ['[study]\nname = "demo"\n', "[mesh]\nsize = 1.25\norder = 2\n"]
    for d in EXAMPLE_DESIGNS:
        lines.append(f'[[design]]\nname = "{d.name}"\nrevision = "{d.revision}"\nstl = "designs/{d.filename}"\nmaterial = "ti6al4v-am"\n')
    return "\n".join(lines) + DEMO_LOADCASE


def run(args) -> int:
    out = Path(args.output)
    print(f"writing the example designs and study to {out}/")
    write_example_designs(out / "designs")
    study_path = out / "study.toml"
    study_path.write_text(demo_study_text(), encoding="utf-8")
    result = run_study(read_study(study_path), out, force=True, progress=not args.no_progress, report=write_reports)
    print_summary(result)
    return 3 if result.failed else 0
