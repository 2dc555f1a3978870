"""Code-to-code verification: the same model solved by SfePy agrees with femvalid."""

import pytest

from femvalid.geometry import InterbodyCage, Surface
from femvalid.materials import get_material
from femvalid.meshing import MeshSettings, mesh_surface
from femvalid.verification import compare_with_sfepy
from tests.helpers import box_triangles, prism_triangles

pytest.importorskip("sfepy")

SHAPES = {
    "box": lambda: Surface.from_triangles(box_triangles((0, 0, 0), (6, 4, 3))),
    "pentagonal-prism": lambda: Surface.from_triangles(prism_triangles(5, 4.0, 5.0)),
}


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_sfepy_agrees(shape, order):
    mesh = mesh_surface(SHAPES[shape](), MeshSettings(1.0, order))
    result = compare_with_sfepy(mesh, get_material("ti6al4v-am"))
    assert result.stiffness_difference < 1e-8
    assert result.displacement_difference < 1e-8


def test_sfepy_agrees_on_a_cage():
    mesh = mesh_surface(InterbodyCage().surface(), MeshSettings(2.0, 1))
    result = compare_with_sfepy(mesh, get_material("peek"))
    assert result.stiffness_difference < 1e-8 and result.displacement_difference < 1e-8
