"""The FE engine against answers from outside the code (closed forms, beam theory)."""

import numpy as np
import pytest

from femvalid.fem.constraints import Constraints
from femvalid.fem.loads import boundary_faces_of, pressure_forces, traction_forces
from femvalid.fem.system import solve_elasticity
from femvalid.geometry import Surface
from femvalid.loadcases import LOADCASE_TYPES, loadcase_from_table
from femvalid.materials import get_material, material_from_table
from femvalid.meshing import MeshSettings, mesh_surface
from femvalid.post.stress import stress_field
from tests.helpers import box_triangles, prism_triangles

E, NU = 110000.0, 0.34
TITANIUM = material_from_table({"E": E, "nu": NU, "yield": 880.0})


def box_mesh(hi, size, order, lo=(0, 0, 0)):
    return mesh_surface(Surface.from_triangles(box_triangles(lo, hi)), MeshSettings(size, order))


def axial(mesh, platens, force=1000.0, material=TITANIUM):
    case = loadcase_from_table({"name": "c", "type": "axial_compression", "force": force, "platens": platens}, "test")
    return LOADCASE_TYPES[case.type](mesh, material, case)


@pytest.mark.parametrize("sides", [5, 8])  # corners sharper than the 40° feature angle
@pytest.mark.parametrize("order", [1, 2])
def test_frictionless_prism_is_exact(order, sides):
    radius, length = 5.0, 8.0
    area = 0.5 * sides * radius**2 * np.sin(2 * np.pi / sides)
    mesh = mesh_surface(Surface.from_triangles(prism_triangles(sides, radius, length)), MeshSettings(1.5, order))
    a = axial(mesh, "frictionless", force=2000.0)
    assert a.qoi["stiffness_N_per_mm"] == pytest.approx(E * area / length, rel=1e-6)
    assert a.qoi["reaction_force_N"] == pytest.approx(2000.0, rel=1e-6)
    # σzz = −F/A everywhere, and the other components vanish.
    sigma = a.cell_data["stress_MPa"].reshape(-1, 3, 3)
    np.testing.assert_allclose(sigma[:, 2, 2], -2000.0 / area, rtol=1e-6)
    assert np.abs(sigma[:, :2, :2]).max() < 1e-6 * 2000.0 / area
    assert a.qoi["von_mises_p99_MPa"] == pytest.approx(2000.0 / area, rel=1e-6)


@pytest.mark.parametrize("order", [1, 2])
def test_patch_test(order):
    """A linear displacement field imposed on the boundary is reproduced exactly inside."""
    mesh = box_mesh((4, 3, 2), 0.8, order)
    rng = np.random.default_rng(3)
    G, c = rng.normal(size=(3, 3)) * 1e-3, rng.normal(size=3) * 1e-2
    exact = mesh.nodes @ G.T + c
    boundary = np.unique(boundary_faces_of(mesh.elements))
    dofs = (3 * boundary[:, None] + np.arange(3)).ravel()
    sol = solve_elasticity(mesh.nodes, mesh.elements, E, NU, Constraints(dofs, exact[boundary].ravel()))
    interior = np.setdiff1d(np.arange(len(mesh.nodes)), boundary)
    assert len(interior) > 10
    np.testing.assert_allclose(sol.displacement, exact, atol=1e-13)
    strain = 0.5 * (G + G.T)
    lam, mu = E * NU / ((1 + NU) * (1 - 2 * NU)), E / (2 * (1 + NU))
    expected = 2 * mu * strain + lam * np.trace(strain) * np.eye(3)
    stress = stress_field(mesh.nodes, mesh.elements, sol.displacement, E, NU).stress
    np.testing.assert_allclose(stress, np.broadcast_to(expected, stress.shape), atol=1e-8 * np.abs(expected).max())


