"""Linear solvers: CG preconditioned by smoothed-aggregation AMG, and a direct one.

Solvers are looked up by name in :data:`SOLVERS`; ``"auto"`` picks the direct
solver for small systems (SuperLU's fill-in grows badly past about 50 k dofs) and
AMG-CG otherwise. Where a stiff body is tied to a soft one (titanium on foam, ~1000:1)
the interface carries error modes that no point smoother or aggregate reaches, and
AMG-CG slows down as the contrast grows (13 → 43 → 118 iterations at 1:1, 1000:1,
10 000:1, P1, measured in tests/test_subsidence.py); the caller then names the
interface dofs and the AMG cycle is wrapped in exact solves on that (two-dimensional,
cheaply factorised) layer, which keeps the count near the homogeneous one (12 → 13 → 13
P1, 18 → 27 → 25 P2). When CG stagnates, as AMG was seen to on thin struts and strong
stiffness contrasts, the direct solver takes over where it fits; an unconverged
answer is never returned.

The solvers by name (:data:`SOLVERS`; ``SolveReport.method`` says which ran, and
results.json records it):

- ``direct``: SuperLU.
- ``cg-amg``: the reference path, pyamg's hierarchy, cycle and CG on scipy's products.
- ``cg-amg-numba``: the same hierarchy, cycle and CG run by femvalid's own kernels
  (:mod:`femvalid.fem.kernels`): the same iteration counts, the answer within the
  tolerance, every bit reproducible.
- ``cg-pmg-numba``: for P2, p-multigrid: Chebyshev on the P2 matrix over the AMG
  W-cycle of the vertex (P1) Galerkin problem (needs the elements; otherwise it is
  ``cg-amg-numba``).

``auto`` (:func:`choose_solver`) picks by size, element order and interface.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from femvalid.errors import JobError
from femvalid.fem.smoothers import use_chebyshev

__all__ = ["SolveReport", "PreparedSolver", "solve", "choose_solver", "rigid_body_modes", "SOLVERS", "DIRECT_MAX_DOFS"]

#: "auto" solves directly up to this many dofs.
DIRECT_MAX_DOFS = 30_000
#: A stagnated CG falls back to the direct solver up to this many dofs.
FALLBACK_MAX_DOFS = 400_000
RTOL = 1e-10
#: AMG strength threshold: dropping the weakest couplings gave better aggregates
#: (P1 VBR 98 k dofs: 23 → 15 iterations; P2 cage 83 k: 22 → 20).
THETA = 0.02
#: ... and where a stiff body is tied to a soft one.
INTERFACE_THETA = 0.05
#: The AMG hierarchy is built and applied in single precision: half the memory and
#: memory traffic of the preconditioner; CG, its matrix and residuals stay double.
PRECONDITIONER_DTYPE = np.float32
#: One symmetric Gauss–Seidel sweep on the rigid-body modes before aggregation: pyamg's
#: default four cost 4.5 of 9.5 s of set-up at 730 k dofs and saved no iteration. Without
#: this one, CG needed one more iteration on three of seven meshes (P1-30k 10 → 10, P1-300k
#: 11 → 11, P2-300k 12 → 13, example cage A P1 155 k dofs 10 → 11, cage C P1 59 k 11 → 11,
#: cage A P2 83 k 11 → 12, VBR A P2 116 k 12 → 12), so it stays.
IMPROVE_CANDIDATES = [("block_gauss_seidel", {"sweep": "symmetric", "iterations": 1}), None]
#: W-cycles, with the Chebyshev smoothers of :mod:`femvalid.fem.smoothers`: the count stays
#: near the two-grid one as meshes grow (P1 benchmark 30 k → 1 M dofs: 10 → 11 iterations,
#: where the V-cycle went 11 → 15).
CYCLE = "W"


@dataclass
class SolveReport:
    """How a linear system was solved (seconds wall time)."""

    method: str
    dofs: int
    iterations: int
    residual: float  # ||b − A x|| / ||b||
    setup_seconds: float
    solve_seconds: float
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def rigid_body_modes(nodes: np.ndarray) -> np.ndarray:
    """The six rigid-body displacement fields (3N, 6): three translations, three rotations."""
    x = nodes - nodes.mean(axis=0)
    N = len(nodes)
    B = np.zeros((N, 3, 6))
    B[:, 0, 0] = B[:, 1, 1] = B[:, 2, 2] = 1.0
    # rotation about x: (0, −z, y); about y: (z, 0, −x); about z: (−y, x, 0)
    B[:, 1, 3], B[:, 2, 3] = -x[:, 2], x[:, 1]
    B[:, 0, 4], B[:, 2, 4] = x[:, 2], -x[:, 0]
    B[:, 0, 5], B[:, 1, 5] = -x[:, 1], x[:, 0]
    return B.reshape(3 * N, 6)


def _residual(A, x, b) -> float:
    norm = np.linalg.norm(b)
    return float(np.linalg.norm(b - A @ x) / norm) if norm > 0 else 0.0


def _direct(A, nodes=None, interface=None, elements=None):
    """SuperLU factors of A; returns the apply function (b, x0, rtol) → (x, iterations)."""
    lu = spla.splu(sp.csc_matrix(A))
    return "direct-superlu", lambda b, x0, rtol: (lu.solve(b), 1)


def _interface_wrapped(A, cycle, interface: np.ndarray):
    """Symmetric composition: exact solve on the interface dofs, AMG cycle, exact solve again.

    Its error propagation (I − Π)(I − M A)(I − Π), Π the A-orthogonal projection onto
    the interface dofs, is A-symmetric and contracting, so the preconditioner is SPD.
    """
    from femvalid.fem.constraints import bsr_rows

    # Only the interface rows are converted: a CSR copy of all of A would double its memory.
    lu = spla.splu(sp.csc_matrix(bsr_rows(sp.bsr_matrix(A, blocksize=(3, 3)), interface)[:, interface]))

    def apply(r):
        z = np.zeros_like(r)
        z[interface] = lu.solve(r[interface])
        z += cycle @ (r - A @ z)
        z[interface] += lu.solve((r - A @ z)[interface])
        return z

    return spla.LinearOperator(A.shape, apply, dtype=float)


@contextlib.contextmanager
def _spectral_radius_in_precision():
    """Make pyamg's prolongation smoothing deterministic and keep it in the matrix's precision.

    pyamg scales D⁻¹A by ω/ρ, ρ estimated by Arnoldi from a random start vector: the
    hierarchy (and so the last digits of an iterative answer) changed from run to run,
    and ρ, a double, silently promoted a single-precision hierarchy to double. ρ is
    estimated here from a fixed start vector and returned in the matrix's precision,
    by one 15-step Arnoldi pass without pyamg's restarts (which doubled its cost, 2.3 s
    at 1 M dofs, for a change in ρ of 0.2 % and no change in the iteration count).
    """
    from pyamg.aggregation import smooth

    original = smooth.approximate_spectral_radius

    def radius(A, *args, **kwargs):
        if kwargs.get("initial_guess") is None:
            start = np.random.default_rng(0).random((A.shape[0], 1))
            kwargs["initial_guess"] = start.astype(A.dtype)
        kwargs.update(maxiter=15, restart=0)
        return A.dtype.type(original(A, *args, **kwargs))

    smooth.approximate_spectral_radius = radius
    try:
        yield
    finally:
        smooth.approximate_spectral_radius = original


def _in_precision(cycle, dtype):
    """The AMG cycle applied in ``dtype``, to and from double precision."""
    if dtype == np.float64:
        return cycle
    return spla.LinearOperator(cycle.shape, lambda r: (cycle @ r.astype(dtype)).astype(np.float64), dtype=np.float64)


_routing = threading.local()
_routing_lock = threading.Lock()


def _install_product_routing() -> None:
    """Wrap scipy's BSR products once: within :func:`_kernel_products` (per thread) they go to its backend."""
    from scipy.sparse import _bsr

    base = _bsr._bsr_base
    with _routing_lock:
        if getattr(base, "_femvalid_routed", False):
            return
        original, original_vector = base._matmul_sparse, base._matmul_vector

        def product(self, other):
            backend = getattr(_routing, "backend", None)
            if (backend is not None and other.format == "bsr" and self.dtype == other.dtype
                    and self.dtype in (np.float32, np.float64) and self.blocksize[1] == other.blocksize[0]):
                if getattr(_routing, "galerkin", False) and self.shape[0] < self.shape[1] \
                        and other.shape[0] == other.shape[1]:
                    return _PendingGalerkin(self, other, backend)
                return self._bsr_container(backend.product(self, other))
            return original(self, other)

        def vector_product(self, other):
            backend = getattr(_routing, "backend", None)
            if backend is not None and self.dtype == other.dtype and self.dtype in (np.float32, np.float64) \
                    and other.ndim == 1:
                y = np.empty(self.shape[0], self.dtype)
                backend.matvec(backend.matrix(self), np.ascontiguousarray(other), y)
                return y
            return original_vector(self, other)

        base._matmul_sparse, base._matmul_vector = product, vector_product
        base._femvalid_routed = True


