"""femvalid's own kernels (numba) against scipy and pyamg, and their determinism.

Products sum in scipy's order, so they must match scipy's BSR product bit for bit;
reductions sum in fixed chunks (1e-14 relative to numpy's). The kernel cycle is
pyamg's cycle with the same smoothers, so it must give pyamg's preconditioned vector
to float32 rounding, and CG the same iteration count. Timings are measured by
``python -m benchmarks.run``, never asserted here.
"""

import numpy as np
import pytest
import scipy.sparse as sp

pytest.importorskip("numba")

from femvalid.fem import kernels_numba, solvers  # noqa: E402
from femvalid.fem.assembly import assemble_stiffness  # noqa: E402
from femvalid.fem.constraints import Constraints, reduce_system  # noqa: E402
from femvalid.fem.kernels import get_backend  # noqa: E402
from femvalid.fem.kernels_cycle import KernelCycle, _level, cg, p_level, p_prolongator  # noqa: E402
from femvalid.fem.smoothers import chebyshev_smoother, use_chebyshev  # noqa: E402
from femvalid.fem.solvers import PreparedSolver  # noqa: E402
from femvalid.fem.tie import faces_at_z, tie_to_faces  # noqa: E402
from femvalid.geometry import Surface  # noqa: E402
from femvalid.loadcases.axial import find_platen_contacts, platen_constraints  # noqa: E402
from femvalid.meshing import MeshSettings, mesh_surface  # noqa: E402
from tests.helpers import box_triangles  # noqa: E402

# Chosen at import (collection), before the per-test job cache is set: the compiled
# kernels land in the user's femvalid cache and later test runs load them from there.
BACKEND = get_backend("numba")


def box_mesh(lo, hi, size, order):
    return mesh_surface(Surface.from_triangles(box_triangles(lo, hi)), MeshSettings(size, order))


def platen_system(mesh, order):
    K = assemble_stiffness(mesh.nodes, mesh.elements, order, 110000.0, 0.3)
    contacts = find_platen_contacts(mesh.nodes, 1e-6)
    constraints = platen_constraints(mesh.nodes, contacts, "bonded", 1.0)
    return reduce_system(K, np.zeros(3 * len(mesh.nodes)), constraints, overwrite=True)


@pytest.fixture(scope="module")
def p1():
    mesh = box_mesh((0, 0, 0), (6, 4, 4), 0.4, 1)
    return mesh, platen_system(mesh, 1)


@pytest.fixture(scope="module")
def p2():
    mesh = box_mesh((0, 0, 0), (6, 4, 4), 0.8, 2)
    return mesh, platen_system(mesh, 2)


