"""Unilateral contact by an active set over linear solves: frictionless interfaces and fixtures.

Starting with every node in contact, nodes whose contact force pulls (adhesion) are
released and released nodes that would overlap the other side are pressed again,
until the set no longer changes: each step is a linear solve, exact for the contact
set it ends with (Wriggers, Computational Contact Mechanics, 2006, §6.3). One
mechanism serves a frictionless node-pair interface (an implant on foam that may
lift off) and a frictionless rigid fixture (an F2077 block that only pushes).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from femvalid.errors import JobError
from femvalid.fem.model import Model, NodePairs, rigid_motion

__all__ = ["settle_contact", "MAX_CONTACT_STEPS", "CONTACT_TOLERANCE"]

#: Most linear solves the contact set may take to settle.
MAX_CONTACT_STEPS = 30
#: A contact force or overlap this small, relative to the largest, changes nothing in the contact set.
CONTACT_TOLERANCE = 1e-9


def settle_contact(model: Model, solve_once, source: str):
    """Solve ``model`` with ``solve_once(active)`` until its unilateral contacts settle.

    ``active`` maps an interface's index, or ("fixture", name), to its nodes in contact.
    Returns the last ModelSolution with ``contact`` (name → nodes in contact) and ``contact_steps``.
    """
    unilateral = [i for i, it in enumerate(model.interfaces) if isinstance(it, NodePairs) and it.kind == "frictionless"]
    unilateral += [("fixture", f.name) for f in model.fixtures if f.kind == "frictionless" and f.unilateral]
    if not unilateral:
        return solve_once({})
    if len(model.loads) != 1:
        raise ValueError("a model with unilateral contact takes one load state")
    load = model.loads[0].name
    sides = {key: _contact_side(model, key) for key in unilateral}
    active = {key: np.ones(len(sides[key][0]), bool) for key in unilateral}
    history, seen = [], {}
    for step in range(1, MAX_CONTACT_STEPS + 1):
        solution = solve_once(active)
        u, r = solution.displacement[load], solution.reactions[load]
        proposed = {}
        for key in unilateral:
            nodes, normal, faces, other = sides[key]
            if isinstance(other, np.ndarray):
                partner = u[other]
            else:  # a rigid fixture: where its face moved to, at each contact node
                partner = rigid_motion(model.mesh.nodes[nodes], other.reference_point,
                                       solution.fixture_motion[load][other.name])[..., 0]
            proposed[key] = _contact_update(nodes, normal, faces, active[key], -(r[nodes] @ normal),
                                            (u[nodes] - partner) @ normal, u)
        history.append(int(sum(a.sum() for a in active.values())))
        state = b"".join(np.packbits(active[key]).tobytes() for key in unilateral)
        settled = all(np.array_equal(proposed[key], active[key]) for key in unilateral)
        if settled or state in seen:
            note = f"contact set settled after {step} linear solves (nodes in contact: {history})"
            if not settled:  # a cycle between two sets at the singular edge: keep the one in fuller contact
                note = f"contact set cycled at the footprint's edge; kept the fuller set (nodes in contact: {history})"
            solution.report.note = "; ".join(filter(None, [solution.report.note, note]))
            names = {key: key[1] if isinstance(key, tuple) else model.interfaces[key].name for key in unilateral}
            return replace(solution, contact={names[key]: active[key].copy() for key in unilateral},
                           contact_steps=step)
        seen[state] = step
        active = proposed
    raise JobError(source, f"the contact set did not settle in {MAX_CONTACT_STEPS} solves (nodes in contact: {history})")


def _contact_side(model: Model, key):
    """(contact nodes, normal into the other body, faces or None, the other side: master nodes or the fixture)."""
    if isinstance(key, tuple):
        f = model.fixture(key[1])
        return f.nodes, f.normal, _faces_on(model.mesh, f.nodes) if f.faces is None else f.faces, f
    pairs = model.interfaces[key]
    return pairs.slaves, pairs.normal, _faces_on(model.mesh, pairs.slaves) if pairs.faces is None else pairs.faces, \
        pairs.masters


def _faces_on(mesh, nodes: np.ndarray) -> np.ndarray:
    """The mesh's boundary faces (P1 or P2) whose nodes all lie in ``nodes``."""
    from femvalid.fem.loads import boundary_faces_of

    on = np.zeros(len(mesh.nodes), bool)
    on[nodes] = True
    faces = boundary_faces_of(mesh.elements)
    return faces[on[faces].all(axis=1)]


def _contact_update(nodes, normal, faces, active, force, overlap, u) -> np.ndarray:
    """The next contact set: release nodes the other side pulls, press released nodes that overlap it.

    ``force`` (> 0: pressed) and ``overlap`` (> 0: moved into the other side) per node.
    Contact is judged at the faces' corners. A quadratic face's consistent nodal forces
    vanish at its corners under a uniform pressure and turn tensile there where the
    pressure varies, though the pressure stays compressive; so each mid-side node's
    force is shared between its edge's two corners first, and a mid-side node is in
    contact where both its corners are.
    """
    force = force.copy()
    where = {int(n): k for k, n in enumerate(nodes)}
    mids = np.zeros((0, 3), np.int64)
    if faces is not None and faces.shape[1] == 6:
        edges = np.unique(np.concatenate([faces[:, [3, 0, 1]], faces[:, [4, 1, 2]], faces[:, [5, 2, 0]]]), axis=0)
        edges = edges[[all(int(n) in where for n in e) for e in edges]]
        mids = np.array([[where[m], where[a], where[b]] for m, a, b in edges], np.int64).reshape(-1, 3)
        np.add.at(force, mids[:, 1], 0.5 * force[mids[:, 0]])
        np.add.at(force, mids[:, 2], 0.5 * force[mids[:, 0]])
    scale = max(np.abs(force).max(), 1e-300)
    release = active & (force < -CONTACT_TOLERANCE * scale)
    press = ~active & (overlap > CONTACT_TOLERANCE * max(np.abs(u).max(), 1e-300))
    proposed = (active & ~release) | press
    if len(mids):
        proposed[mids[:, 0]] = proposed[mids[:, 1]] & proposed[mids[:, 2]]
    return proposed


