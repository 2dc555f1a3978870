"""Subsidence into foam blocks: the conforming interface, stiffness bookkeeping, Sneddon's punch, contact."""

import numpy as np
import pytest

from femvalid.errors import InputError
from femvalid.fem.constraints import Constraints
from femvalid.fem.system import solve_elasticity
from femvalid.fem.tie import faces_at_z, tie_to_faces
from femvalid.geometry import Surface
from femvalid.loadcases import LOADCASE_TYPES, loadcase_from_table
from femvalid.materials import get_material, material_from_table
from femvalid.meshing import MeshSettings, mesh_surface
from tests.helpers import box_triangles, prism_triangles

FOAM = get_material("pu-foam-15")


def box_mesh(lo, hi, size, order):
    return mesh_surface(Surface.from_triangles(box_triangles(lo, hi)), MeshSettings(size, order))


def subsidence(mesh, material, force=100.0, **keys):
    case = loadcase_from_table({"name": "s", "type": "subsidence", "force": force, **keys}, "test")
    return LOADCASE_TYPES["subsidence"](mesh, material, case)


@pytest.mark.parametrize("order", [1, 2])
def test_tie_passes_a_uniform_state(order):
    """Two non-matching stacked blocks, tied, frictionless ends: E·A/L.

    The slave side (upper, as the implant) is the finer mesh, as it should be; slave
    faces that span an edge of the master surface are not quite conforming, which
    leaves about 1e-4 (measured) where a conforming mesh would be exact.
    """
    upper = box_mesh((0, 0, 4), (6, 5, 9), 0.7, order)
    lower = box_mesh((0, 0, 0), (6, 5, 4), 1.6, order)
    nodes = np.vstack([upper.nodes, lower.nodes])
    elements = np.vstack([upper.elements, lower.elements + len(upper.nodes)])
    slaves = np.flatnonzero(np.abs(upper.nodes[:, 2] - 4) < 1e-9)
    masters = faces_at_z(nodes, elements[len(upper.elements):], 4.0, 1e-9)
    slave_dofs, T = tie_to_faces(nodes, slaves, masters)
    bottom = len(upper.nodes) + np.flatnonzero(lower.nodes[:, 2] < 1e-9)
    top = np.flatnonzero(upper.nodes[:, 2] > 9 - 1e-9)
    pin = bottom[np.argmin(np.linalg.norm(nodes[bottom], axis=1))]
    far = bottom[np.argmin(np.linalg.norm(nodes[bottom] - [6, 0, 0], axis=1))]
    dofs = np.concatenate([3 * bottom + 2, 3 * top + 2, [3 * pin, 3 * pin + 1, 3 * far + 1]])
    values = np.concatenate([np.zeros(len(bottom)), -np.ones(len(top)), np.zeros(3)])
    sol = solve_elasticity(nodes, elements, 3000.0, 0.3, Constraints(dofs, values, slave_dofs, T))
    force = -sol.reactions[top, 2].sum()
    assert force == pytest.approx(3000.0 * 30.0 / 9.0, rel=5e-4)
    # The tie carries the whole force.
    assert sol.reactions[slaves, 2].sum() == pytest.approx(force, rel=1e-9)


def test_conforming_interface_reproduces_the_single_mesh_solution():
    """Implant and block of one material: the tied pair equals the same stepped column meshed as one body."""
    from femvalid._gmsh import gmsh_session
    from femvalid.geometry.implants import surface_of_model

    steel = material_from_table({"E": 200000.0, "nu": 0.3})
    implant = box_mesh((-4, -3, 0), (4, 3, 5), 0.8, 2)
    tied = subsidence(implant, steel, blocks="bottom", block_size=[10, 8, 5],
                      block_material={"E": 200000.0, "nu": 0.3})
    with gmsh_session() as gmsh:
        occ = gmsh.model.occ
        occ.fuse([(3, occ.addBox(-4, -3, 0, 8, 6, 5))], [(3, occ.addBox(-5, -4, -5, 10, 8, 5))])
        occ.synchronize()
        stepped = surface_of_model(gmsh, 0.8)
    single = mesh_surface(stepped, MeshSettings(0.8, 2))
    case = loadcase_from_table({"name": "a", "type": "axial_compression", "force": 100.0, "platens": "bonded",
                                "fixture": "flat"}, "t")
    column = LOADCASE_TYPES["axial_compression"](single, steel, case)
    assert tied.qoi["system_stiffness_N_per_mm"] == pytest.approx(column.qoi["stiffness_N_per_mm"], rel=3e-3)


