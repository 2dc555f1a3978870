"""Where a study's tasks run: in this process, a local process pool, or a Dask cluster.

A study is two kinds of task: meshing a design (once, or three times with ``[mesh]
refine``) and running one load case on those meshes. Tasks compute and return; they
never write into OUTDIR, so a worker on another machine needs no shared folder and
every file is written, atomically, by the process that owns the run.

Tasks never raise for a failure the user should read about: they return its reason,
because femvalid's exceptions do not cross process boundaries intact. A worker that
dies (killed, out of memory) surfaces as an exception from ``result()``: the runner
then asks the back-end to ``recover`` and runs the task once more.
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import multiprocessing
import os
from dataclasses import dataclass, field

import numpy as np

from femvalid.errors import FemvalidError, InputError, JobError

__all__ = ["MeshOutcome", "JobOutcome", "mesh_task", "job_task", "make_backend", "estimate_job_memory_bytes",
           "available_memory_bytes", "check_memory_for_workers", "SINGLE_THREAD_ENV"]

#: Environment that keeps each job's numerical libraries on one thread.
SINGLE_THREAD_ENV = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                            "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")}


@dataclass
class MeshOutcome:
    meshes: list | None  # finest first
    info: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    error: str = ""


@dataclass
class JobOutcome:
    analysis: object = None  # CaseAnalysis on the finest mesh
    convergence: dict = field(default_factory=dict)
    error: str = ""


def mesh_task(design, surface, report, sizes, order) -> MeshOutcome:
    """Mesh one design at each size (finest first)."""
    import time

    from femvalid.meshing import MeshSettings, mesh_surface
    from femvalid.verification.gci import representative_size

    started = time.perf_counter()
    try:
        meshes = [mesh_surface(surface, MeshSettings(h, order, surface=design.surface),
                                 source=str(design.stl)) for h in sorted(sizes)]
    except FemvalidError as exc:
        return MeshOutcome(None, error=exc.reason)
    mesh = meshes[0]
    info = {
        "nodes": len(mesh.nodes),
        "elements": len(mesh.elements),
        "order": mesh.order,
        "size_mm": min(sizes),
        "seconds": time.perf_counter() - started,
        "quality": mesh.quality.to_dict(),
        "volume_error_percent": 100.0 * mesh.quality.volume_error,
    }
    if len(meshes) > 1:
        info["refinement"] = [{"size_mm": m.size_mm, "elements": len(m.elements), "nodes": len(m.nodes),
                               "representative_size_mm": representative_size(m.volume, len(m.elements))} for m in meshes]
    return MeshOutcome(meshes, info, [*report.warnings, *report.repairs, *mesh.quality.warnings()])


def job_task(design, case, meshes, source: str, kind=None) -> JobOutcome:
    """Run one load case on the finest mesh, and on the coarser ones for the GCI.

    ``kind`` is the registered load-case type, handed over by the process that read
    the study: a type registered there (by a user's script) reaches this worker with
    the task, and is registered here too.
    """
    from femvalid.loadcases import LOADCASE_TYPES
    from femvalid.study.convergence import convergence

    if kind is None:
        kind = LOADCASE_TYPES[case.type]
    LOADCASE_TYPES.setdefault(case.type, kind)
    try:
        # Over- and underflow are caught below as non-finite results, not printed as numpy warnings.
        with np.errstate(all="ignore"):
            analysis = kind(meshes[0], design.material, case, source=source)
            check_finite(analysis.qoi, source)
            result = JobOutcome(analysis)
            if len(meshes) == 3:
                coarser = [kind(m, design.material, case, source=source).qoi for m in meshes[1:]]
                result.convergence = convergence(meshes, [analysis.qoi, *coarser])
        return result
    except FemvalidError as exc:
        return JobOutcome(error=exc.reason)


def check_finite(qoi: dict, source: str) -> None:
    """A result with an infinite or undefined quantity is a failed job, never a number in results.json."""
    bad = [k for k, v in qoi.items() if isinstance(v, float) and not np.isfinite(v)]
    if bad:
        raise JobError(source, f"{', '.join(bad)} came out {qoi[bad[0]]}: the loads or materials are outside "
                               "what a linear model can represent (check the force and the moduli)")


# --- back-ends -------------------------------------------------------------------


class _Deferred:
    """A task the serial back-end runs when the runner waits for it."""

    _order = itertools.count()

    def __init__(self, fn, args):
        self.fn, self.args, self.seq = fn, args, next(self._order)
        self.done, self.value, self.error = False, None, None

    def run(self):
        try:
            self.value = self.fn(*self.args)
        except BaseException as exc:  # handed to result(), like a pool's future
            self.error = exc
        self.done, self.fn, self.args = True, None, None

    def result(self):
        if self.error is not None:
            raise self.error
        return self.value


class Serial:
    """Everything in this process, newest task first (a design's jobs right after its mesh)."""

    description = "serial, in this process"

    def submit(self, fn, *args):
        return _Deferred(fn, args)

    def share(self, value):
        return value

    def recover(self):
        pass

    def wait(self, handles):
        task = max((h for h in handles if not h.done), key=lambda h: h.seq, default=None)
        if task is not None:
            task.run()
        return [h for h in handles if h.done]

    def close(self):
        pass


def _die_with_parent() -> None:
    """A pool worker ends when femvalid does, even killed (SIGKILL leaves no time to shut the pool down)."""
    import signal

    from femvalid.meshing.worker import _set_parent_death_signal

    _set_parent_death_signal(signal.SIGKILL)


class LocalPool:
    """``workers`` processes on this machine, each with single-threaded numerical libraries."""

    def __init__(self, workers: int):
        self.description = f"local process pool, {workers} workers"
        self.workers = workers
        # Workers start on demand and inherit this environment; this process's own
        # libraries are loaded already and keep theirs.
        self._saved = {k: os.environ.get(k) for k in SINGLE_THREAD_ENV}
        os.environ.update(SINGLE_THREAD_ENV)
        self.pool = cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                           initializer=_die_with_parent)

    def submit(self, fn, *args):
        return self.pool.submit(fn, *args)

    def recover(self):
        """A worker died: the pool is broken for good; start a fresh one."""
        if getattr(self.pool, "_broken", False):
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = cf.ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                               initializer=_die_with_parent)

    def share(self, value):
        return value

    def wait(self, handles):
        return list(cf.wait(handles, return_when=cf.FIRST_COMPLETED).done)

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _shared(value):
    """The value a Dask task hands to the jobs that depend on it."""
    return value


