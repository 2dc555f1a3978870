"""Small models whose quantities of interest were recorded before the Model layer.

``python -m tests.reference_cases OUT.json`` writes them; tests/test_model_layer.py
computes them again and compares (the restructuring must not move a number).
"""

from __future__ import annotations

import json
import sys

from femvalid.geometry import Surface
from femvalid.geometry.implants import InterbodyCage, box_surface, prism_surface
from femvalid.loadcases import LOADCASE_TYPES, loadcase_from_table
from femvalid.materials import material_from_table
from femvalid.meshing import MeshSettings, mesh_surface

TITANIUM = {"E": 110000.0, "nu": 0.34, "yield": 880.0}


def cases():
    """(label, surface maker, mesh size mm, order, load-case table)."""
    box = lambda: box_surface((0, 0, 0), (26, 11, 10))  # noqa: E731
    cage = lambda: InterbodyCage().surface(1.0)  # noqa: E731
    punch = lambda: prism_surface(24, 5.0, 5.0)  # noqa: E731
    axial = {"name": "a", "type": "axial_compression", "force": 1000.0}
    sub = {"name": "s", "type": "subsidence", "force": 500.0, "block_size": [30.0, 30.0, 12.0]}
    return [
        ("box-p1-bonded", box, 2.0, 1, {**axial, "platens": "bonded"}),
        ("box-p2-frictionless", box, 2.5, 2, {**axial, "platens": "frictionless"}),
        ("cage-p2-bonded", cage, 1.5, 2, {**axial, "platens": "bonded"}),
        ("cage-p1-frictionless", cage, 1.25, 1, {**axial, "platens": "frictionless"}),
        ("punch-bottom-p1", punch, 1.5, 1, {**sub, "blocks": "bottom"}),
        ("punch-both-p2", punch, 2.0, 2, {**sub, "blocks": "both", "platens": "frictionless"}),
        ("box-lattice-p1", box, 2.0, 1, {**axial, "type": "lattice_compression"}),
    ]


def compute(label, make, size, order, table) -> dict:
    mesh = mesh_surface(Surface.from_triangles(make().triangles), MeshSettings(size, order))
    case = loadcase_from_table(table, label)
    qoi = LOADCASE_TYPES[case.type](mesh, material_from_table(TITANIUM), case).qoi
    return {k: v for k, v in qoi.items() if isinstance(v, float)}


if __name__ == "__main__":
    out = {label: compute(label, *rest) for label, *rest in cases()}
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, sort_keys=True)