@pytest.mark.parametrize("blocks", ["both", "bottom"])
def test_stiffness_bookkeeping(blocks):
    implant = box_mesh((-5, -4, 0), (5, 4, 6), 1.0, 1)
    titanium = get_material("ti6al4v-am")
    result = subsidence(implant, titanium, force=400.0, blocks=blocks, block_size=[30, 30, 12])
    q = result.qoi
    ks, kd, kp = q["system_stiffness_N_per_mm"], q["device_stiffness_N_per_mm"], q["subsidence_stiffness_N_per_mm"]
    assert 1 / ks == pytest.approx(1 / kd + 1 / kp, rel=1e-12)
    assert q["subsidence_mm"] == pytest.approx(400.0 / kp, rel=1e-12)
    assert q["stiffness_N_per_mm"] == ks and q["displacement_mm"] == pytest.approx(400.0 / ks)
    # The device stiffness is the axial case's, reused.
    case = loadcase_from_table({"name": "a", "type": "axial_compression", "force": 400.0}, "t")
    assert kd == pytest.approx(LOADCASE_TYPES["axial_compression"](implant, titanium, case).qoi["stiffness_N_per_mm"], rel=1e-12)
    # Equilibrium: the base, the tie and the platen all carry the force.
    assert q["reaction_force_N"] == pytest.approx(400.0, rel=1e-6)
    assert q["interface_force_N"] == pytest.approx(400.0, rel=1e-6)
    assert q["contact_area_mm2"] == pytest.approx(80.0, rel=1e-9)
    assert q["contact_pressure_mean_MPa"] == pytest.approx(5.0, rel=1e-6)
    assert q["contact_pressure_max_MPa"] > q["contact_pressure_mean_MPa"]
    assert q["block_von_mises_max_MPa"] > 0
    # Both bodies are in the fields, with their regions.
    assert set(np.unique(result.mesh.regions)) == ({0, 1, 2} if blocks == "both" else {0, 1})
    assert len(result.point_data["displacement_mm"]) == len(result.mesh.nodes)


def test_crushing_foam_is_measured_and_warned():
    implant = box_mesh((-3, -3, 0), (3, 3, 4), 1.0, 1)
    low = subsidence(implant, get_material("ti6al4v-am"), force=10.0, blocks="bottom", block_size=[20, 20, 10])
    high = subsidence(implant, get_material("ti6al4v-am"), force=2000.0, blocks="bottom", block_size=[20, 20, 10])
    assert low.qoi["block_overstressed_volume_mm3"] == 0 and not any("crush" in w for w in low.warnings)
    assert high.qoi["block_overstressed_volume_mm3"] > 0 and any("crush" in w for w in high.warnings)


@pytest.mark.parametrize(
    "keys, fragment",
    [
        ({"blocks": "top"}, "blocks must be one of both, bottom"),
        ({"block_size": [10, 10]}, "block_size must be three positive lengths"),
        ({"block_size": [10, -1, 5]}, "block_size must be three positive lengths"),
        ({"block_material": "cheese"}, "block_material: unknown material 'cheese'"),
        ({"block_material": {"E": 100.0, "nu": 0.7}}, "block_material: nu must lie between"),
        ({"interface": "welded"}, "interface must be one of tied, frictionless"),
        ({"offset_mm": [1.0]}, "offset_mm must be [x, y]"),
    ],
)
def test_invalid_subsidence_keys(keys, fragment):
    with pytest.raises(InputError) as err:
        loadcase_from_table({"name": "s", "type": "subsidence", "force": 100.0, **keys}, "case.toml")
    assert fragment in str(err.value) and "case.toml" in str(err.value)