class _PendingGalerkin:
    """R·A as pyamg's ``R @ A @ P`` first forms it: kept unformed until ``@ P``, then R·A·P in one pass.

    :func:`femvalid.fem.kernels_galerkin.galerkin` gives the bits of ``(R @ A) @ P``
    without storing R·A (281 MB at the 1 M-dof P1 benchmark's memory peak: 1.54 -> 1.29
    KB/dof) on the first level; other block shapes (the coarse levels, whose R·A is
    small) get the two products. Anything but a product with a BSR matrix forms R·A first.
    """

    def __init__(self, R, A, backend):
        self.R, self.A, self.backend = R, A, backend
        self.shape, self.dtype, self.format = (R.shape[0], A.shape[1]), R.dtype, "bsr"

    def formed(self):
        return self.R._bsr_container(self.backend.product(self.R, self.A))

    def __matmul__(self, other):
        from femvalid.fem.kernels_galerkin import galerkin, supported

        if sp.issparse(other) and other.format == "bsr" and supported(self.R, self.A, other):
            return self.R._bsr_container(galerkin(self.R, self.A, other, self.backend.threads))
        return self.formed() @ other

    def __getattr__(self, name):  # any other use: the formed product
        if name in ("R", "A", "backend"):
            raise AttributeError(name)
        return getattr(self.formed(), name)


