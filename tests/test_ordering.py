"""Numbering for locality (femvalid.fem.ordering): a permutation that leaves every answer unchanged."""

import numpy as np
import pytest

from femvalid.fem.assembly import assemble_stiffness
from femvalid.fem.ordering import renumbered, well_ordered
from femvalid.fem.system import solve_elasticity
from femvalid.geometry import Surface
from femvalid.loadcases.axial import find_platen_contacts, platen_constraints
from femvalid.meshing import MeshSettings, mesh_surface
from tests.helpers import box_triangles


@pytest.fixture(scope="module", params=[1, 2])
def meshes(request):
    """A mesher's box mesh and the same mesh with nodes and elements in a random order."""
    order = request.param
    mesh = mesh_surface(Surface.from_triangles(box_triangles((0, 0, 0), (6, 4, 4))), MeshSettings(0.5 if order == 1 else 1.0, order))
    rng = np.random.default_rng(3)
    node_order = rng.permutation(len(mesh.nodes))
    new_of_old = np.empty_like(node_order)
    new_of_old[node_order] = np.arange(len(node_order))
    shuffled = mesh.nodes[node_order], new_of_old[mesh.elements[rng.permutation(len(mesh.elements))]]
    return order, mesh, shuffled


def test_the_mesher_numbers_for_locality(meshes):
    order, mesh, (nodes, elements) = meshes
    assert well_ordered(mesh.elements, len(mesh.nodes))
    assert not well_ordered(elements, len(nodes))
    spread = np.median(mesh.elements.max(axis=1) - mesh.elements.min(axis=1))
    assert spread < 0.4 * np.median(elements.max(axis=1) - elements.min(axis=1))


def test_renumbering_is_a_permutation_of_the_mesh(meshes):
    order, _, (nodes, elements) = meshes
    new_nodes, new_elements, node_order, element_order = renumbered(nodes, elements)
    assert np.array_equal(np.sort(node_order), np.arange(len(nodes)))
    assert np.array_equal(np.sort(element_order), np.arange(len(elements)))
    assert np.array_equal(new_nodes, nodes[node_order])
    assert np.array_equal(node_order[new_elements], elements[element_order])  # the same elements, renamed
    assert well_ordered(new_elements, len(new_nodes))
    # The stiffness is the permuted one (to rounding: its sums run in another element order).
    K = assemble_stiffness(nodes, elements, order, 110000.0, 0.3).toarray()
    K_new = assemble_stiffness(new_nodes, new_elements, order, 110000.0, 0.3).toarray()
    dofs = (3 * node_order[:, None] + np.arange(3)).ravel()
    assert np.abs(K_new - K[np.ix_(dofs, dofs)]).max() <= 1e-12 * np.abs(K).max()


def test_renumbering_leaves_the_solution_unchanged(meshes):
    order, _, (nodes, elements) = meshes
    new_nodes, new_elements, node_order, _ = renumbered(nodes, elements)
    answers = []
    for x, e in ((nodes, elements), (new_nodes, new_elements)):
        contacts = find_platen_contacts(x, 1e-6)
        solution = solve_elasticity(x, e, 110000.0, 0.3, platen_constraints(x, contacts, "bonded", 0.01), rtol=1e-10)
        answers.append((solution.displacement, -solution.reactions[contacts.top, 2].sum()))
    (u, force), (u_new, force_new) = answers
    assert abs(force_new - force) <= 1e-8 * abs(force)
    assert np.abs(u_new - u[node_order]).max() <= 1e-7 * np.abs(u).max()