def test_bonded_platens_between_bounds_and_converging():
    """Bonded faces stiffen the block between E·A/L and the constrained-modulus bound."""
    area, length = 10.0 * 10.0, 5.0
    uniaxial = E * area / length
    constrained = E * (1 - NU) / ((1 + NU) * (1 - 2 * NU)) * area / length
    values = [axial(box_mesh((10, 10, 5), size, 2), "bonded").qoi["stiffness_N_per_mm"] for size in (2.5, 1.25, 0.7)]
    assert all(uniaxial < k < constrained for k in values)
    changes = np.abs(np.diff(values))
    assert changes[1] < 0.6 * changes[0]  # converging
    assert changes[1] / values[-1] < 0.01


def test_results_scale_linearly_with_force():
    mesh = box_mesh((6, 4, 3), 1.0, 1)
    low, high = axial(mesh, "bonded", force=100.0), axial(mesh, "bonded", force=2500.0)
    assert high.qoi["stiffness_N_per_mm"] == pytest.approx(low.qoi["stiffness_N_per_mm"], rel=1e-12)
    for key in ("displacement_mm", "von_mises_max_MPa", "von_mises_p99_MPa", "reaction_force_N"):
        assert high.qoi[key] == pytest.approx(25.0 * low.qoi[key], rel=1e-9)
    assert high.qoi["safety_factor_yield"] == pytest.approx(low.qoi["safety_factor_yield"] / 25.0, rel=1e-9)


def test_pressure_gives_uniform_stress():
    """A pressure p on the top of a frictionless block: σzz = −p and u_z = −pL/E at the top."""
    mesh = box_mesh((4, 3, 5), 1.0, 2)
    x = mesh.nodes
    faces = boundary_faces_of(mesh.elements)
    top = faces[np.all(x[faces[:, :3], 2] > 5 - 1e-9, axis=1)]
    p = 3.0
    forces = pressure_forces(x, top, p)
    assert forces[:, 2].sum() == pytest.approx(-p * 12.0, rel=1e-12)
    bottom = np.flatnonzero(x[:, 2] < 1e-9)
    corner = bottom[np.argmin(np.linalg.norm(x[bottom], axis=1))]
    other = bottom[np.argmin(np.linalg.norm(x[bottom] - [4, 0, 0], axis=1))]
    dofs = np.concatenate([3 * bottom + 2, [3 * corner, 3 * corner + 1, 3 * other + 1]])
    sol = solve_elasticity(x, mesh.elements, E, NU, Constraints(dofs, np.zeros(len(dofs))), loads=forces)
    np.testing.assert_allclose(sol.displacement[:, 2], -p * x[:, 2] / E, atol=1e-12)
    stress = stress_field(x, mesh.elements, sol.displacement, E, NU).stress
    np.testing.assert_allclose(stress[..., 2, 2], -p, rtol=1e-8)


def test_multipoint_constraint_platen_under_force_control():
    """Slaving the top face's u_z to one free master and loading the master gives E·A/L."""
    mesh = box_mesh((4, 3, 5), 1.0, 1)
    x = mesh.nodes
    top = np.flatnonzero(x[:, 2] > 5 - 1e-9)
    bottom = np.flatnonzero(x[:, 2] < 1e-9)
    master, slaves = top[0], top[1:]
    import scipy.sparse as sp

    T = sp.csr_matrix((np.ones(len(slaves)), (np.arange(len(slaves)), np.full(len(slaves), 3 * master + 2))),
                      shape=(len(slaves), 3 * len(x)))
    corner = bottom[np.argmin(np.linalg.norm(x[bottom], axis=1))]
    other = bottom[np.argmin(np.linalg.norm(x[bottom] - [4, 0, 0], axis=1))]
    dofs = np.concatenate([3 * bottom + 2, [3 * corner, 3 * corner + 1, 3 * other + 1]])
    loads = np.zeros((len(x), 3))
    loads[master, 2] = -1200.0
    sol = solve_elasticity(x, mesh.elements, E, NU, Constraints(dofs, np.zeros(len(dofs)), 3 * slaves + 2, T), loads=loads)
    travel = -sol.displacement[top, 2]
    np.testing.assert_allclose(travel, travel[0], rtol=1e-12)
    assert 1200.0 / travel[0] == pytest.approx(E * 12.0 / 5.0, rel=1e-9)