@contextlib.contextmanager
def _routed(name: str, value):
    """In this thread, ``_routing.<name>`` is ``value`` until the block ends (then what it was)."""
    previous = getattr(_routing, name, None)
    setattr(_routing, name, value)
    try:
        yield
    finally:
        setattr(_routing, name, previous)


def _one_pass_galerkin():
    """In this thread, routed ``R @ A`` (R wide, A square) waits for its ``@ P`` (:class:`_PendingGalerkin`)."""
    return _routed("galerkin", True)


def _kernel_products(backend):
    """In this thread, BSR × BSR and BSR × vector products of one precision go through the kernel backend.

    The products of the prolongation smoothing and the Galerkin operators R·A·P were
    44 % of pyamg's set-up in scipy's block loops; the backend's product does the same
    arithmetic entry by entry (bit for bit, tests/test_kernels.py) with unrolled block
    products on threads. Products with a vector (the spectral-radius estimates) give
    scipy's bits too. Other products, and other threads, go to scipy.
    """
    _install_product_routing()
    return _routed("backend", backend)


@contextlib.contextmanager
def _one_pass_prolongator(backend):
    """pyamg's Jacobi prolongation smoothing computed by :func:`femvalid.fem.kernels_prolong.smoothed_prolongator`.

    The same P, bit for bit (pyamg's rounding, its Arnoldi estimate of ρ(D⁻¹A) on the
    operator rather than on a scaled copy of A), without the two transient scaled copies
    of the level matrix (2 × 210 MB in single precision at 1 M dofs) and their passes.
    Other weightings, filtering or degrees go to pyamg's function.
    """
    from pyamg.aggregation import aggregation, smooth

    from femvalid.fem.kernels_prolong import smoothed_prolongator

    original = aggregation.jacobi_prolongation_smoother

    def jacobi(S, T, C, B, omega=4.0 / 3.0, degree=1, filter_entries=False, weighting="diagonal"):
        if (degree != 1 or filter_entries or weighting != "diagonal" or not sp.issparse(S) or S.format != "bsr"
                or S.blocksize[0] != S.blocksize[1] or S.blocksize[0] > 8 or S.dtype not in (np.float32, np.float64)):
            return original(S, T, C, B, omega=omega, degree=degree, filter_entries=filter_entries, weighting=weighting)
        return smoothed_prolongator(S, T, omega, threads=backend.threads, radius=smooth.approximate_spectral_radius)

    aggregation.jacobi_prolongation_smoother = jacobi
    try:
        yield
    finally:
        aggregation.jacobi_prolongation_smoother = original


