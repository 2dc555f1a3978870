"""SfePy as an independent second engine for code-to-code verification.

The same model (mesh, material, platen constraints, travel) is handed to SfePy,
solved with its direct solver, and compared with femvalid's answer. SfePy maps
quadratic elements affinely from their vertices, so the comparison is exact only
for straight-sided elements (flat-faced geometry); curved P2 boundaries differ by
design.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["EngineComparison", "solve_platens_with_sfepy", "compare_with_sfepy", "compare_fitted_with_sfepy"]


def solve_platens_with_sfepy(mesh, youngs_modulus_MPa: float, poisson_ratio: float, contacts, platens: str,
                             travel_mm: float = 1.0, direction=(0.0, 0.0, 1.0)):
    """Solve the rigid-platen case in SfePy; returns (displacement (N, 3) mm at mesh nodes, stiffness N/mm).

    The bottom contact nodes are clamped and the top ones move by −travel along the
    unit ``direction`` (the load axis: z for flat platens, tilted for fitted blocks).
    """
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        import sfepy.terms  # noqa: F401  (announces optional back-ends it cannot load)
    from sfepy.base.base import output
    from sfepy.discrete import Equation, Equations, FieldVariable, Integral, Material, Problem
    from sfepy.discrete.conditions import Conditions, EssentialBC
    from sfepy.discrete.fem import FEDomain, Field, Mesh
    from sfepy.mechanics.matcoefs import stiffness_from_youngpoisson
    from sfepy.solvers.ls import ScipyDirect
    from sfepy.solvers.nls import Newton
    from sfepy.terms import Term

    output.set_output(quiet=True)
    corners = mesh.corners
    used = np.unique(corners)
    index = np.full(len(mesh.nodes), -1)
    index[used] = np.arange(len(used))
    sf_mesh = Mesh.from_data("implant", mesh.nodes[used], None, [index[corners].astype(np.int32)],
                             [np.zeros(len(corners), np.int32)], ["3_4"])
    domain = FEDomain("domain", sf_mesh)
    omega = domain.create_region("Omega", "all")
    bottom = domain.create_region("Bottom", "vertex " + ", ".join(map(str, index[np.intersect1d(contacts.bottom, used)])), "facet")
    top = domain.create_region("Top", "vertex " + ", ".join(map(str, index[np.intersect1d(contacts.top, used)])), "facet")
    field = Field.from_args("fu", np.float64, "vector", omega, approx_order=mesh.order)
    u = FieldVariable("u", "unknown", field)
    v = FieldVariable("v", "test", field, primary_var_name="u")
    material = Material("m", D=stiffness_from_youngpoisson(3, youngs_modulus_MPa, poisson_ratio))
    integral = Integral("i", order=2 * mesh.order)
    term = Term.new("dw_lin_elastic(m.D, v, u)", integral, omega, m=material, v=v, u=u)
    if platens == "bonded":
        bcs = [EssentialBC("bottom", bottom, {"u.all": 0.0}),
               EssentialBC("top", top, {f"u.{i}": -travel_mm * float(direction[i]) for i in range(3)})]
    else:
        raise ValueError("the SfePy comparison covers bonded platens (frictionless needs point constraints)")
    problem = Problem("platens", equations=Equations([Equation("balance", term)]))
    problem.set_bcs(ebcs=Conditions(bcs))
    problem.set_solver(Newton({"i_max": 1, "eps_a": 1e-10, "eps_r": 1.0}, lin_solver=ScipyDirect({})))
    problem.solve(save_results=False)
    values = u().reshape(-1, 3)
    # Match SfePy's dof positions (vertices, then edge mid-points) to femvalid's nodes.
    distance, nearest = cKDTree(field.get_coor()).query(mesh.nodes)
    if distance.max() > 1e-9 * np.ptp(mesh.nodes):
        raise ValueError("mesh has curved quadratic elements; SfePy maps elements affinely, compare on flat faces")
    displacement = values[nearest]
    energy2 = problem.evaluate(f"de_lin_elastic.{2 * mesh.order}.Omega(m.D, u, u)", m=material, mode="eval")
    return displacement, float(energy2) / travel_mm  # platen work = 2 × strain energy


@dataclass(frozen=True)
class EngineComparison:
    """femvalid against SfePy on one model (relative differences)."""

    stiffness_femvalid_N_per_mm: float
    stiffness_sfepy_N_per_mm: float
    stiffness_difference: float
    displacement_difference: float  # max |Δu| / max |u|

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def compare_with_sfepy(mesh, material, platens: str = "bonded", tolerance_mm: float = 1e-6) -> EngineComparison:
    """Solve one bonded-platen model with both engines (1 mm of travel) and compare."""
    from femvalid.fem.solvers import DIRECT_MAX_DOFS
    from femvalid.fem.system import solve_elasticity
    from femvalid.loadcases.axial import find_platen_contacts, platen_constraints

    contacts = find_platen_contacts(mesh.nodes, tolerance_mm)
    constraints = platen_constraints(mesh.nodes, contacts, platens)
    method = "direct" if 3 * len(mesh.nodes) <= 10 * DIRECT_MAX_DOFS else "cg-amg"
    ours = solve_elasticity(mesh.nodes, mesh.elements, material.youngs_modulus_MPa, material.poisson_ratio,
                            constraints, method=method)
    k_ours = -ours.reactions[contacts.top, 2].sum()
    u_sfepy, k_sfepy = solve_platens_with_sfepy(mesh, material.youngs_modulus_MPa, material.poisson_ratio, contacts, platens)
    scale = np.abs(ours.displacement).max()
    return EngineComparison(
        stiffness_femvalid_N_per_mm=float(k_ours),
        stiffness_sfepy_N_per_mm=k_sfepy,
        stiffness_difference=float(abs(k_ours - k_sfepy) / abs(k_sfepy)),
        displacement_difference=float(np.abs(ours.displacement - u_sfepy).max() / scale),
    )


def compare_fitted_with_sfepy(mesh, material, tolerance_mm: float = 1e-6) -> EngineComparison:
    """Bonded blocks fitted to the device's bearing faces (tilted or lordotic), solved by both engines.

    femvalid's side is the full Model path (fitted planes, rigid blocks, condensed
    fields) with the direct solver; SfePy gets the same contact nodes and the rigid
    block's travel along the load axis.
    """
    from types import SimpleNamespace

    from femvalid.fem.model import Fixture, LoadState, Model
    from femvalid.fem.static import solve
    from femvalid.loadcases.rigid import platen_setup

    case = SimpleNamespace(fixture="fitted", contact_tolerance_mm=tolerance_mm)
    setup = platen_setup(mesh, case, "sfepy comparison")
    d = setup.axis
    model = Model(mesh, material.youngs_modulus_MPa, material.poisson_ratio, (
        Fixture("inferior", setup.nodes["inferior"], setup.centroids["inferior"]),
        Fixture("superior", setup.nodes["superior"], setup.centroids["superior"],
                motion=np.concatenate([-d, np.zeros(3)]), frame=setup.frame),
    ), loads=(LoadState("unit", {"superior": np.array([1.0])}),))
    ours = solve(model, method="direct")
    travel = float(-ours.fixture_motion["unit"]["superior"][:3] @ d)
    k_ours = 1.0 / travel
    u_ours = ours.displacement["unit"] / travel
    contacts = SimpleNamespace(bottom=setup.nodes["inferior"], top=setup.nodes["superior"])
    u_sfepy, k_sfepy = solve_platens_with_sfepy(mesh, material.youngs_modulus_MPa, material.poisson_ratio, contacts,
                                                "bonded", direction=d)
    return EngineComparison(
        stiffness_femvalid_N_per_mm=float(k_ours),
        stiffness_sfepy_N_per_mm=k_sfepy,
        stiffness_difference=float(abs(k_ours - k_sfepy) / abs(k_sfepy)),
        displacement_difference=float(np.abs(u_ours - u_sfepy).max() / np.abs(u_ours).max()),
    )