def random_bsr(rows, cols, R, C, dtype, seed=0, density=0.05):
    A = sp.random(rows * R, cols * C, density=density, random_state=seed, format="csr")
    return sp.bsr_matrix(A, blocksize=(R, C)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("R, C", [(3, 3), (3, 6), (6, 3), (6, 6), (2, 5)])
def test_block_products_match_scipy_bit_for_bit(R, C, dtype):
    A = random_bsr(90, 70, R, C, dtype)
    rng = np.random.default_rng(1)
    x = rng.standard_normal(A.shape[1]).astype(dtype)
    b = rng.standard_normal(A.shape[0]).astype(dtype)
    M = BACKEND.matrix(A)
    y = np.empty(A.shape[0], dtype)
    BACKEND.matvec(M, x, y)
    assert np.array_equal(y, A @ x)
    y = b.copy()
    BACKEND.matvec(M, x, y, 1)
    assert np.array_equal(y, b + A @ x)
    BACKEND.matvec(M, x, y, 2, b)
    assert np.array_equal(y, b - A @ x)
    # The serial and the threaded builds, and the generic kernel, give the same bits.
    for kernel in (kernels_numba.bsr_mv, kernels_numba.bsr_mv.serial):
        z = np.empty_like(y)
        kernel(M.chunks, M.indptr, M.indices, M.data, x, z, z, 0, A.dtype.type(0))
        assert np.array_equal(z, A @ x)


def test_stiffness_product_matches_scipy_bit_for_bit(p1):
    _, system = p1
    A = system.A
    x = np.random.default_rng(0).standard_normal(A.shape[0])
    for dtype in (np.float64, np.float32):
        y = np.empty(A.shape[0], dtype)
        BACKEND.matvec(BACKEND.matrix(A, dtype), x.astype(dtype), y)
        assert np.array_equal(y, A.astype(dtype) @ x.astype(dtype))


def test_reductions_and_cg_updates():
    rng = np.random.default_rng(2)
    n = 100_003  # several reduction chunks, a ragged last one
    x, y, p, q = (rng.standard_normal(n) for _ in range(4))
    assert BACKEND.dot(x, y) == pytest.approx(float(x @ y), rel=1e-14, abs=1e-14 * n)
    xr, rr = x.copy(), y.copy()
    norm = BACKEND.cg_update_xr(xr, rr, p, q, 0.37)
    assert np.array_equal(xr, x + 0.37 * p) and np.array_equal(rr, y - 0.37 * q)
    assert norm == pytest.approx(float(rr @ rr), rel=1e-14)
    pp = p.copy()
    BACKEND.cg_update_p(pp, q, 1.7)
    assert np.array_equal(pp, p * 1.7 + q)
    single = np.empty(n, np.float32)
    BACKEND.cast(x, single)
    assert np.array_equal(single, x.astype(np.float32))


def test_reductions_do_not_depend_on_the_number_of_threads():
    import numba

    x, y = np.random.default_rng(3).standard_normal((2, 1_000_000))
    before = numba.get_num_threads()
    try:
        results = set()
        for threads in sorted({1, before}):
            numba.set_num_threads(threads)
            results.add(BACKEND.dot(x, y))
            results.add(kernels_numba.dot.serial(x, y))
    finally:
        numba.set_num_threads(before)
    assert len(results) == 1


def test_fused_chebyshev_step_is_the_reference_smoother(p1):
    """One smoothing step from x = 0 and from x ≠ 0: the same bits as smoothers.chebyshev_smoother."""
    _, system = p1
    A = system.A.astype(np.float32)
    reference = chebyshev_smoother(A)
    level = _level(BACKEND, A, np.float32, 3, 10.0)
    b = np.random.default_rng(4).standard_normal(A.shape[0]).astype(np.float32)
    cycle = KernelCycle.__new__(KernelCycle)
    cycle.backend = BACKEND
    for start in (np.zeros_like(b), np.random.default_rng(5).standard_normal(A.shape[0]).astype(np.float32)):
        x_ref = start.copy()
        reference(A, x_ref, b)
        level.vectors["x"][:] = start
        level.vectors["b"][:] = b
        cycle._smooth(level, zero_x=not start.any())
        assert np.array_equal(level.vectors["x"], x_ref)


def test_kernel_cycle_is_pyamgs_preconditioner(p1):
    mesh, system = p1
    ml = solvers._hierarchy(system.A, mesh.nodes)
    assert len(ml.levels) >= 2
    cycle = KernelCycle(BACKEND, ml, np.float32, cycle="W")
    use_chebyshev(ml)
    M = ml.aspreconditioner(cycle="W")
    r = np.random.default_rng(6).standard_normal(system.A.shape[0])
    z = np.empty_like(r)
    cycle.apply(r, z)
    expected = M @ r.astype(np.float32)
    assert np.abs(z - expected).max() <= 1e-5 * np.abs(expected).max()


def test_numba_cg_matches_pyamg_cg(p1):
    """Same preconditioner, same recurrences: the same iteration count, answers within the tolerance."""
    mesh, system = p1
    rtol = 1e-10
    ref_x, ref = solvers.solve(system.A, system.b, mesh.nodes, "cg-amg", rtol)
    x, report = solvers.solve(system.A, system.b, mesh.nodes, "cg-amg-numba", rtol)
    assert report.method == "cg-amg-sa-single-numba"
    assert abs(report.iterations - ref.iterations) <= 1, (report.iterations, ref.iterations)
    assert report.residual <= 10 * rtol
    assert np.abs(x - ref_x).max() <= 1e-8 * np.abs(ref_x).max()


def test_solves_are_deterministic(p1, p2):
    """Two set-ups and solves of the same system give identical bits (the job cache relies on it)."""
    for (mesh, system), method in ((p1, "cg-amg-numba"), (p2, "cg-pmg-numba")):
        first = PreparedSolver(system.A, mesh.nodes, method, elements=mesh.elements).solve(system.b)[0]
        second = PreparedSolver(system.A, mesh.nodes, method, elements=mesh.elements).solve(system.b)[0]
        assert np.array_equal(first, second), method


def test_kernel_cg_from_a_start_vector(p1):
    mesh, system = p1
    solver = PreparedSolver(system.A, mesh.nodes, "cg-amg-numba")
    x, report = solver.solve(system.b, 1e-6)
    better, again = solver.solve(system.b, 1e-11, x0=x)
    assert again.residual <= 1e-10 and again.iterations < report.iterations + 10
    zero, nothing = solver.solve(np.zeros_like(system.b))
    assert nothing.iterations == 0 and not zero.any()


def test_kernel_cg_stops_on_breakdown():
    A = sp.bsr_matrix(sp.diags([1.0, -1.0, 1.0] * 2), blocksize=(3, 3))  # indefinite
    Ak = BACKEND.matrix(A)
    x, iterations, converged = cg(BACKEND, Ak, np.array([0, 1.0, 0, 0, 1, 0]), M=lambda r, z: z.__setitem__(
        slice(None), r))
    assert not converged


def test_p_prolongator_interpolates_linear_fields_exactly(p2):
    mesh, _ = p2
    vertices, T = p_prolongator(mesh.elements, len(mesh.nodes))
    assert set(vertices) == set(np.unique(mesh.elements[:, :4]))
    field = mesh.nodes @ np.array([0.3, -1.2, 0.7]) + 2.0  # linear: P1 = P2 on straight elements
    assert np.allclose(T @ field[vertices], field, rtol=0, atol=1e-12 * np.abs(field).max())
    assert np.allclose(T.sum(axis=1), 1.0)


def test_p_level_coarse_problem_is_the_galerkin_product(p2):
    mesh, system = p2
    level, A1, vertices = p_level(BACKEND, system.A, mesh.elements)
    _, T = p_prolongator(mesh.elements, len(mesh.nodes))
    P = sp.kron(T, sp.eye(3)).tocsr()
    expected = (P.T @ system.A.tocsr() @ P).toarray()
    assert np.abs(A1.toarray() - expected).max() <= 1e-12 * np.abs(expected).max()
    assert A1.shape == (3 * len(vertices),) * 2


def test_pmg_solves_p2_as_the_direct_solver(p2):
    mesh, system = p2
    exact, _ = solvers.solve(system.A, system.b, method="direct")
    x, report = solvers.solve(system.A, system.b, mesh.nodes, "cg-pmg-numba", 1e-10, elements=mesh.elements)
    _, amg = solvers.solve(system.A, system.b, mesh.nodes, "cg-amg", 1e-10)
    assert report.method == "cg-pmg-amg-sa-single-numba"
    assert np.abs(x - exact).max() <= 1e-7 * np.abs(exact).max()
    assert report.iterations <= amg.iterations + 2, (report.iterations, amg.iterations)
    # Without the elements (or on P1) it is the AMG cycle.
    _, plain = solvers.solve(system.A, system.b, mesh.nodes, "cg-pmg-numba", 1e-10)
    assert plain.method == "cg-amg-sa-single-numba"


def _stiff_on_soft(contrast, order):
    """A stiff block tied onto a wider soft one (non-matching meshes), base fixed, top pushed."""
    upper = box_mesh((2, 2, 4), (9, 8, 8), 0.8, order)
    lower = box_mesh((0, 0, 0), (11, 10, 4), 0.8, order)
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
    K = assemble_stiffness(nodes, elements, order, E, 0.3)
    system = reduce_system(K, np.zeros(3 * len(nodes)), Constraints(dofs, values, slave_dofs, T))
    interface = (3 * np.unique(masters)[:, None] + np.arange(3)).ravel()
    return nodes, elements, system, interface


@pytest.mark.slow
@pytest.mark.parametrize("order", [1, 2])
def test_kernel_solver_under_the_foam_contrast(order):
    """Titanium-on-foam contrast (1000:1), the interface solved exactly: the reference's iterations.

    Measured (iterations, cg-amg / cg-amg-numba): P1 13 / 13, P2 27 / 27. p-multigrid does
    not hold here (P2: 56 iterations with the interface solve, 186 without), so ``auto``
    keeps the AMG cycle wherever an interface is named.
    """
    nodes, elements, system, interface = _stiff_on_soft(1e3, order)
    ref_x, ref = solvers.solve(system.A, system.b, nodes, "cg-amg", 1e-10, interface=interface)
    x, report = solvers.solve(system.A, system.b, nodes, "cg-amg-numba", 1e-10, interface=interface)
    assert report.method == "cg-amg-sa-single-numba+interface"
    assert np.abs(x - ref_x).max() <= 1e-7 * np.abs(ref_x).max()
    assert abs(report.iterations - ref.iterations) <= 1, (report.iterations, ref.iterations)
    assert solvers.choose_solver(len(x), elements, interface) != "cg-pmg-numba"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("R, K, C", [(3, 3, 6), (6, 3, 3), (6, 3, 6), (6, 6, 6), (3, 3, 3), (2, 3, 4)])
def test_sparse_products_match_scipy_bit_for_bit(R, K, C, dtype):
    """The Galerkin products: scipy's pattern and, entry by entry, its arithmetic (indices sorted)."""
    A = random_bsr(40, 50, R, K, dtype, seed=1)
    B = random_bsr(50, 30, K, C, dtype, seed=2)
    ours, expected = BACKEND.product(A, B), A @ B
    expected.sort_indices()
    assert ours.blocksize == expected.blocksize
    assert np.array_equal(ours.indptr, expected.indptr) and np.array_equal(ours.indices, expected.indices)
    assert np.array_equal(ours.data, expected.data)


def test_hierarchy_with_kernel_products_is_pyamgs(p1):
    """pyamg's set-up with the kernels' products: the same operators to float32 rounding.

    (Each product is scipy's, bit for bit, but its rows come out sorted: the next product
    then sums in another order.)
    """
    mesh, system = p1
    ours = solvers._hierarchy(system.A, mesh.nodes, backend=BACKEND)
    reference = solvers._hierarchy(system.A, mesh.nodes)
    assert len(ours.levels) == len(reference.levels) >= 2
    for a, b in zip(ours.levels, reference.levels):
        x, y = sp.bsr_matrix(a.A), sp.bsr_matrix(b.A)
        x.sort_indices()
        y.sort_indices()
        assert np.array_equal(x.indices, y.indices)
        assert np.abs(x.data - y.data).max() <= 1e-5 * np.abs(y.data).max()
    # Outside the context scipy's products run as before.
    assert isinstance(system.A @ system.A, sp.bsr_matrix)


@pytest.mark.parametrize("order, size", [(1, 0.6), (2, 1.0)])
def test_compiled_assembly_is_the_numpy_assembly(order, size):
    """Blocks added into precomputed slots: numpy's pattern, its values to rounding, per-element materials."""
    mesh = box_mesh((0, 0, 0), (4, 3, 3), size, order)
    E = np.linspace(100.0, 110000.0, len(mesh.elements))
    reference = assemble_stiffness(mesh.nodes, mesh.elements, order, E, 0.3, kernel="numpy")
    compiled = assemble_stiffness(mesh.nodes, mesh.elements, order, E, 0.3, kernel="numba")
    assert np.array_equal(compiled.indptr, reference.indptr) and np.array_equal(compiled.indices, reference.indices)
    assert np.abs(compiled.data - reference.data).max() <= 1e-14 * np.abs(reference.data).max()
    assert abs(compiled - compiled.T).max() <= 1e-14 * np.abs(reference.data).max()
    again = assemble_stiffness(mesh.nodes, mesh.elements, order, E, 0.3, kernel="numba")
    assert np.array_equal(again.data, compiled.data)


def test_compiled_assembly_refuses_inverted_elements():
    mesh = box_mesh((0, 0, 0), (2, 2, 2), 1.0, 1)
    elements = mesh.elements.copy()
    elements[:2, [0, 1]] = elements[:2, [1, 0]]
    for kernel in ("numpy", "numba"):
        with pytest.raises(ValueError, match="2 elements are inverted"):
            assemble_stiffness(mesh.nodes, elements, 1, 1000.0, 0.3, kernel=kernel)


def test_one_thread_gives_the_same_bits(p1, monkeypatch):
    """FEMVALID_KERNEL_THREADS=1 runs the serial builds throughout: the same numbers to the last bit."""
    from femvalid.fem.kernels import NumbaBackend

    monkeypatch.setenv("FEMVALID_KERNEL_THREADS", "1")
    serial = NumbaBackend()
    assert serial.threads == 1
    mesh, system = p1
    A = sp.bsr_matrix(sp.kron(sp.eye(40), system.A.tocsr()), blocksize=(3, 3))  # above the serial threshold
    x = np.random.default_rng(7).standard_normal(A.shape[0])
    y1, y2 = np.empty_like(x), np.empty_like(x)
    serial.matvec(serial.matrix(A), x, y1)
    BACKEND.matvec(BACKEND.matrix(A), x, y2)
    assert np.array_equal(y1, y2) and serial.dot(x, y1) == BACKEND.dot(x, y2)


def _tentative(A, nodes_or_B, theta=0.02):
    """pyamg's strength, aggregation and tentative prolongator of a BSR level (T, C, coarse B)."""
    import pyamg

    C = pyamg.strength.symmetric_strength_of_connection(A, theta=theta)
    aggregates, _ = pyamg.aggregation.standard_aggregation(C)
    T, coarse = pyamg.aggregation.fit_candidates(aggregates, nodes_or_B)
    return T, C, coarse


def _same_bsr(x, y):
    return (x.blocksize == y.blocksize and np.array_equal(x.indptr, y.indptr) and np.array_equal(x.indices, y.indices)
            and np.array_equal(x.data, y.data))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_pass_prolongator_is_pyamgs(p1, dtype):
    """P = T − (ω/ρ) D⁻¹ A T in one pass: pyamg's Jacobi-smoothed prolongator bit for bit, 3×3 and 6×6 levels."""
    from pyamg.aggregation import smooth

    from femvalid.fem.kernels_prolong import smoothed_prolongator

    mesh, system = p1
    A = sp.bsr_matrix(system.A, blocksize=(3, 3)).astype(dtype)
    B = solvers.rigid_body_modes(mesh.nodes).astype(dtype)
    with solvers._spectral_radius_in_precision():
        T, C, coarse = _tentative(A, B)
        reference = smooth.jacobi_prolongation_smoother(A, T, C, coarse)
        ours = smoothed_prolongator(A, T, radius=smooth.approximate_spectral_radius)
        reference.sort_indices()
        assert _same_bsr(ours, reference)
        # The next level: 6×6 blocks (six rigid-body modes a node).
        A1 = (reference.T @ A @ reference).tobsr(blocksize=(6, 6))
        T1, C1, coarse1 = _tentative(A1, coarse)
        reference1 = smooth.jacobi_prolongation_smoother(A1, T1, C1, coarse1)
        reference1.sort_indices()
        assert _same_bsr(smoothed_prolongator(A1, T1, radius=smooth.approximate_spectral_radius), reference1)
        # One thread: the serial builds, the same bits.
        assert _same_bsr(smoothed_prolongator(A, T, rho=1.7, threads=1), smoothed_prolongator(A, T, rho=1.7))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(6, 3, 3, 6)])
