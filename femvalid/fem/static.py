"""Solve a Model: one matrix, one preconditioner, a few unit fields, small algebra for every load.

Each moving fixture's motion is a combination of six unit motions in its frame
(three translations, three rotations about its origin). The solver computes the
field of each unit motion that a model needs, by one constrained solve each with
the same matrix and preconditioner, and condenses them: the generalised reaction
of field j along motion column i is C_ij, the condensed stiffness (N/mm, N·mm/rad).
A load state's generalised forces g then give the amplitudes C a = g and the
displacements Σ a_j u_j, exactly, since the problem is linear. Models that share the
mesh, the materials and the couplings (an axial, a compression–shear and a torsion
case of one design) share the unit fields as well: they are kept for the last few
such set-ups in this process (:data:`KEPT_SETUPS`).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from femvalid.errors import JobError
from femvalid.fem.assembly import assemble_stiffness
from femvalid.fem.constraints import Constraints, reduce_system
from femvalid.fem.contact import settle_contact
from femvalid.fem.model import Model, NodePairs, Tie, rigid_motion
from femvalid.fem.solvers import RTOL, PreparedSolver, SolveReport
from femvalid.fem import system as _system
from femvalid.fem.system import solve_balanced
from femvalid.fem.tie import tie_to_faces

__all__ = ["ModelSolution", "solve", "KEPT_SETUPS"]

#: Fixture set-ups whose unit fields are kept for reuse (the newest keeps its preconditioner too).
KEPT_SETUPS = 3
#: A frame coefficient this much smaller than the largest is taken as zero (no field solved for it).
_NEGLIGIBLE = 1e-12
#: A normal this close to a coordinate axis is coupled by that one component.
_AXIS_SNAP = 1e-12


@dataclass(frozen=True, eq=False)
class ModelSolution:
    """What :func:`solve` found, per load state (by name).

    Attributes
    ----------
    displacement, reactions : dict of name → ndarray (N, 3)
        Displacements (mm) and nodal reaction forces (N: the forces the fixtures and
        ties exert on the mesh).
    fixture_motion : dict of name → dict of fixture → ndarray (6,)
        Translation (mm) and rotation (rad) of each fixture's reference point.
    fixture_reaction : dict of name → dict of fixture → ndarray (6,)
        Force (N) and moment about the reference point (N·mm) each fixture exerts on the mesh.
    condensed_stiffness : ndarray (k, k)
        Generalised stiffness of the moving fixtures' motion columns (N/mm, N, N·mm/rad).
    report : SolveReport
        Summed over the unit fields solved for this model (``note`` says how many were reused).
    imbalance : float
        Largest out-of-balance force or moment of any unit field or load state, relative.
    """

    displacement: dict
    reactions: dict
    fixture_motion: dict
    fixture_reaction: dict
    condensed_stiffness: np.ndarray
    report: SolveReport
    assembly_seconds: float
    imbalance: float
    fields_solved: int = 0
    fields_reused: int = 0
    contact: dict = field(default_factory=dict)  # unilateral interface name → pairs in contact (bool)
    contact_steps: int = 0
    warnings: tuple = ()


@dataclass
class _Setup:
    """The couplings of one fixture set-up, its reduced system and the unit fields solved so far."""

    constraints: Constraints
    columns: list  # (fixture name, unit motion index) per right-hand side
    interface: np.ndarray | None
    system: object = None
    solver: PreparedSolver | None = None
    assembly_seconds: float = 0.0
    fields: dict = field(default_factory=dict)  # column index → (u, reactions, imbalance, report)


_SETUPS: OrderedDict = OrderedDict()


def solve(model: Model, method: str = "auto", rtol: float = RTOL, source: str = "solver") -> ModelSolution:
    """Solve every load state of ``model``; check residuals and equilibrium in all six components.

    Frictionless node-pair interfaces, and frictionless fixtures marked unilateral,
    only push: their contact set is found by the active set of :mod:`femvalid.fem.contact`.

    Raises
    ------
    JobError
        A solve did not converge, the reactions do not balance, a load acts along
        a motion the model does not resist, or the contact set does not settle.
    """
    return settle_contact(model, lambda active: _solve_with(model, active, method, rtol, source), source)


def _solve_with(model: Model, active: dict, method: str, rtol: float, source: str) -> ModelSolution:
    moving = [f for f in model.fixtures if f.moving]
    if not moving or not model.loads:
        raise ValueError("a model needs a moving fixture and a load state")
    warnings = check_model(model, source)
    key = _setup_key(model, method, rtol, active)
    setup = _SETUPS.pop(key, None) or _make_setup(model, source, active)
    _SETUPS[key] = setup
    for older in list(_SETUPS)[:-1]:
        _SETUPS[older].system = _SETUPS[older].solver = None  # only the newest keeps its matrix
    while len(_SETUPS) > KEPT_SETUPS:
        _SETUPS.popitem(last=False)

    # Each motion column as a combination of the unit motions in its fixture's frame.
    combos, needed = [], set()
    for f in moving:
        for j in range(f.motion.shape[1]):
            coefficients = _frame_coefficients(f, f.motion[:, j])
            combo = {setup.columns.index((f.name, c)): v for c, v in enumerate(coefficients) if v != 0.0}
            combos.append((f, combo))
            needed |= set(combo)
    reused = len(needed & set(setup.fields))
    reports = [_solve_field(model, setup, c, method, rtol, source) for c in sorted(needed - set(setup.fields))]
    fields = {c: setup.fields[c] for c in needed}

    def combine(weights: dict, which: int) -> np.ndarray:
        out = np.zeros_like(next(iter(fields.values()))[which])
        for c, w in weights.items():
            out += w * fields[c][which]
        return out

    column_u = [combine(combo, 0) for _, combo in combos]
    column_r = [combine(combo, 1) for _, combo in combos]
    k = len(combos)
    C = np.zeros((k, k))
    for i, (f, _) in enumerate(combos):
        m_i = f.motion[:, i - _first_column(combos, f)]
        for j in range(k):
            C[i, j] = m_i @ _wrench(model.mesh.nodes, column_r[j], f.nodes, f.reference_point)
    C = 0.5 * (C + C.T)

    displacement, reactions, motions, wrenches = {}, {}, {}, {}
    # Each field's imbalance against the largest reaction of any: a motion the model barely resists
    # (a frictionless body spinning in its plane) has tiny reactions, whose round-off is no imbalance.
    scale = max(np.abs(fields[c][1]).max() for c in needed)
    imbalance = max([fields[c][2] * np.abs(fields[c][1]).max() / scale for c in needed], default=0.0)
    for load in model.loads:
        g = np.concatenate([np.asarray(load.forces[f.name], float).reshape(-1) for f in moving])
        a = _amplitudes(C, g, load.name, source)
        u = sum(a_j * u_j for a_j, u_j in zip(a, column_u))
        r = sum(a_j * r_j for a_j, r_j in zip(a, column_r))
        displacement[load.name], reactions[load.name] = u.reshape(-1, 3), r.reshape(-1, 3)
        motions[load.name] = {}
        start = 0
        for f in model.fixtures:
            width = f.motion.shape[1]
            motions[load.name][f.name] = f.motion @ a[start:start + width] if f.moving else np.zeros(6)
            start += width if f.moving else 0
        wrenches[load.name] = {f.name: _wrench(model.mesh.nodes, r, f.nodes, f.reference_point)
                               for f in model.fixtures}
        imbalance = max(imbalance, _net_imbalance(model.mesh.nodes, r))
    if not imbalance <= _system.EQUILIBRIUM_RTOL:
        raise JobError(source, f"equilibrium check failed: out-of-balance force or moment {imbalance:.2e} of the "
                               f"largest reaction (limit {_system.EQUILIBRIUM_RTOL:g})")
    report = _summed(reports, setup, reused)
    return ModelSolution(displacement, reactions, motions, wrenches, C, report,
                         setup.assembly_seconds if reports else 0.0, imbalance, len(reports), reused,
                         warnings=tuple(warnings))


#: Linear tetrahedra lock volumetrically as ν nears 0.5: refused from here (measured on a bonded box: at
#: ν = 0.49 P1 was 1.7× stiffer than P2 and its p99 stress 0.57×; at 0.4999, 56× stiffer).
P1_NU_REFUSED = 0.49
#: ... and warned about from here (P1 a few per cent stiff; P2 stays within a per cent of converged).
P1_NU_WARNED = 0.45
#: Quadratic tetrahedra too lock at the incompressible limit: refused from here.
P2_NU_REFUSED = 0.499


def check_model(model: Model, source: str) -> list[str]:
    """Refuse what the elements cannot represent, and bodies that nothing holds; returns warnings.

    Raises
    ------
    InputError
        Poisson's ratio so near 0.5 that the elements lock.
    JobError
        A body (a connected piece of the mesh) is held by no fixture, directly or
        through an interface: its displacements would be arbitrary.
    """
    from scipy.sparse.csgraph import connected_components

    from femvalid.errors import InputError

    mesh = model.mesh
    nu = float(model.poisson_ratio.max())
    warnings = []
    if mesh.order == 1 and nu >= P1_NU_REFUSED or mesh.order == 2 and nu >= P2_NU_REFUSED:
        raise InputError(source, f"Poisson's ratio {nu:g} is too near 0.5 for {'linear' if mesh.order == 1 else 'quadratic'}"
                                 " tetrahedra: they lock (a near-incompressible body comes out several times too "
                                 f"stiff); {'use order = 2 (quadratic elements)' if mesh.order == 1 else 'no element here models it'}")
    if mesh.order == 1 and nu >= P1_NU_WARNED:
        warnings.append(f"Poisson's ratio {nu:g} with linear tetrahedra: volumetric locking makes the body too stiff "
                        "and its stresses too low; use order = 2")
    corners = mesh.elements[:, :4]
    m, n = len(corners), len(mesh.nodes)
    incidence = sp.csr_matrix((np.ones(4 * m), (np.repeat(np.arange(m), 4), corners.ravel())), shape=(m, n))
    adjacency = incidence.T @ incidence
    links = [np.column_stack([it.slaves, it.masters]) for it in model.interfaces if isinstance(it, NodePairs)]
    if links:
        pairs = np.vstack(links)
        adjacency = adjacency + sp.csr_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    for tie in model.interfaces:
        if isinstance(tie, Tie):
            slaves = np.repeat(tie.slaves, 1)
            master = np.full(len(slaves), tie.faces[0, 0])
            adjacency = adjacency + sp.csr_matrix((np.ones(len(slaves)), (slaves, master)), shape=(n, n))
    count, label = connected_components(adjacency, directed=False)
    used = np.zeros(n, bool)
    used[corners.ravel()] = True
    held = np.zeros(count, bool)
    for f in model.fixtures:
        held[label[f.nodes]] = True
    for body in np.unique(label[used]):
        if not held[body]:
            elements = np.flatnonzero(label[corners[:, 0]] == body)
            volume = float(mesh.element_volumes[elements].sum())
            centre = mesh.nodes[corners[elements]].mean(axis=(0, 1))
            raise JobError(source, f"a body of {len(elements)} elements ({volume:.4g} mm³, around "
                                   f"{np.array2string(centre, precision=1, separator=', ')} mm) touches no fixture "
                                   "and no other body: nothing holds it in the load path; remove it from the STL "
                                   "or join it to the device")
    return warnings


def _first_column(combos, fixture) -> int:
    return next(i for i, (f, _) in enumerate(combos) if f is fixture)


def _frame_coefficients(fixture, motion: np.ndarray) -> np.ndarray:
    """A motion (6,) about the reference point as amplitudes of the six unit motions in the frame."""
    U, theta = motion[:3], motion[3:]
    U_origin = U + np.cross(theta, fixture.origin - fixture.reference_point)
    coefficients = np.concatenate([fixture.frame.T @ U_origin, fixture.frame.T @ theta])
    scale = np.abs(coefficients).max()
    coefficients[np.abs(coefficients) <= _NEGLIGIBLE * scale] = 0.0
    return coefficients


def _unit_displacements(fixture, points: np.ndarray) -> np.ndarray:
    """(n, 3, 6) displacements of ``points`` under the fixture's six unit motions."""
    R = fixture.frame
    basis = np.zeros((6, 6))
    basis[:3, :3], basis[3:, 3:] = R, R
    return rigid_motion(points, fixture.origin, basis)


