"""``femvalid demo``: run the example study (two cage revisions, one VBR) end to end."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from femvalid._files import atomic_path
from femvalid.cli.run import print_summary, write_reports
from femvalid.errors import InputError
from femvalid.geometry.examples import EXAMPLE_DESIGNS, write_example_designs
from femvalid.study import read_study, run_study
from femvalid.study.runner import outdir_lock

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
    p.add_argument("--force", action="store_true",
                   help="overwrite an earlier run's results in OUTDIR, and a study.toml or designs/ there that "
                        "differ from the demo's")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def demo_study_text() -> str:
    """The example study as TOML, with the designs in ./designs/."""
    lines = ['[study]\nname = "demo"\n', "[mesh]\nsize = 1.25\norder = 2\n"]
    for d in EXAMPLE_DESIGNS:
        lines.append(f'[[design]]\nname = "{d.name}"\nrevision = "{d.revision}"\nstl = "designs/{d.filename}"\nmaterial = "ti6al4v-am"\n')
    return "\n".join(lines) + DEMO_LOADCASE


def demo_files() -> dict[str, bytes]:
    """What the demo writes into OUTDIR before it runs: study.toml and designs/*.stl, by relative path."""
    files = {"study.toml": demo_study_text().encode("utf-8")}
    with tempfile.TemporaryDirectory(prefix="femvalid-demo-") as tmp:
        for path in write_example_designs(tmp):
            files[f"designs/{path.name}"] = path.read_bytes()
    return files


def _write_inputs(out: Path, force: bool) -> None:
    """Write the demo's study and designs, refusing (unless ``force``) to replace files that differ."""
    files = demo_files()
    different = []
    for name, data in files.items():
        target = out / name
        if os.path.lexists(target):
            same = target.is_file() and not target.is_symlink() and target.stat().st_size == len(data) \
                and target.read_bytes() == data
            if not same:
                different.append(name)
    if different and not force:
        raise InputError(out, f"holds {', '.join(different)}, not the demo's; use --force to overwrite "
                              f"{'it' if len(different) == 1 else 'them'} or -o for another folder")
    print(f"writing the example designs and study to {out}/")
    for name, data in files.items():
        target = out / name
        if name in different or not target.exists():
            if os.path.lexists(target) and not target.is_file():
                raise InputError(target, "is in the way of the demo's file (not a plain file); remove it or use -o")
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(target) as tmp:
                tmp.write_bytes(data)


def run(args) -> int:
    out = Path(args.output)
    # The lock first: nothing is written while another run holds the folder, and what
    # the demo writes is checked against what is there.
    with outdir_lock(out, args.force):
        _write_inputs(out, args.force)
        result = run_study(read_study(out / "study.toml"), out, force=args.force, progress=not args.no_progress,
                           report=write_reports)
    print_summary(result)
    return 3 if result.failed else 0