def test_one_pass_galerkin_is_the_two_products(shape, dtype):
    """R·A·P without storing R·A: the bits of the kernels' (R·A)·P, scipy's product to rounding."""
    from femvalid.fem.kernels_galerkin import galerkin

    br, bk, ba, bp = shape
    rng = np.random.default_rng(3)
    R = random_bsr(30, 200, br, bk, dtype, seed=4, density=0.02)
    A = random_bsr(200, 200, bk, ba, dtype, seed=5, density=0.02)
    P = random_bsr(200, 30, ba, bp, dtype, seed=6, density=0.05)
    A.data[:] = rng.standard_normal(A.data.shape)
    ours = galerkin(R, A, P)
    assert _same_bsr(ours, BACKEND.product(BACKEND.product(R, A), P))
    assert _same_bsr(galerkin(R, A, P, threads=1), ours)
    expected = (R @ A @ P).toarray()
    tol = 1e-5 if dtype == np.float32 else 1e-13
    assert np.abs(ours.toarray() - expected).max() <= tol * np.abs(expected).max()


def test_galerkin_routing_falls_back_to_two_products():
    """Inside the hierarchy's context a routed R @ A waits for @ P; block shapes without a kernel get two products.

    (The first level's 6×3 · 3×3 · 3×6 has the one-pass kernel; 6×6 coarse levels and others the two products.)
    """
    R = random_bsr(20, 60, 2, 3, np.float64, seed=7, density=0.05)
    A = random_bsr(60, 60, 3, 3, np.float64, seed=8, density=0.05)
    P = random_bsr(60, 20, 3, 2, np.float64, seed=9, density=0.05)
    with solvers._kernel_products(BACKEND), solvers._one_pass_galerkin():
        pending = R @ A
        assert isinstance(pending, solvers._PendingGalerkin) and pending.shape == (40, 180)
        ours = pending @ P
        assert np.array_equal(pending.toarray(), BACKEND.product(R, A).toarray())
    assert _same_bsr(ours, BACKEND.product(BACKEND.product(R, A), P))
    assert np.abs(ours.toarray() - (R @ A @ P).toarray()).max() <= 1e-12 * np.abs(ours.toarray()).max()