def _make_setup(model: Model, source: str, active: dict | None = None) -> _Setup:
    """The couplings of every fixture and tie, with one right-hand side per unit motion of each moving fixture."""
    nodes = model.mesh.nodes
    columns = [(f.name, c) for f in model.fixtures if f.moving for c in range(6)]
    r = len(columns)
    dofs, values, slaves, rows, offsets = [], [], [], [], []

    def unit(fixture, points):
        out = np.zeros((len(points), 3, r))
        if fixture.moving:
            first = columns.index((fixture.name, 0))
            out[..., first:first + 6] = _unit_displacements(fixture, nodes[points])
        return out

    n_dofs = 3 * len(nodes)
    for f in model.fixtures:
        held = (active or {}).get(("fixture", f.name))
        f_nodes = f.nodes if held is None else f.nodes[held]
        motion = unit(f, f_nodes)
        if f.kind == "bonded":
            dofs.append((3 * f.nodes[:, None] + np.arange(3)).ravel())
            values.append(motion.reshape(-1, r))
            continue
        n = f.normal
        k = int(np.argmax(np.abs(n)))
        normal_motion = np.einsum("pir,i->pr", motion, n)  # (p, r)
        stop_dofs = _stops(nodes, f, k) if f.stops else np.zeros(0, np.int64)
        if f.kind == "stops":
            pass
        elif np.abs(n[k]) >= 1.0 - _AXIS_SNAP:
            dofs.append(3 * f_nodes + k)
            values.append(normal_motion / n[k])
        else:
            others = [j for j in range(3) if j != k]
            slaves.append(3 * f_nodes + k)
            cols = np.concatenate([3 * f_nodes + j for j in others])
            row_index = np.tile(np.arange(len(f_nodes)), 2)
            weights = np.concatenate([np.full(len(f_nodes), -n[j] / n[k]) for j in others])
            rows.append((row_index, cols, weights, len(f_nodes)))
            offsets.append(normal_motion / n[k])
        if len(stop_dofs):
            dofs.append(stop_dofs)
            stop_nodes, stop_components = np.divmod(stop_dofs, 3)
            values.append(unit(f, stop_nodes)[np.arange(len(stop_dofs)), stop_components])
    tie_slaves, tie_T, interface_faces = [], [], []
    for index, tie in enumerate(model.interfaces):
        if isinstance(tie, NodePairs):
            s_dofs, T = _pair_constraints(tie, n_dofs, (active or {}).get(index))
            tie_slaves.append(s_dofs)
            tie_T.append(T)
            if tie.stiff_contrast:
                interface_faces.append(tie.masters)
            continue
        try:
            s_dofs, T = tie_to_faces(nodes, tie.slaves, tie.faces, tolerance_mm=tie.tolerance_mm, source=source)
        except ValueError as exc:
            from femvalid.errors import InputError

            raise InputError(source, f"{tie.name}: {exc}") from None
        tie_slaves.append(s_dofs)
        tie_T.append(T)
        if tie.stiff_contrast:
            interface_faces.append(tie.faces.ravel())
    blocks, all_slaves, all_offsets = [], [], []
    for s_dofs, (row_index, cols, weights, count) in zip(slaves, rows):
        blocks.append(sp.csr_matrix((weights, (row_index, cols)), shape=(count, n_dofs)))
        all_slaves.append(s_dofs)
    all_offsets += offsets
    for s_dofs, T in zip(tie_slaves, tie_T):
        blocks.append(T)
        all_slaves.append(s_dofs)
        all_offsets.append(np.zeros((len(s_dofs), r)))
    try:
        constraints = Constraints(
            np.concatenate(dofs).astype(np.int64) if dofs else np.zeros(0, np.int64),
            np.concatenate(values) if values else np.zeros((0, r)),
            np.concatenate(all_slaves) if all_slaves else np.zeros(0, np.int64),
            sp.vstack(blocks).tocsr() if blocks else None,
            np.concatenate(all_offsets) if all_offsets else None,
        )
    except ValueError as exc:
        from femvalid.errors import InputError

        raise InputError(source, f"the fixtures overlap: {exc}") from None
    interface = None
    if interface_faces:
        interface_nodes = np.unique(np.concatenate(interface_faces))
        interface = (3 * interface_nodes[:, None] + np.arange(3)).ravel()
    return _Setup(constraints, columns, interface)


