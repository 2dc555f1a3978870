"""The Model: everything a linear-elastic solve needs, as frozen data.

A load-case type builds a Model (:mod:`femvalid.loadcases`); :func:`femvalid.fem.solve`
solves it; :mod:`femvalid.post` turns the pair into quantities. Nothing here knows
which bench test a Model stands for.

Rigid fixtures carry the set-up. Each is a rigid body with a reference point whose
motion (three translations, mm, and three small rotations, rad, about the reference
point) drives its contact nodes: every component when ``bonded``, the component
along the fixture's face normal only when ``frictionless``. A fixed fixture does not
move. A moving one may move along the columns of ``motion`` (a basis of its allowed
rigid motions, 6 × k), and each load state gives the generalised force along each
basis column (N for a translation, N·mm for a rotation): the travel along a load
line, a torque, or zero for a free spherical joint.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from femvalid._arrays import readonly

__all__ = ["Fixture", "Tie", "NodePairs", "LoadState", "ReactionSet", "Model", "rigid_motion", "FIXTURE_KINDS"]

FIXTURE_KINDS = ("bonded", "frictionless", "stops")


def rigid_motion(points: np.ndarray, about: np.ndarray, motion: np.ndarray) -> np.ndarray:
    """Displacements (n, 3, k) of ``points`` under rigid motions (6, k) about ``about``: U + θ × (x − p)."""
    motion = np.asarray(motion, float).reshape(6, -1)
    r = np.asarray(points, float) - np.asarray(about, float)
    U, theta = motion[:3], motion[3:]
    return U[None] + np.cross(theta[None], r[:, :, None], axisa=1, axisb=1, axisc=1)


@dataclass(frozen=True, eq=False)
class Fixture:
    """A rigid body coupled to contact nodes of the mesh.

    Attributes
    ----------
    name : str
        How reactions and travel are reported (``inferior``, ``superior``, ``platen``).
    nodes : ndarray of int
        Contact nodes.
    reference_point : ndarray (3,)
        Where the fixture's motion and reaction (force N, moment N·mm) are taken, mm.
    kind : {"bonded", "frictionless", "stops"}
        ``stops`` holds nothing but the three point stops in the plane normal to ``normal``.
    normal : ndarray (3,)
        Unit normal of the fixture's face; frictionless contact holds u·normal only.
    motion : ndarray (6, k)
        Allowed rigid motions of the reference point; k = 0 for a fixed fixture.
    stops : bool
        Frictionless only: add the three point constraints that remove rigid sliding
        and spinning in the face's plane (their reactions are part of the fixture's).
    frame, origin : ndarray (3, 3) and (3,)
        The axes (columns) and point of the six unit motions the solver computes fields
        for; ``motion`` is expressed in them. Models that share them (and the mesh,
        the materials and the couplings) share the solved fields: give every load case
        on one fixture set-up the same frame (default: x, y, z about the reference point).
    unilateral : bool
        Frictionless only: the block can only push, and the device may lift off it
        (the same active set as a frictionless interface, :func:`femvalid.fem.static.solve`).
    faces : ndarray, optional
        The contact faces (P1 or P2), by which a unilateral contact is judged at corners.
    """

    name: str
    nodes: np.ndarray
    reference_point: np.ndarray
    kind: str = "bonded"
    normal: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 1.0]))
    motion: np.ndarray = field(default_factory=lambda: np.zeros((6, 0)))
    stops: bool = False
    frame: np.ndarray = field(default_factory=lambda: np.eye(3))
    origin: np.ndarray | None = None
    unilateral: bool = False
    faces: np.ndarray | None = None

    def __post_init__(self):
        if self.kind not in FIXTURE_KINDS:
            raise ValueError(f"fixture kind must be one of {', '.join(FIXTURE_KINDS)}, not {self.kind!r}")
        normal = np.asarray(self.normal, float)
        object.__setattr__(self, "nodes", readonly(np.unique(self.nodes), np.int64))
        object.__setattr__(self, "reference_point", readonly(self.reference_point, np.float64))
        object.__setattr__(self, "normal", readonly(normal / np.linalg.norm(normal), np.float64))
        object.__setattr__(self, "motion", readonly(np.asarray(self.motion, float).reshape(6, -1), np.float64))
        object.__setattr__(self, "frame", readonly(self.frame, np.float64))
        origin = self.reference_point if self.origin is None else self.origin
        object.__setattr__(self, "origin", readonly(origin, np.float64))

    @property
    def moving(self) -> bool:
        return self.motion.shape[1] > 0


@dataclass(frozen=True, eq=False)
class Tie:
    """An interface: ``slaves`` (nodes of one body) follow the ``faces`` (k, 3|6) of another, flat, face."""

    name: str
    slaves: np.ndarray
    faces: np.ndarray
    tolerance_mm: float = 1e-6
    stiff_contrast: bool = True  # the solver then treats the faces' layer exactly


@dataclass(frozen=True, eq=False)
class NodePairs:
    """An interface between two meshes that share its nodes' positions: ``slaves[i]`` sits on ``masters[i]``.

    ``tied``: the pair moves together. ``frictionless``: only the component along
    ``normal`` (unit, pointing from the slave body into the master body) is shared,
    and contact is unilateral: a pair that would pull apart is released and a
    released pair that would overlap is pressed again (an active set over linear
    solves, :func:`femvalid.fem.static.solve`), by the pressure on ``faces`` where given.
    """

    name: str
    slaves: np.ndarray
    masters: np.ndarray
    normal: np.ndarray
    kind: str = "tied"
    stiff_contrast: bool = True
    faces: np.ndarray | None = None  # the slave side's faces (P1 or P2): contact is judged by their pressure

    def __post_init__(self):
        if self.kind not in ("tied", "frictionless"):
            raise ValueError(f"interface kind must be tied or frictionless, not {self.kind!r}")
        slaves, masters = np.asarray(self.slaves, np.int64), np.asarray(self.masters, np.int64)
        if slaves.shape != masters.shape:
            raise ValueError("an interface pairs as many slave nodes as master nodes")
        normal = np.asarray(self.normal, float)
        object.__setattr__(self, "slaves", readonly(slaves, np.int64))
        object.__setattr__(self, "masters", readonly(masters, np.int64))
        object.__setattr__(self, "normal", readonly(normal / np.linalg.norm(normal), np.float64))


@dataclass(frozen=True, eq=False)
class LoadState:
    """Generalised forces along every moving fixture's motion columns, in fixture order.

    ``forces[name]`` is a (k,) array for the fixture ``name`` (N or N·mm).
    """

    name: str
    forces: dict


@dataclass(frozen=True, eq=False)
class ReactionSet:
    """Nodes whose reaction force (N) and moment about ``point`` (N·mm) are reported."""

    name: str
    nodes: np.ndarray
    point: np.ndarray


@dataclass(frozen=True, eq=False)
class Model:
    """A frozen linear-elastic model (mm, N, MPa).

    Attributes
    ----------
    mesh : VolumeMesh
        All bodies in one mesh; ``mesh.regions`` numbers them, ``region_names`` names them.
    youngs_modulus_MPa, poisson_ratio : ndarray (m,)
        Material per element.
    fixtures, interfaces, loads, reaction_sets : tuples
    node_sets : dict of name → node indices
        Named boundary node sets (contact faces, block bases), for output and checks.
    """

    mesh: object
    youngs_modulus_MPa: np.ndarray
    poisson_ratio: np.ndarray
    fixtures: tuple = ()
    interfaces: tuple = ()
    loads: tuple = ()
    reaction_sets: tuple = ()
    region_names: dict = field(default_factory=lambda: {0: "implant"})
    node_sets: dict = field(default_factory=dict)

    def __post_init__(self):
        m = len(self.mesh.elements)
        object.__setattr__(self, "youngs_modulus_MPa",
                           readonly(np.broadcast_to(np.asarray(self.youngs_modulus_MPa, float), (m,)), np.float64))
        object.__setattr__(self, "poisson_ratio",
                           readonly(np.broadcast_to(np.asarray(self.poisson_ratio, float), (m,)), np.float64))
        for name in ("fixtures", "interfaces", "loads", "reaction_sets"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        names = [f.name for f in self.fixtures]
        if len(set(names)) != len(names):
            raise ValueError("fixture names must be unique")
        for load in self.loads:
            for fixture in self.fixtures:
                if fixture.moving and fixture.name not in load.forces:
                    raise ValueError(f"load state {load.name!r} gives no forces for fixture {fixture.name!r}")

    def fixture(self, name: str) -> Fixture:
        for f in self.fixtures:
            if f.name == name:
                return f
        raise KeyError(name)
