"""Finite elements: reference tetrahedra (P1, P2), quadrature, assembly, couplings, solvers.

``solve(model)`` solves a :class:`~femvalid.fem.model.Model`; nothing here knows which
bench test a Model stands for.
"""

from femvalid.fem.elements import TET10_EDGES, reference_nodes, shape_functions, shape_gradients
from femvalid.fem.model import Fixture, LoadState, Model, ReactionSet, Tie
from femvalid.fem.quadrature import tet_rule
from femvalid.fem.static import ModelSolution, solve

__all__ = ["TET10_EDGES", "Fixture", "LoadState", "Model", "ModelSolution", "ReactionSet", "Tie", "reference_nodes",
           "shape_functions", "shape_gradients", "solve", "tet_rule"]
