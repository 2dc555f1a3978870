"""femvalid's own sparse kernels, behind one small backend interface.

The solvers of :mod:`femvalid.fem.solvers` that carry ``-numba`` in their name run
their CG iterations and multigrid cycles through a :class:`Backend`: block sparse
(BSR) products in the hierarchy's precision, a fused Chebyshev step (product,
block-Jacobi scaling and update in one pass), CG's vector updates and deterministic
dot products. The one backend built is :class:`NumbaBackend` (CPU threads, numba);
a GPU backend (CuPy, NVIDIA Warp) would implement the same methods on device arrays
and run the same algorithm (:mod:`femvalid.fem.kernels_cycle`) unchanged: only
:meth:`Backend.matrix`, :meth:`Backend.asarray` and :meth:`Backend.to_host` move data.

Determinism: the same inputs give the same bits on every run and any number of
threads (each row is summed by one thread in stored order, reductions in fixed
chunks added in order; see :mod:`femvalid.fem.kernels_numba`). The cache of
results and the provenance rely on it.

Compiled kernels are cached under femvalid's cache folder
(``femvalid.study.paths.cache_dir() / "numba"``, or ``NUMBA_CACHE_DIR`` where it is
set), so only the first run on a machine pays the compilation.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

__all__ = ["Backend", "BsrMatrix", "NumbaBackend", "get_backend", "BACKENDS", "numba_cache_dir", "kernel_threads"]


def numba_cache_dir() -> Path:
    """Where numba keeps compiled kernels: $NUMBA_CACHE_DIR, else femvalid's cache folder / numba."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"])
    from femvalid.study.paths import cache_dir

    return cache_dir() / "numba"


