"""The example designs of the demo study: three cage revisions (one lordotic) and a VBR.

    python -m femvalid.geometry.examples FOLDER

writes them as binary STL (this is how examples/designs/ was made).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from femvalid.geometry.implants import InterbodyCage, VertebralBodyReplacement
from femvalid.geometry.stl import write_stl

__all__ = ["ExampleDesign", "EXAMPLE_DESIGNS", "write_example_designs"]


@dataclass(frozen=True)
class ExampleDesign:
    name: str
    revision: str
    implant: InterbodyCage | VertebralBodyReplacement
    filename: str


EXAMPLE_DESIGNS = (
    ExampleDesign("tlif-cage", "A", InterbodyCage(), "tlif_cage_A.stl"),
    # Revision B enlarges the graft window: more room for bone, less material.
    ExampleDesign("tlif-cage", "B", InterbodyCage(window_length_mm=15.0, window_width_mm=6.0), "tlif_cage_B.stl"),
    # Revision C is lordotic (8°, taller anteriorly): the blocks mate with its tilted faces.
    ExampleDesign("tlif-cage", "C", InterbodyCage(lordosis_deg=8.0), "tlif_cage_C.stl"),
    ExampleDesign("vbr", "A", VertebralBodyReplacement(), "vbr_A.stl"),
)


def write_example_designs(folder: str | Path) -> list[Path]:
    """Write every example design into ``folder`` (created if needed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for design in EXAMPLE_DESIGNS:
        path = folder / design.filename
        write_stl(path, design.implant.surface().triangles, name=f"{design.name} rev {design.revision}")
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write_example_designs(sys.argv[1] if len(sys.argv) > 1 else "."):
        print(written)