def _pair_constraints(pairs: NodePairs, n_dofs: int, active: np.ndarray | None):
    """Slave dofs and T of a node-pair interface: all components (tied), or the normal one of the pairs in contact."""
    if pairs.kind == "tied":
        slave_dofs = (3 * pairs.slaves[:, None] + np.arange(3)).ravel()
        master_dofs = (3 * pairs.masters[:, None] + np.arange(3)).ravel()
        return slave_dofs, sp.csr_matrix((np.ones(len(slave_dofs)), (np.arange(len(slave_dofs)), master_dofs)),
                                         shape=(len(slave_dofs), n_dofs))
    s, m = pairs.slaves, pairs.masters
    if active is not None:
        s, m = s[active], m[active]
    n = pairs.normal
    k = int(np.argmax(np.abs(n)))
    rows, cols, weights = [], [], []
    for j in range(3):  # u_s·n = u_m·n, solved for the slave's component k
        if abs(n[j]) <= _AXIS_SNAP and j != k:
            continue
        rows.append(np.arange(len(s)))
        cols.append(3 * m + j)
        weights.append(np.full(len(s), n[j] / n[k]))
        if j != k:
            rows.append(np.arange(len(s)))
            cols.append(3 * s + j)
            weights.append(np.full(len(s), -n[j] / n[k]))
    T = sp.csr_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))), shape=(len(s), n_dofs))
    return 3 * s + k, T


