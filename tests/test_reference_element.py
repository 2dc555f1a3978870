"""Quadrature exactness and shape-function identities on the reference tetrahedron."""

from math import factorial

import numpy as np
import pytest

from femvalid.fem import reference_nodes, shape_functions, shape_gradients, tet_rule


@pytest.mark.parametrize("degree", range(1, 7))
def test_quadrature_integrates_monomials_exactly(degree):
    points, weights = tet_rule(degree)
    assert (weights > 0).all()
    for a in range(degree + 1):
        for b in range(degree + 1 - a):
            for c in range(degree + 1 - a - b):
                exact = factorial(a) * factorial(b) * factorial(c) / factorial(a + b + c + 3)
                value = weights @ (points[:, 0] ** a * points[:, 1] ** b * points[:, 2] ** c)
                assert value == pytest.approx(exact, abs=1e-15)


@pytest.mark.parametrize("order", [1, 2])
def test_shape_functions(order):
    nodes = reference_nodes(order)
    np.testing.assert_allclose(shape_functions(order, nodes), np.eye(len(nodes)), atol=1e-15)
    rng = np.random.default_rng(0)
    points = rng.dirichlet(np.ones(4), size=20)[:, 1:]
    np.testing.assert_allclose(shape_functions(order, points).sum(axis=1), 1.0)
    # Gradients: finite differences, and they reproduce the identity map x = Σ N_i x_i.
    h = 1e-6
    numeric = np.stack(
        [(shape_functions(order, points + h * e) - shape_functions(order, points - h * e)) / (2 * h) for e in np.eye(3)],
        axis=-1,
    )
    grads = shape_gradients(order, points)
    np.testing.assert_allclose(grads, numeric, atol=1e-8)
    np.testing.assert_allclose(np.einsum("qnk,nl->qkl", grads, nodes), np.broadcast_to(np.eye(3), (20, 3, 3)), atol=1e-12)
