"""Chebyshev smoothing for the AMG cycle, checked against dense eigen-decompositions (scipy)."""

import numpy as np
import pytest
import scipy.linalg

from femvalid.fem.assembly import assemble_stiffness
from femvalid.fem.constraints import reduce_system
from femvalid.fem.smoothers import RATIO, SAFETY, block_diagonals, block_jacobi_spectral_radius, chebyshev_smoother
from femvalid.geometry import Surface
from femvalid.loadcases.axial import find_platen_contacts, platen_constraints
from femvalid.meshing import MeshSettings, mesh_surface
from tests.helpers import box_triangles


@pytest.fixture(scope="module")
def system():
    """A clamped-platen titanium block, about 900 dofs: small enough for dense eigenvalues."""
    mesh = mesh_surface(Surface.from_triangles(box_triangles((0, 0, 0), (4, 3, 3))), MeshSettings(0.75, 1))
    K = assemble_stiffness(mesh.nodes, mesh.elements, 1, 110000.0, 0.3)
    contacts = find_platen_contacts(mesh.nodes, 1e-6)
    A = reduce_system(K, np.zeros(3 * len(mesh.nodes)), platen_constraints(mesh.nodes, contacts, "bonded")).A
    D, Dinv = block_diagonals(A)
    eigenvalues, vectors = scipy.linalg.eigh(A.toarray(), D.toarray())  # A v = λ D v: the spectrum of D⁻¹A
    return A, D, Dinv, eigenvalues, vectors


def _smoother_matrix(A):
    """The linear map b ↦ x of one smoothing step from x = 0, as a dense matrix."""
    smooth = chebyshev_smoother(A)
    columns = []
    for b in np.eye(A.shape[0]):
        x = np.zeros(A.shape[0])
        smooth(A, x, b)
        columns.append(x)
    return np.array(columns).T


def test_lanczos_estimate_is_raised_above_the_largest_eigenvalue(system):
    A, D, Dinv, eigenvalues, _ = system
    estimate = block_jacobi_spectral_radius(A, D, Dinv)
    assert 0.9 * eigenvalues[-1] < estimate <= eigenvalues[-1] * (1 + 1e-9)
    assert SAFETY * estimate >= eigenvalues[-1]  # the damped interval covers the spectrum


def test_smoother_is_symmetric_and_damps_the_upper_spectrum(system):
    A, D, _, eigenvalues, vectors = system
    S = _smoother_matrix(A)
    assert np.abs(S - S.T).max() < 1e-10 * np.abs(S).max()  # keeps the AMG cycle symmetric for CG
    # Each generalised eigenvector v (A v = λ D v) is an eigenvector of I − S A, with factor p(λ).
    factors = np.einsum("ik,ik->k", vectors - S @ (A @ vectors), D @ vectors) / np.einsum("ik,ik->k", vectors, D @ vectors)
    assert np.all(np.abs(factors) < 1)  # a convergent smoother
    upper = SAFETY * block_jacobi_spectral_radius(A, D, Dinv=block_diagonals(A)[1])
    sigma = (1 + 1 / RATIO) / (1 - 1 / RATIO)
    chebyshev_bound = 1 / np.cosh(3 * np.arccosh(sigma))  # 1 / T₃(σ), degree 3
    damped = eigenvalues >= upper / RATIO
    assert damped.sum() > 0.5 * len(eigenvalues)
    assert np.abs(factors[damped]).max() <= chebyshev_bound * (1 + 1e-6)