def test_block_smaller_than_footprint_rejected():
    implant = box_mesh((0, 0, 0), (20, 10, 5), 2.0, 1)
    with pytest.raises(InputError, match="does not hold the implant's footprint"):
        subsidence(implant, get_material("peek"), block_size=[15, 15, 10])


@pytest.mark.slow
@pytest.mark.parametrize("interface, ratio", [("frictionless", 1.0), ("tied", None)])
def test_stiff_punch_approaches_sneddon(interface, ratio):
    """A stiff cylinder on ever larger foam blocks approaches K = 2aE/(1 − ν²) (frictionless, Sneddon 1965).

    The stiffness falls as the block grows (a finite, base-fixed block is stiffer than
    a half-space, by terms in a/h and (a/h)²), so a second-order Richardson extrapolation
    in 1/size over blocks of 20, 40 and 80 mm removes the block size. A bonded punch is
    stiffer by Mossakovskii's (1 − ν) ln(3 − 4ν)/(1 − 2ν) = 1.0286 at ν = 0.3. Measured
    with the conforming interface at P2 1 mm, every block graded to 0.125 mm along the
    footprint's outline: 0.9943 (frictionless) and 1.0222 (bonded) of Sneddon, a ratio of
    1.0281. (Until the mesher numbered nodes for locality, gmsh left a flat tetrahedron in
    the 20 mm block at that grading and it fell back to 0.25 mm: 0.9981 and 1.0260.) The
    extrapolation's own error is the next term of the expansion: the second-order step
    moved the estimate by 1.0 % from the first-order one, with a/h = 0.5 on the 20 mm
    block, hence 0.75 %. The node-to-surface tie it replaces gave 1.07 at first order.
    """
    a = 5.0
    nu = FOAM.poisson_ratio
    mossakovskii = (1 - nu) * np.log(3 - 4 * nu) / (1 - 2 * nu)
    punch = material_from_table({"E": 1000 * FOAM.youngs_modulus_MPa, "nu": 0.3})
    sneddon = 2 * a * FOAM.youngs_modulus_MPa / (1 - nu**2)
    mesh = mesh_surface(Surface.from_triangles(prism_triangles(48, a, 4.0)), MeshSettings(1.0, 2))
    kp = [subsidence(mesh, punch, blocks="bottom", block_size=[w, w, w / 2], interface=interface)
          .qoi["subsidence_stiffness_N_per_mm"] for w in (20.0, 40.0, 80.0)]
    assert kp[0] > kp[1] > kp[2] > sneddon
    first = [2 * kp[1] - kp[0], 2 * kp[2] - kp[1]]
    extrapolated = (4 * first[1] - first[0]) / 3
    expected = sneddon * (ratio or mossakovskii)
    assert extrapolated == pytest.approx(expected, rel=0.0075)


@pytest.mark.slow
@pytest.mark.parametrize("interface, converged", [("tied", 0.28942), ("frictionless", 0.29742)])
def test_stiff_cylinder_on_a_foam_block_is_converged_to_one_percent_at_the_default_mesh(interface, converged):
    """A Ti cylinder (D 10, H 5 mm, a 64-facet STL) on a 40 × 40 × 20 mm foam block, 500 N, P2 at 1 mm: within 1 %.

    ``converged`` (mm) is the extrapolation of a refinement of every size together (implant
    h = 1, 0.7, 0.5, 0.35 mm; the block's sizes follow h), done once: subsidence_mm tied
    0.28736, 0.28798, 0.28807, 0.28862 (frictionless 0.29534, 0.29602, 0.29611, 0.29668).
    The remesh at h inscribes a polygon of about 2π·5/h sides in the STL's outline (footprint 78.04,
    78.17, 78.41, 78.35 mm²), so each value was first brought to the STL's 64-gon (78.41 mm²) by the
    punch's √area (Sneddon: K ∝ a), then fitted by
    s∞ − c·hᵖ: observed order p = 1.04 (frictionless 1.12), the first order of the edge
    singularity; s∞ = 0.28942 ± 0.00013 (0.29742 ± 0.00018), 0.28919 (0.29718) for a true
    circle. At 1 mm: −0.7 % for both (−1.6 % and −1.5 % before the foam was graded down to
    an eighth of h along the footprint's outline: 0.28465 and 0.29272). The bonded punch is
    stiffer than the frictionless by 1.028 (Mossakovskii's half-space ratio: 1.0286).
    """
    titanium = get_material("ti6al4v-am")
    mesh = mesh_surface(Surface.from_triangles(prism_triangles(64, 5.0, 5.0)), MeshSettings(1.0, 2))
    result = subsidence(mesh, titanium, force=500.0, blocks="bottom", block_size=[40.0, 40.0, 20.0],
                        block_material={"E": 123.0, "nu": 0.3}, interface=interface)
    assert result.qoi["subsidence_mm"] == pytest.approx(converged, rel=0.01)
    assert result.qoi["subsidence_mm"] < converged  # approached from below: the discretisation is too stiff