def _prepare_numba_cache() -> None:
    """Point numba's cache at :func:`numba_cache_dir` (a temporary folder if it cannot be created)."""
    path = numba_cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
        if not os.access(path, os.W_OK):
            raise OSError(f"{path} is not writable")
    except OSError:
        path = Path(tempfile.gettempdir()) / f"femvalid-numba-{os.getuid() if hasattr(os, 'getuid') else 0}"
        path.mkdir(parents=True, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = str(path)
    # Threads that wait for work sleep instead of spinning: on a machine shared with other
    # work, spinning OpenMP threads made every parallel kernel wait for a descheduled one
    # (median 18.6 ms against 6.2 ms for one product at 313 k dofs, 2 cores, load 4).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import sys

    if "numba" in sys.modules:  # imported already (by another library): set its configuration too
        from numba.core import config

        config.CACHE_DIR = str(path)


#: The kernels' threads unless FEMVALID_KERNEL_THREADS says otherwise (see :func:`kernel_threads`).
DEFAULT_THREADS = 0


def kernel_threads() -> int:
    """Threads for the kernels: $FEMVALID_KERNEL_THREADS, else :data:`DEFAULT_THREADS`; 0 means numba's count.

    With 1 the serial builds run throughout (no thread pool is started).
    """
    value = os.environ.get("FEMVALID_KERNEL_THREADS", "").strip()
    try:
        threads = int(value) if value else DEFAULT_THREADS
    except ValueError:
        threads = DEFAULT_THREADS
    if threads <= 0:
        import numba

        threads = numba.config.NUMBA_NUM_THREADS
    return threads


@dataclass(eq=False)
class BsrMatrix:
    """A BSR matrix on a backend: blocks (nb, R, C), block-row pointers and block-column indices."""

    indptr: object
    indices: object
    data: object
    shape: tuple[int, int]
    blocksize: tuple[int, int]
    chunks: object  # row boundaries of the parallel work units

    @property
    def dtype(self):
        return self.data.dtype


class Backend:
    """The operations the kernel solvers need; arrays are the backend's own (numpy for numba).

    Products: ``mode`` 0 gives y = A x, 1 gives y = y + A x, 2 gives y = b − A x.
    """

    name = "abstract"
    bytes_moved = 0

    def matrix(self, A: sp.bsr_matrix, dtype=None) -> BsrMatrix: ...
    def asarray(self, x: np.ndarray, dtype=None): ...
    def to_host(self, x) -> np.ndarray: ...
    def empty(self, n: int, dtype): ...
    def zeros(self, n: int, dtype): ...
    def matvec(self, A: BsrMatrix, x, y, mode: int = 0, b=None) -> None: ...
    def chebyshev_first(self, A: BsrMatrix, dinv, r, x, d, theta: float, zero_x: bool) -> None: ...
    def chebyshev_step(self, A: BsrMatrix, dinv, r, d, d_next, x, c1: float, c2: float) -> None: ...
    def dot(self, x, y) -> float: ...
    def cg_update_xr(self, x, r, p, q, alpha: float) -> float: ...
    def cg_update_p(self, p, z, beta: float) -> None: ...
    def cast(self, x, y) -> None: ...
    def copy(self, x, y) -> None: ...
    def product(self, A: sp.bsr_matrix, B: sp.bsr_matrix) -> sp.bsr_matrix: ...


class NumbaBackend(Backend):
    """CPU threads through numba (the number of threads is numba's: NUMBA_NUM_THREADS, else the cores)."""

    name = "numba"

    def __init__(self):
        _prepare_numba_cache()
        from femvalid.fem import kernels_assembly, kernels_blocks, kernels_numba

        self.k, self.blocks, self.assembly = kernels_numba, kernels_blocks, kernels_assembly
        self.threads = kernel_threads()
        #: Bytes the kernels have read and written so far (matrix and vectors, each once a
        #: call): with a CG iteration's time, how close it runs to the memory's streaming rate.
        self.bytes_moved = 0

    def matrix(self, A, dtype=None) -> BsrMatrix:
        if not isinstance(A, sp.bsr_matrix):
            A = sp.bsr_matrix(A)
        dtype = A.dtype if dtype is None else np.dtype(dtype)
        indptr = np.ascontiguousarray(A.indptr)
        indices = np.ascontiguousarray(A.indices)
        data = np.ascontiguousarray(A.data, dtype=dtype)
        return BsrMatrix(indptr, indices, data, A.shape, A.blocksize, self.k.row_chunks(indptr))

    def asarray(self, x, dtype=None):
        return np.ascontiguousarray(x, dtype=dtype)

    def to_host(self, x):
        return x

    def empty(self, n, dtype):
        return np.empty(n, dtype)

    def zeros(self, n, dtype):
        return np.zeros(n, dtype)

    def _pick(self, kernel, work: int):
        return kernel.serial if self.threads == 1 or work < self.k.SERIAL_BELOW else kernel

    def matvec(self, A, x, y, mode=0, b=None):
        kernel = self.blocks.MV.get(A.blocksize, self.k.bsr_mv)
        kernel = self._pick(kernel, A.data.size)
        kernel(A.chunks, A.indptr, A.indices, A.data, x, y, y if b is None else b, mode, A.data.dtype.type(0))
        self.bytes_moved += _matrix_bytes(A) + x.nbytes + y.nbytes * (1 if mode == 0 else 2)

    def chebyshev_first(self, A, dinv, r, x, d, theta, zero_x):
        kernel = self._pick(self.blocks.CHEB_FIRST.get(dinv.shape[1], self.k.cheb_first), dinv.size)
        kernel(A.chunks, dinv, r, x, d, dinv.dtype.type(theta), zero_x)
        self.bytes_moved += dinv.nbytes + r.nbytes + d.nbytes + x.nbytes * (1 if zero_x else 2)

    def chebyshev_step(self, A, dinv, r, d, d_next, x, c1, c2):
        square = A.blocksize[0] == A.blocksize[1]
        kernel = self.blocks.CHEB_STEP.get(A.blocksize[0], self.k.cheb_step) if square else self.k.cheb_step
        kernel = self._pick(kernel, A.data.size)
        t = A.data.dtype.type
        kernel(A.chunks, A.indptr, A.indices, A.data, dinv, r, d, d_next, x, t(c1), t(c2), t(0))
        self.bytes_moved += _matrix_bytes(A) + dinv.nbytes + 2 * r.nbytes + d.nbytes + d_next.nbytes + 2 * x.nbytes

    def dot(self, x, y):
        self.bytes_moved += x.nbytes + y.nbytes
        return float(self._pick(self.k.dot, len(x))(x, y))

    def cg_update_xr(self, x, r, p, q, alpha):
        self.bytes_moved += 2 * x.nbytes + 2 * r.nbytes + p.nbytes + q.nbytes
        return float(self._pick(self.k.cg_update_xr, len(x))(x, r, p, q, float(alpha)))

    def cg_update_p(self, p, z, beta):
        self.bytes_moved += 2 * p.nbytes + z.nbytes
        self._pick(self.k.cg_update_p, len(p))(p, z, float(beta))

    def cast(self, x, y):
        self.bytes_moved += x.nbytes + y.nbytes
        self._pick(self.k.cast, len(x))(x, y)

    def copy(self, x, y):
        self.cast(x, y)

    def product(self, A: sp.bsr_matrix, B: sp.bsr_matrix) -> sp.bsr_matrix:
        """The sparse product A·B of two BSR matrices of one precision (scipy's arithmetic, sorted indices)."""
        shape = (A.blocksize[0], A.blocksize[1], B.blocksize[1])
        return self.k.spgemm(A, B, self.blocks.SPGEMM.get(shape))


def _matrix_bytes(A: BsrMatrix) -> int:
    return A.data.nbytes + A.indices.nbytes + A.indptr.nbytes


#: Backends by name; a GPU one would be added here.
BACKENDS = {"numba": NumbaBackend}
_instances: dict[str, Backend] = {}


def get_backend(name: str = "numba") -> Backend:
    """The backend of that name (created once per process)."""
    if name not in BACKENDS:
        raise ValueError(f"unknown kernel backend {name!r}; known: {', '.join(BACKENDS)}")
    if name not in _instances:
        _instances[name] = BACKENDS[name]()
    return _instances[name]