@pytest.mark.parametrize("order", [1, 2])
def test_parallel_assembly_gives_the_serial_bits(p1, order, monkeypatch):
    """The row-parallel assembly sums each block in element order: any thread count, the same bits."""
    mesh = p1[0] if order == 1 else box_mesh((0, 0, 0), (6, 4, 4), 0.55, 2)
    assert mesh.elements.size >= kernels_numba.SERIAL_BELOW // 9  # the parallel build runs
    E = np.linspace(100.0, 110000.0, len(mesh.elements))
    parallel = assemble_stiffness(mesh.nodes, mesh.elements, order, E, 0.3, kernel="numba")
    monkeypatch.setattr(BACKEND, "threads", 1)
    serial = assemble_stiffness(mesh.nodes, mesh.elements, order, E, 0.3, kernel="numba")
    assert _same_bsr(parallel, serial)
    reference = assemble_stiffness(mesh.nodes, mesh.elements, order, E, 0.3, kernel="numpy")
    assert np.array_equal(parallel.indices, reference.indices)
    assert np.abs(parallel.data - reference.data).max() <= 1e-14 * np.abs(reference.data).max()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_candidate_sweep_is_pyamgs(p1, dtype):
    """All rigid-body modes in one symmetric block Gauss–Seidel sweep: pyamg's column-by-column B, bit for bit."""
    from pyamg.relaxation.utils import relaxation_as_linear_operator

    from femvalid.fem.kernels_relax import improved_candidates

    mesh, system = p1
    A = sp.bsr_matrix(system.A, blocksize=(3, 3)).astype(dtype)
    B = solvers.rigid_body_modes(mesh.nodes).astype(dtype)
    assert B.shape == (A.shape[0], 6)
    method = solvers.IMPROVE_CANDIDATES[0]
    reference = relaxation_as_linear_operator(method, A, np.zeros((A.shape[0], 1), dtype)) @ B
    assert np.array_equal(improved_candidates(A, B, method[1]["iterations"]), reference)
    assert np.array_equal(improved_candidates(A, B, 2), relaxation_as_linear_operator(
        ("block_gauss_seidel", {"sweep": "symmetric", "iterations": 2}), A, np.zeros((A.shape[0], 1), dtype)) @ B)