class _SweptCandidates:
    """``relaxation @ B`` for pyamg's candidate improvement: all of B's columns in each sweep."""

    def __init__(self, A, sweeps: int):
        self.A, self.sweeps = A, sweeps

    def __matmul__(self, B):
        from femvalid.fem.kernels_relax import improved_candidates

        return improved_candidates(self.A, B, self.sweeps)


@contextlib.contextmanager
def _one_sweep_candidates():
    """pyamg's symmetric block Gauss–Seidel candidate improvement by :mod:`femvalid.fem.kernels_relax`.

    The same B, bit for bit, with two passes over the level matrix instead of two per
    rigid-body mode (0.39 of 1.54 s of set-up at 313 k dofs, P1). Other relaxations go
    to pyamg.
    """
    from pyamg.aggregation import aggregation

    original = aggregation.relaxation_as_linear_operator

    def relaxation(method, A, b):
        fn, kwargs = method if isinstance(method, tuple) else (method, {})
        if (fn != "block_gauss_seidel" or set(kwargs) - {"sweep", "iterations"} or kwargs.get("sweep") != "symmetric"
                or not sp.issparse(A) or A.format != "bsr" or A.blocksize != (3, 3)
                or A.dtype not in (np.float32, np.float64) or np.any(b)):
            return original(method, A, b)
        return _SweptCandidates(A, int(kwargs.get("iterations", 1)))

    aggregation.relaxation_as_linear_operator = relaxation
    try:
        yield
    finally:
        aggregation.relaxation_as_linear_operator = original


#: Seed of the fixed order in which the aggregation visits a level's nodes (:func:`_scattered_aggregation`).
AGGREGATION_SEED = 2077


@contextlib.contextmanager
def _scattered_aggregation():
    """pyamg's standard aggregation, visiting each level's nodes in a fixed scattered order.

    The greedy aggregation takes the nodes in their numbering. In the mesher's numbering
    for locality (reverse Cuthill–McKee, :mod:`femvalid.fem.ordering`) each new aggregate
    grows next to the last ones, whose nodes it cannot take: at 1.09 M dofs 19.1 k
    aggregates against 15.9 k in gmsh's numbering, a first coarse level of 31.7 M
    entries against 24.1 M and the set-up's memory peak with it (1.33 against 1.18 KB/dof).
    Visited in a fixed pseudo-random order (the same for every run), the aggregates are
    those of a scattered numbering; numbered by their lowest node, the coarse levels keep
    the fine level's locality.
    """
    from pyamg.aggregation import aggregation

    original = aggregation.standard_aggregation

    def scattered(C, **kwargs):
        C = sp.csr_array(C)
        n = C.shape[0]
        order = np.random.default_rng(AGGREGATION_SEED).permutation(n)
        position = np.empty(n, np.int64)
        position[order] = np.arange(n)
        visited = C[order][:, order]
        visited.sort_indices()
        aggregates, roots = original(sp.csr_array(visited), **kwargs)
        aggregates = sp.csr_array(aggregates)[position]  # back to the level's numbering
        member = np.repeat(np.arange(n), np.diff(aggregates.indptr))
        lowest = np.full(aggregates.shape[1], n)
        np.minimum.at(lowest, aggregates.indices, member)
        renamed = np.empty(aggregates.shape[1], np.int64)
        renamed[np.argsort(lowest, kind="stable")] = np.arange(aggregates.shape[1])
        aggregates = sp.csr_array((aggregates.data, renamed[aggregates.indices].astype(aggregates.indices.dtype),
                                   aggregates.indptr), shape=aggregates.shape)
        return aggregates, np.sort(order[roots])

    aggregation.standard_aggregation = scattered
    try:
        yield
    finally:
        aggregation.standard_aggregation = original


#: Blocks per batch of the block norms of the strength of connection.
STRENGTH_CHUNK = 1 << 20