@pytest.mark.slow
def test_eccentric_punch_lifts_off_beyond_a_third_of_its_radius():
    """A rigid flat punch loaded off-centre by e stays in full contact while e ≤ a/3, then lifts off its far edge.

    (The kern of a circular flat punch on an elastic half-space: the pressure under
    the tilted punch, p ∝ (1 + 3 e r cosθ / a²)/√(a² − r²), stays compressive for
    e ≤ a/3; frictionless unilateral contact must find the lift-off by itself.)
    """
    from dataclasses import replace

    from femvalid.fem.static import solve
    from femvalid.loadcases.subsidence import subsidence_model

    a = 5.0
    punch = material_from_table({"E": 1000 * FOAM.youngs_modulus_MPa, "nu": 0.3})
    mesh = mesh_surface(Surface.from_triangles(prism_triangles(32, a, 3.0)), MeshSettings(1.0, 1))
    case = loadcase_from_table({"name": "s", "type": "subsidence", "force": 50.0, "blocks": "bottom",
                                "block_size": [40.0, 40.0, 20.0], "interface": "frictionless",
                                "platen_rotation": "free"}, "test")
    model, _ = subsidence_model(mesh, punch, case)
    lifted = {}
    for e in (0.2 * a, 0.5 * a):
        platen = model.fixture("platen")
        eccentric = replace(platen, reference_point=platen.reference_point + [e, 0.0, 0.0])
        solution = solve(replace(model, fixtures=(model.fixtures[0], eccentric, *model.fixtures[2:])))
        pairs = model.interfaces[0]
        off = ~solution.contact[pairs.name]
        lifted[e] = mesh.nodes[pairs.slaves[off]]
    assert len(lifted[0.2 * a]) == 0
    assert len(lifted[0.5 * a]) > 0 and (lifted[0.5 * a][:, 0] < 0).all()  # the edge away from the load


def _stiff_on_soft(contrast, order=1, upper_size=0.8, lower_size=0.8):
    """A stiff block tied onto a wider soft one (non-matching meshes), base fixed, top pushed."""
    upper = box_mesh((2, 2, 4), (9, 8, 8), upper_size, order)
    lower = box_mesh((0, 0, 0), (11, 10, 4), lower_size, order)
    nodes = np.vstack([upper.nodes, lower.nodes])
    elements = np.vstack([upper.elements, lower.elements + len(upper.nodes)])
    E = np.concatenate([np.full(len(upper.elements), 100.0 * contrast), np.full(len(lower.elements), 100.0)])
    slaves = np.flatnonzero(np.abs(upper.nodes[:, 2] - 4) < 1e-9)
    masters = faces_at_z(nodes, elements[len(upper.elements):], 4.0, 1e-9)
    slave_dofs, T = tie_to_faces(nodes, slaves, masters)
    bottom = len(upper.nodes) + np.flatnonzero(lower.nodes[:, 2] < 1e-9)
    top = np.flatnonzero(upper.nodes[:, 2] > 8 - 1e-9)
    dofs = np.concatenate([(3 * bottom[:, None] + np.arange(3)).ravel(), 3 * top + 2])
    values = np.concatenate([np.zeros(3 * len(bottom)), -np.ones(len(top))])
    return nodes, elements, E, Constraints(dofs, values, slave_dofs, T), np.unique(masters)


