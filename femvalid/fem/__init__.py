"""Finite elements: reference tetrahedra (P1, P2) and quadrature rules."""

from femvalid.fem.elements import TET10_EDGES, reference_nodes, shape_functions, shape_gradients
from femvalid.fem.quadrature import tet_rule

__all__ = ["TET10_EDGES", "reference_nodes", "shape_functions", "shape_gradients", "tet_rule"]