@contextlib.contextmanager
def _chunked_strength():
    """pyamg's symmetric strength of a BSR matrix, its block norms computed in batches.

    pyamg squares every stored entry of the level at once (a temporary as large as the
    matrix's values: 127 MB for the first coarse level at 1.09 M dofs, the set-up's
    memory peak); the same numpy operations on batches of blocks give the same norms.
    """
    import pyamg.strength
    from pyamg.aggregation import aggregation

    original = aggregation.symmetric_strength_of_connection

    def strength(A, theta=0.0):
        if not (sp.issparse(A) and A.format == "bsr" and theta > 0 and A.blocksize[0] == A.blocksize[1]):
            return original(A, theta=theta)
        R, C = A.blocksize
        norms = np.empty(len(A.indices), A.dtype)
        for start in range(0, len(A.indices), STRENGTH_CHUNK):
            block = A.data[start:start + STRENGTH_CHUNK]
            norms[start:start + len(block)] = np.sqrt((np.conjugate(block) * block).reshape(-1, R * C).sum(axis=1))
        nodes = sp.csr_array((norms, A.indices, A.indptr), shape=(A.shape[0] // R, A.shape[1] // C))
        return pyamg.strength.symmetric_strength_of_connection(nodes, theta)

    aggregation.symmetric_strength_of_connection = strength
    try:
        yield
    finally:
        aggregation.symmetric_strength_of_connection = original


def _hierarchy(A, nodes=None, tied: bool = False, dtype=PRECONDITIONER_DTYPE, backend=None):
    """pyamg's smoothed-aggregation hierarchy of A (3×3 blocks, rigid-body modes of ``nodes``), in ``dtype``.

    ``backend``: a kernel backend that computes the hierarchy's sparse products, the
    smoothed prolongators (:func:`_one_pass_prolongator`), the Galerkin products
    (:class:`_PendingGalerkin`) and the candidate improvement (:func:`_one_sweep_candidates`).
    The strength of connection is pyamg's, with a smaller temporary (:func:`_chunked_strength`);
    its aggregation visits the nodes in a fixed scattered order (:func:`_scattered_aggregation`).
    """
    import pyamg

    B = rigid_body_modes(nodes) if nodes is not None else None
    # Across a 1000:1 interface the coupling is ~0.03 of the diagonals' geometric mean: a
    # threshold above it keeps aggregates within one material (34 instead of 43 P2 iterations).
    strength = ("symmetric", {"theta": INTERFACE_THETA if tied else THETA})
    products = _kernel_products(backend) if backend is not None else contextlib.nullcontext()
    prolongator = _one_pass_prolongator(backend) if backend is not None else contextlib.nullcontext()
    galerkin = _one_pass_galerkin() if backend is not None else contextlib.nullcontext()
    candidates = _one_sweep_candidates() if backend is not None else contextlib.nullcontext()
    # Sparse LU on the coarsest level: pyamg's default dense pseudo-inverse took seconds there.
    with _spectral_radius_in_precision(), products, prolongator, galerkin, candidates, _chunked_strength(), \
            _scattered_aggregation():
        return pyamg.smoothed_aggregation_solver(sp.bsr_matrix(A, blocksize=(3, 3)).astype(dtype),
                                                 B=None if B is None else B.astype(dtype), symmetry="symmetric",
                                                 strength=strength, max_coarse=1000, coarse_solver="splu",
                                                 improve_candidates=IMPROVE_CANDIDATES)


def _amg_cg(A, nodes=None, interface=None, elements=None, maxiter=400):
    """The AMG hierarchy of A (built once); returns the CG apply function (b, x0, rtol) → (x, iterations).

    The reference path: pyamg's hierarchy, cycle and CG, scipy's products.
    """
    from pyamg.krylov import cg

    tied = interface is not None and len(interface) > 0
    dtype = PRECONDITIONER_DTYPE
    ml = _hierarchy(A, nodes, tied, dtype)
    use_chebyshev(ml)
    M = _in_precision(ml.aspreconditioner(cycle=CYCLE), dtype)
    method = "cg-amg-sa" + ("-single" if dtype == np.float32 else "")
    if tied:
        M = _interface_wrapped(A, M, np.unique(interface))
        method += "+interface"

    def apply(b, x0, rtol):
        history: list[float] = []
        x, _ = cg(A, b, x0=x0, tol=rtol, maxiter=maxiter, M=M, residuals=history)
        return x, max(len(history) - 1, 0)

    return method, apply


def _kernel_cg(A, cycle, interface, method: str, maxiter: int):
    """CG with femvalid's kernels around ``cycle`` (a KernelCycle), the interface layer solved exactly."""
    from femvalid.fem.kernels_cycle import cg

    backend = cycle.backend
    Ak = backend.matrix(sp.bsr_matrix(A, blocksize=(3, 3)), np.float64)
    M = cycle.apply
    if interface is not None and len(interface) > 0:
        M = _interface_wrapped_kernels(A, Ak, cycle, np.unique(interface))
        method += "+interface"

    def apply(b, x0, rtol):
        x, iterations, _ = cg(backend, Ak, b, x0=x0, rtol=rtol, maxiter=maxiter, M=M)
        return backend.to_host(x), iterations

    return method, apply


def _interface_wrapped_kernels(A, Ak, cycle, interface: np.ndarray):
    """:func:`_interface_wrapped` with the kernel backend's products: M(r, z) writes z."""
    from femvalid.fem.constraints import bsr_rows

    be = cycle.backend
    lu = spla.splu(sp.csc_matrix(bsr_rows(sp.bsr_matrix(A, blocksize=(3, 3)), interface)[:, interface]))
    n = A.shape[0]
    work, inner = be.zeros(n, np.float64), be.zeros(n, np.float64)

    def apply(r, z):
        z[:] = 0.0
        z[interface] = lu.solve(r[interface])
        be.matvec(Ak, z, work, 2, r)  # work = r − A z
        cycle.apply(work, inner)
        z += inner
        be.matvec(Ak, z, work, 2, r)
        z[interface] += lu.solve(work[interface])

    return apply


def _amg_cg_numba(A, nodes=None, interface=None, elements=None, maxiter=400):
    """``cg-amg`` with femvalid's numba kernels: pyamg's hierarchy, the same cycle, own products and CG."""
    from femvalid.fem.kernels import get_backend
    from femvalid.fem.kernels_cycle import KernelCycle

    tied = interface is not None and len(interface) > 0
    dtype = PRECONDITIONER_DTYPE
    backend = get_backend("numba")
    ml = _hierarchy(A, nodes, tied, dtype, backend)
    with _kernel_products(backend):  # the smoothers' Lanczos estimates
        cycle = KernelCycle(backend, ml, dtype, cycle=CYCLE)
    return _kernel_cg(A, cycle, interface, "cg-amg-sa-single-numba", maxiter)


def _pmg_cg_numba(A, nodes=None, interface=None, elements=None, maxiter=400):
    """P2: Chebyshev on the P2 matrix over the AMG W-cycle of its vertex (P1) Galerkin problem.

    Needs the quadratic elements (VTK order); on other meshes it is ``cg-amg-numba``.
    """
    from femvalid.fem.kernels import get_backend
    from femvalid.fem.kernels_cycle import KernelCycle, p_level

    if elements is None or elements.shape[1] != 10:
        return _amg_cg_numba(A, nodes, interface, elements, maxiter)
    backend = get_backend("numba")
    tied = interface is not None and len(interface) > 0
    dtype = PRECONDITIONER_DTYPE
    with _kernel_products(backend):
        top, A1, vertices = p_level(backend, A, elements, dtype)
    ml = _hierarchy(A1, None if nodes is None else nodes[vertices], tied, dtype, backend)
    del A1
    with _kernel_products(backend):
        cycle = KernelCycle(backend, ml, dtype, top=[top], cycle=CYCLE)
    return _kernel_cg(A, cycle, interface, "cg-pmg-amg-sa-single-numba", maxiter)


#: Solvers by name: set-up functions (A, nodes, interface, elements) → (method name, apply(b, x0, rtol) → (x, iterations)).
SOLVERS = {"direct": _direct, "cg-amg": _amg_cg, "cg-amg-numba": _amg_cg_numba, "cg-pmg-numba": _pmg_cg_numba}
#: The iterative ones (a stagnated solve falls back to the direct solver).
ITERATIVE = ("cg-amg", "cg-amg-numba", "cg-pmg-numba")


def _numba_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("numba") is not None


def choose_solver(dofs: int, elements: np.ndarray | None = None, interface: np.ndarray | None = None,
                  direct_max_dofs: int = DIRECT_MAX_DOFS) -> str:
    """The solver ``"auto"`` picks for a system of ``dofs`` unknowns.

    The direct solver up to ``direct_max_dofs``; above, CG with femvalid's kernels
    (``cg-amg`` where numba is missing): p-multigrid for quadratic elements without a
    stiff-to-soft interface, where it was measured to hold (the P2 benchmark: 12
    iterations against 20); the AMG cycle otherwise (at a 1000:1 interface p-multigrid
    needed 56 iterations against 27).
    """
    if dofs <= direct_max_dofs:
        return "direct"
    if not _numba_available():
        return "cg-amg"
    tied = interface is not None and len(interface) > 0
    if elements is not None and elements.shape[1] == 10 and not tied:
        return "cg-pmg-numba"
    return "cg-amg-numba"


class PreparedSolver:
    """A solver set up once for a matrix (factors or AMG hierarchy), applied to many right-hand sides.

    Parameters
    ----------
    A : sparse SPD matrix (3N × 3N, N/mm)
    nodes : ndarray (N, 3), optional
        Node coordinates (mm) for the AMG near-null space (rigid-body modes).
    method : "auto" or a name in :data:`SOLVERS`
        ``"auto"``: see :func:`choose_solver`.
    interface : ndarray, optional
        Dofs of a tied interface between bodies of very different stiffness; AMG-CG
        then solves that layer exactly in each preconditioning step.
    elements : ndarray (m, 4 | 10), optional
        The mesh's elements (VTK order): with quadratic ones, p-multigrid can be used.
    """

    def __init__(self, A, nodes=None, method: str = "auto", interface: np.ndarray | None = None,
                 source: str = "solver", elements: np.ndarray | None = None):
        if method == "auto":
            method = choose_solver(A.shape[0], elements, interface)
        if method not in SOLVERS:
            raise ValueError(f"unknown solver {method!r}; known: {', '.join(SOLVERS)}")
        self.A, self.kind, self.source = A, method, source
        t0 = time.perf_counter()
        self.method, self._apply = SOLVERS[method](A, nodes=nodes, interface=interface, elements=elements)
        self.setup_seconds = time.perf_counter() - t0
        self._setup_reported = False
        self._direct = None

    def solve(self, b: np.ndarray, rtol: float = RTOL, x0: np.ndarray | None = None):
        """Solve A x = b; returns (x, SolveReport). The set-up time is reported by the first solve only.

        Raises
        ------
        JobError
            The solve did not reach the tolerance (and no fallback could).
        """
        A = self.A
        setup = 0.0 if self._setup_reported else self.setup_seconds
        self._setup_reported = True
        t0 = time.perf_counter()
        x, iterations = self._apply(b, x0, rtol)
        report = SolveReport(self.method, len(b), iterations, _residual(A, x, b), setup, time.perf_counter() - t0)
        if self.kind in ITERATIVE and not report.residual <= 10 * rtol:
            if len(b) > FALLBACK_MAX_DOFS:
                raise JobError(self.source, f"CG with AMG stagnated at relative residual {report.residual:.2e} "
                                            f"after {report.iterations} iterations; the system is too large for the "
                                            "direct fallback")
            stalled = report
            t0 = time.perf_counter()
            if self._direct is None:
                self._direct = _direct(A)[1]
            x, _ = self._direct(b, None, rtol)
            report = SolveReport("direct-superlu", len(b), 1, _residual(A, x, b),
                                 stalled.setup_seconds + stalled.solve_seconds, time.perf_counter() - t0,
                                 f"CG with AMG stagnated at {stalled.residual:.2e} after {stalled.iterations} "
                                 "iterations; solved directly")
        if not np.all(np.isfinite(x)) or not report.residual <= max(1e3 * rtol, 1e-8):
            raise JobError(self.source, f"linear solve failed: relative residual {report.residual:.2e} ({report.method})")
        return x, report


def solve(A, b, nodes=None, method: str = "auto", rtol: float = RTOL, source: str = "solver",
          interface: np.ndarray | None = None, x0: np.ndarray | None = None, elements: np.ndarray | None = None):
    """Solve A x = b once; returns (x, SolveReport). See :class:`PreparedSolver`."""
    return PreparedSolver(A, nodes, method, interface, source, elements).solve(b, rtol, x0)