@pytest.mark.slow
@pytest.mark.parametrize("order", [1, 2])
def test_amg_iterations_stay_bounded_under_stiffness_contrast(order):
    """Without the interface solve, CG iterations grow with the contrast; with it they stay near 1:1.

    Measured (P1 / P2): 13 / 23 at 1:1; without it 43 / 90 at 1000:1 and 118 / 251 at
    10 000:1; with it 13 / 27 and 13 / 25.
    """
    counts = {}
    for contrast in (1.0, 1e3, 1e4):
        nodes, elements, E, constraints, interface = _stiff_on_soft(contrast, order)
        for wrapped in (False, True):
            sol = solve_elasticity(nodes, elements, E, 0.3, constraints, method="cg-amg",
                                   interface_nodes=interface if wrapped else None)
            counts[contrast, wrapped] = sol.report.iterations
    assert counts[1e4, False] > 3 * counts[1.0, False]
    assert counts[1e4, True] <= 1.5 * counts[1.0, True] + 5
    assert counts[1e3, True] <= 1.5 * counts[1.0, True] + 5


def test_cg_goes_on_until_a_stiff_body_pushed_into_foam_is_in_equilibrium():
    """Displacement on the stiff body makes the load vector ~10⁴× the reactions: 1e-8 of it is not enough.

    (At the default 1e-10 whether CG's last iteration happens to land below the
    equilibrium limit depends on the preconditioner; at 1e-8 it cannot.)
    """
    nodes, elements, E, constraints, interface = _stiff_on_soft(1e4, upper_size=1.0, lower_size=0.5)
    iterative = solve_elasticity(nodes, elements, E, 0.3, constraints, method="cg-amg", interface_nodes=interface,
                                 rtol=1e-8)
    assert "for equilibrium" in iterative.report.note
    direct = solve_elasticity(nodes, elements, E, 0.3, constraints, method="direct")
    scale = np.abs(direct.displacement).max()
    assert np.abs(iterative.displacement - direct.displacement).max() < 1e-7 * scale


def test_a_block_meshed_without_the_outline_grading_says_so(monkeypatch):
    """Where gmsh leaves a flat tetrahedron with the outline's grading, the block is meshed
    without it, and the job says so (in results.json and as a warning): never silently."""
    from femvalid.errors import MeshingError
    from femvalid.geometry.implants import prism_surface
    from femvalid.materials import material_from_table
    from femvalid.meshing import MeshSettings, blocks, mesh_surface

    real = blocks.mesh_surface

    def no_grading(surface, settings, source="mesh"):
        if settings.refine_near_mm:
            raise MeshingError(source, "mesh rejected: 1 flat tetrahedron")
        return real(surface, settings, source=source)

    mesh = mesh_surface(prism_surface(24, 4.0, 3.0), MeshSettings(1.6, 1))  # one that gmsh grades
    case = loadcase_from_table({"name": "s", "type": "subsidence", "force": 100.0, "blocks": "bottom",
                                "block_size": [24.0, 24.0, 12.0]}, "t")
    titanium = material_from_table({"E": 110000.0, "nu": 0.3})
    graded = LOADCASE_TYPES["subsidence"](mesh, titanium, case)
    assert "graded to" in graded.solver["block_meshes"]["inferior"]
    assert not any("block's mesh" in w for w in graded.warnings)
    monkeypatch.setattr(blocks, "mesh_surface", no_grading)
    plain = LOADCASE_TYPES["subsidence"](mesh, titanium, case)
    assert "not graded" in plain.solver["block_meshes"]["inferior"]
    assert any("inferior block's mesh is not graded" in w for w in plain.warnings)
    # The grading's direction: a finer outline lets the punch sink further.
    assert plain.qoi["subsidence_mm"] < graded.qoi["subsidence_mm"]