@pytest.mark.parametrize("order", [1, 2])
def test_compiled_stresses_are_the_numpy_stresses(p1, order, monkeypatch):
    """The one-pass stress kernel: numpy's stresses and weights to rounding, per-element materials, any thread count."""
    from femvalid.post.stress import stress_field

    mesh = p1[0] if order == 1 else box_mesh((0, 0, 0), (6, 4, 4), 0.55, 2)
    E = np.linspace(100.0, 110000.0, len(mesh.elements))
    u = np.random.default_rng(5).standard_normal(mesh.nodes.shape) * 1e-3
    reference = stress_field(mesh.nodes, mesh.elements, u, E, 0.3, kernel="numpy")
    compiled = stress_field(mesh.nodes, mesh.elements, u, E, 0.3, kernel="numba")
    assert np.abs(compiled.stress - reference.stress).max() <= 1e-12 * np.abs(reference.stress).max()
    assert np.abs(compiled.weights - reference.weights).max() <= 1e-14 * reference.weights.max()
    monkeypatch.setattr(BACKEND, "threads", 1)
    assert np.array_equal(stress_field(mesh.nodes, mesh.elements, u, E, 0.3, kernel="numba").stress, compiled.stress)
    mirrored = mesh.nodes * np.array([-1.0, 1.0, 1.0])  # every element inverted
    with pytest.raises(ValueError, match=f"{len(mesh.elements)} elements are inverted"):
        stress_field(mirrored, mesh.elements, u, E, 0.3, kernel="numba")