def test_quadratic_beats_linear_in_bending():
    """Cantilever under tip shear: at similar dofs P2 is far closer to beam theory than P1."""
    L, b, h, P = 40.0, 4.0, 4.0, 10.0
    I, A, G = b * h**3 / 12, b * h, E / (2 * (1 + NU))
    timoshenko = P * L**3 / (3 * E * I) + P * L / (5 / 6 * G * A)

    def tip_deflection(size, order):
        mesh = box_mesh((L, b, h), size, order)
        x = mesh.nodes
        faces = boundary_faces_of(mesh.elements)
        tip = faces[np.all(x[faces[:, :3], 0] > L - 1e-9, axis=1)]
        loads = traction_forces(x, tip, [0.0, 0.0, -P / A])
        clamped = np.flatnonzero(x[:, 0] < 1e-9)
        dofs = (3 * clamped[:, None] + np.arange(3)).ravel()
        sol = solve_elasticity(x, mesh.elements, E, NU, Constraints(dofs, np.zeros(len(dofs))), loads=loads)
        tip_nodes = np.unique(tip)
        return -sol.displacement[tip_nodes, 2].mean(), 3 * len(x)

    p1, dofs1 = tip_deflection(1.0, 1)
    p2, dofs2 = tip_deflection(2.0, 2)
    assert 0.5 < dofs2 / dofs1 < 2.0
    error1, error2 = abs(p1 / timoshenko - 1), abs(p2 / timoshenko - 1)
    assert error2 < 0.03 and error1 > 3 * error2


def test_reaction_check_failure_is_reported(monkeypatch):
    """A solve whose answer does not balance is a job failure, never a result."""
    from femvalid.errors import JobError
    from femvalid.fem import system

    mesh = box_mesh((4, 3, 5), 1.5, 1)
    monkeypatch.setattr(system, "EQUILIBRIUM_RTOL", 0.0)
    with pytest.raises(JobError, match="equilibrium check failed"):
        axial(mesh, "bonded")


def test_library_material_in_a_case():
    mesh = box_mesh((6, 4, 3), 1.5, 1)
    peek = get_material("peek")
    a = axial(mesh, "frictionless", material=peek)
    assert a.qoi["stiffness_N_per_mm"] == pytest.approx(peek.youngs_modulus_MPa * 24 / 3, rel=1e-6)
    assert a.qoi["safety_factor_yield"] == pytest.approx(peek.yield_MPa / (1000 / 24), rel=1e-6)


@pytest.mark.parametrize("order", [1, 2])
def test_single_precision_amg_cg_matches_direct_and_repeats_exactly(order):
    """The AMG hierarchy is single precision; CG's answer must still be double-precision accurate.

    And the hierarchy must not depend on a random start vector (pyamg's spectral
    radius estimate), or two runs of one study would differ in the last digits.
    """
    from femvalid.fem.assembly import assemble_stiffness
    from femvalid.fem.constraints import reduce_system
    from femvalid.fem.solvers import solve
    from femvalid.loadcases.axial import find_platen_contacts, platen_constraints

    mesh = box_mesh((12, 8, 10), 0.9 if order == 1 else 1.6, order)
    contacts = find_platen_contacts(mesh.nodes, 1e-6)
    K = assemble_stiffness(mesh.nodes, mesh.elements, order, 110000.0, 0.3)
    system = reduce_system(K, np.zeros(3 * len(mesh.nodes)), platen_constraints(mesh.nodes, contacts, "bonded"))
    exact, _ = solve(system.A, system.b, method="direct")
    first, report = solve(system.A, system.b, nodes=mesh.nodes, method="cg-amg")
    np.random.seed(12345)  # pyamg draws from the global generator
    again, _ = solve(system.A, system.b, nodes=mesh.nodes, method="cg-amg")
    assert report.method == "cg-amg-sa-single" and report.residual < 1e-10
    assert np.abs(first - exact).max() < 1e-8 * np.abs(exact).max()
    assert np.array_equal(first, again)