class DaskCluster:
    """An existing Dask distributed cluster, reached at ``address`` (never a default one)."""

    #: Each task is run again once on another worker when its worker dies.
    RETRIES = 1

    def __init__(self, address: str, security=None):
        try:
            from distributed import Client
        except ImportError:
            raise InputError("--scheduler", "Dask distributed is not installed: pip install distributed") from None
        try:
            self.client = Client(address, security=security, timeout="20s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(address, f"cannot reach the Dask scheduler: {exc}") from None
        workers = len(self.client.scheduler_info().get("workers", {}))
        self.description = f"Dask cluster at {address}, {workers} workers"

    def submit(self, fn, *args):
        return self.client.submit(fn, *args, pure=False, retries=self.RETRIES)

    def recover(self):
        pass  # the scheduler moves a dead worker's tasks to the others itself

    def share(self, value):
        # A task that returns the value, not scattered data: when a worker holding it dies,
        # the scheduler computes it again from the task. Scattered data cannot be recomputed,
        # and a worker killed during a broadcast left the jobs with "lost dependencies".
        import warnings

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Ll]arge object.*")  # the meshes are meant to travel
            return self.client.submit(_shared, value, pure=False)

    def wait(self, handles):
        from distributed import wait

        with self.client.as_current():
            try:
                return list(wait(handles, return_when="FIRST_COMPLETED").done)
            except Exception:  # a cancelled future: result() says why, and the runner retries
                return [h for h in handles if h.done() or h.cancelled()]

    def close(self):
        self.client.close()


def make_backend(workers: int = 1, scheduler: str | None = None, security=None):
    """The back-end for ``--workers`` / ``--scheduler``."""
    if scheduler:
        return DaskCluster(scheduler, security)
    return LocalPool(workers) if workers > 1 else Serial()


# --- memory --------------------------------------------------------------------------

#: Resident memory of one job beyond its linear system: interpreter, gmsh, VTK, numpy.
BASE_JOB_BYTES = 400e6
#: Peak bytes per degree of freedom measured for a whole job (mesh, assembly, AMG, post).
BYTES_PER_DOF = {1: 3000.0, 2: 6000.0}


def estimate_job_memory_bytes(volume_mm3: float, area_mm2: float, size_mm: float, order: int,
                              subsidence: bool = False) -> float:
    """Rough peak memory of one job, bytes (meant to err high).

    Nodes ≈ V/h³ + 2·A/h² for linear tetrahedra (fitted to the example implants within
    about 30 %, the surface term dominating at coarse sizes); quadratic ones have about
    seven times as many. Foam blocks about triple a subsidence model.
    """
    nodes = volume_mm3 / size_mm**3 + 2.0 * area_mm2 / size_mm**2
    if order == 2:
        nodes *= 7.0
    dofs = 3.0 * nodes * (3.0 if subsidence else 1.0)
    return BASE_JOB_BYTES + BYTES_PER_DOF[order] * dofs


def available_memory_bytes() -> float | None:
    """MemAvailable from /proc/meminfo, or None where there is none."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024.0
    except OSError:
        pass
    return None


def check_memory_for_workers(study, surfaces, workers: int) -> None:
    """Refuse more parallel jobs than this machine's available memory holds."""
    from femvalid.study.studyfile import mesh_sizes

    available = available_memory_bytes()
    if available is None:
        return
    subsidence = any(case.type == "subsidence" for case in study.loadcases)
    need = max(estimate_job_memory_bytes(abs(s.signed_volume), s.area, min(mesh_sizes(study, design, s)),
                                         study.mesh_order, subsidence) for design, (s, _) in zip(study.designs, surfaces))
    fits = int(available // need)
    if workers > fits:
        raise InputError("--workers", f"{workers} parallel jobs need about {workers * need / 1e9:.1f} GB "
                                      f"({need / 1e9:.1f} GB each for the largest design at its mesh size) but "
                                      f"{available / 1e9:.1f} GB is available; use --workers {max(fits, 1)}")