def test_chunked_strength_is_pyamgs(p1, monkeypatch):
    """Block norms in batches: pyamg's strength-of-connection matrix, bit for bit."""
    import pyamg
    from pyamg.aggregation import aggregation

    A = sp.bsr_matrix(p1[1].A, blocksize=(3, 3)).astype(np.float32)
    reference = pyamg.strength.symmetric_strength_of_connection(A, theta=solvers.THETA)
    monkeypatch.setattr(solvers, "STRENGTH_CHUNK", 1000)  # many batches
    with solvers._chunked_strength():
        chunked = aggregation.symmetric_strength_of_connection(A, theta=solvers.THETA)
    assert len(A.indices) > 10 * solvers.STRENGTH_CHUNK
    assert (np.array_equal(chunked.indptr, reference.indptr) and np.array_equal(chunked.indices, reference.indices)
            and np.array_equal(chunked.data, reference.data))


def test_scattered_aggregation_is_pyamgs_in_another_visiting_order(p1):
    """Aggregates of the scattered visit: pyamg's on the permuted strength graph, numbered by lowest node."""
    import pyamg
    from pyamg.aggregation import aggregation

    A = sp.bsr_matrix(p1[1].A, blocksize=(3, 3)).astype(np.float32)
    C = sp.csr_array(pyamg.strength.symmetric_strength_of_connection(A, theta=solvers.THETA))
    with solvers._scattered_aggregation():
        aggregates, roots = aggregation.standard_aggregation(C)
    n = C.shape[0]
    order = np.random.default_rng(solvers.AGGREGATION_SEED).permutation(n)
    visited = sp.csr_array(C[order][:, order])
    visited.sort_indices()
    reference, _ = pyamg.aggregation.standard_aggregation(visited)
    ours = sp.csr_array(aggregates)
    of_node = np.full(n, -1)
    of_node[np.repeat(np.arange(n), np.diff(ours.indptr))] = ours.indices
    expected = np.full(n, -1)
    reference = sp.csr_array(reference)
    expected[order[np.repeat(np.arange(n), np.diff(reference.indptr))]] = reference.indices
    # The same partition of the nodes, renamed: the k-th aggregate holds the k-th lowest first node.
    pairs = {(a, b) for a, b in zip(of_node, expected) if a >= 0}
    assert np.array_equal(of_node >= 0, expected >= 0) and len(pairs) == ours.shape[1] == reference.shape[1]
    first = [np.flatnonzero(of_node == k)[0] for k in range(ours.shape[1])]
    assert np.all(np.diff(first) > 0)
    assert len(roots) == ours.shape[1] and len(set(of_node[roots])) == len(roots)  # one root in each