def _stops(nodes: np.ndarray, fixture, k: int) -> np.ndarray:
    """Dofs of the three point stops against sliding and spinning in a frictionless face's plane.

    One contact node near the centre is held in the two components other than the
    normal one (k), and the node farthest from it across the line between them.
    """
    others = [j for j in range(3) if j != k]
    contact = fixture.nodes
    xy = nodes[contact][:, others]
    pin = contact[np.argmin(np.linalg.norm(xy - xy.mean(axis=0), axis=1))]
    far = contact[np.argmax(np.linalg.norm(xy - nodes[pin, others], axis=1))]
    d0, d1 = np.abs(nodes[far, others] - nodes[pin, others])
    across = 3 * far + (others[1] if d0 >= d1 else others[0])
    return np.array([3 * pin + others[0], 3 * pin + others[1], across], np.int64)


def _solve_field(model, setup: _Setup, column: int, method, rtol, source) -> SolveReport:
    if setup.system is None:
        t0 = time.perf_counter()
        mesh = model.mesh
        K = assemble_stiffness(mesh.nodes, mesh.elements, mesh.order, model.youngs_modulus_MPa, model.poisson_ratio)
        F = np.zeros((3 * len(mesh.nodes), len(setup.columns)))
        setup.system = reduce_system(K, F, setup.constraints, overwrite=True)
        del K
        setup.assembly_seconds = time.perf_counter() - t0
        setup.solver = PreparedSolver(setup.system.A, mesh.nodes, method, setup.interface, source, elements=mesh.elements)
    F = np.zeros(setup.system.A.shape[0])
    _, report, u, reactions, imbalance = solve_balanced(setup.solver, setup.system, F, rtol, column)
    imbalance = max(imbalance, _net_imbalance(model.mesh.nodes, reactions))
    setup.fields[column] = (u, reactions, imbalance, report)
    return report


def _wrench(nodes: np.ndarray, reactions: np.ndarray, which: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Force (N) and moment about ``point`` (N·mm) of the reactions at nodes ``which``."""
    f = reactions.reshape(-1, 3)[which]
    return np.concatenate([f.sum(axis=0), np.cross(nodes[which] - point, f).sum(axis=0)])


def _net_imbalance(nodes: np.ndarray, reactions: np.ndarray) -> float:
    """Net force and moment of all reactions, relative to the largest force (× the body's size for moments)."""
    f = reactions.reshape(-1, 3)
    scale = max(np.abs(f).max(), 1e-300)
    centre = nodes.mean(axis=0)
    size = max(np.ptp(nodes, axis=0).max(), 1e-300)
    force = np.abs(f.sum(axis=0)).max() / scale
    moment = np.abs(np.cross(nodes - centre, f).sum(axis=0)).max() / (scale * size)
    return float(max(force, moment))


def _amplitudes(C: np.ndarray, g: np.ndarray, name: str, source: str) -> np.ndarray:
    """Solve C a = g, with motion columns the model does not resist (a zero row of C) left at zero."""
    scale = np.abs(np.diag(C)).max()
    resisted = np.abs(np.diag(C)) > 1e-9 * scale
    if np.any(np.abs(g[~resisted]) > 0):
        raise JobError(source, f"load {name!r} acts along a motion the model does not resist (a free body?)")
    a = np.zeros(len(g))
    sub = C[np.ix_(resisted, resisted)]
    try:
        a[resisted] = np.linalg.solve(sub, g[resisted])
    except np.linalg.LinAlgError:
        raise JobError(source, f"load {name!r}: the condensed fixture stiffness is singular") from None
    return a


def _summed(reports, setup, reused) -> SolveReport:
    if not reports:
        first = next(iter(setup.fields.values()))[3]
        return SolveReport(first.method, first.dofs, 0, 0.0, 0.0, 0.0,
                           f"all {reused} unit fields reused from an earlier load case on this set-up")
    notes = [r.note for r in reports if r.note]
    if reused:
        notes.append(f"{reused} unit fields reused from an earlier load case on this set-up")
    return SolveReport(reports[0].method, reports[0].dofs, sum(r.iterations for r in reports),
                       max(r.residual for r in reports), sum(r.setup_seconds for r in reports),
                       sum(r.solve_seconds for r in reports), "; ".join(notes))


def _setup_key(model: Model, method: str, rtol: float, active: dict | None = None) -> str:
    """A hash of everything the unit fields depend on: mesh, materials, couplings, frames, solver settings."""
    h = hashlib.sha256()
    mesh = model.mesh
    for array in (mesh.nodes, mesh.elements, model.youngs_modulus_MPa, model.poisson_ratio):
        h.update(np.ascontiguousarray(array).tobytes())
    for f in model.fixtures:
        h.update(f"{f.name}|{f.kind}|{f.stops}|{f.moving}".encode())
        for array in (f.nodes, f.normal, f.frame, f.origin):
            h.update(np.ascontiguousarray(array).tobytes())
    for index, tie in enumerate(model.interfaces):
        h.update(f"{type(tie).__name__}|{tie.name}|{tie.stiff_contrast}".encode())
        if isinstance(tie, Tie):
            h.update(f"{tie.tolerance_mm!r}".encode())
            arrays = (tie.slaves, tie.faces)
        else:
            h.update(tie.kind.encode())
            arrays = (tie.slaves, tie.masters, tie.normal, (active or {}).get(index, np.zeros(0, bool)))
        for array in arrays:
            h.update(np.ascontiguousarray(array).tobytes())
    for key, mask in sorted(((k, v) for k, v in (active or {}).items() if isinstance(k, tuple)), key=lambda kv: kv[0]):
        h.update(f"{key}".encode())
        h.update(np.packbits(mask).tobytes())
    h.update(f"{method}|{rtol!r}".encode())
    return h.hexdigest()
