"""One engine on one mesh, in a fresh process: timings, CG iterations, memory, answer.

    python -m benchmarks.engines ENGINE MESH.npz OUTDIR [--rtol 1e-8] [--memory-limit-gb G]

ENGINE is one of :data:`ENGINES`:

- ``femvalid``: assemble_stiffness + reduce_system, then the iterative solver that
  ``method="auto"`` picks above its direct-solver limit (femvalid's kernels:
  ``cg-amg-numba``, or ``cg-pmg-numba`` for P2), then stress_field + von Mises; the
  cost of one sparse matrix–vector product with the system matrix (scipy's and
  femvalid's kernel), the memory's streaming rate and the bytes the kernels moved per
  CG iteration are measured after the solve, in the same process;
- ``femvalid-pyamg``: the same with the reference solver ``cg-amg`` (pyamg's cycle and
  CG, scipy's products), so that both are timed side by side in one run;
- ``sfepy-default``: SfePy's default pipeline as femvalid.verification.sfepy_engine
  builds it (integration order 2·p, ScipyDirect, Newton with one iteration);
- ``sfepy-best``: SfePy's own assembly at the lowest exact integration order
  (1 for P1, 2 for P2) and its ``ls.pyamg_krylov`` CG preconditioned by pyamg
  smoothed aggregation on 3×3 blocks, rigid-body modes as near-null space.

It writes OUTDIR/result.json (numbers, units in the names) and
OUTDIR/displacement_mm.npy (N, 3), in the mesh's node order. Memory: the peak
resident set (``ru_maxrss``) and its increase over the resident set once the
libraries are imported and the mesh is loaded; that increase per dof is the KB/DOF
figure. An address-space limit (``--memory-limit-gb``) turns a solver that would
exhaust the machine into a MemoryError.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import io
import json
import resource
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from benchmarks.cases import CONTACT_TOLERANCE_MM, POISSON_RATIO, TRAVEL_MM, YOUNGS_MODULUS_MPA, load_mesh

__all__ = ["ENGINES", "run_femvalid", "run_sfepy", "rigid_body_modes", "spmv_seconds", "main"]

ENGINES = ("femvalid", "femvalid-pyamg", "sfepy-default", "sfepy-best")
#: The solver each femvalid engine runs (None: what "auto" picks for an iterative solve).
FEMVALID_SOLVERS = {"femvalid": None, "femvalid-pyamg": "cg-amg"}
RTOL = 1e-8
#: The AMG settings femvalid uses, given to SfePy's pyamg solve as well.
AMG_OPTIONS = dict(symmetry="symmetric", strength=("symmetric", {"theta": 0.0}), max_coarse=1000, coarse_solver="splu")


def current_rss_kb() -> int:
    """Resident set size of this process now, KB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def peak_rss_kb() -> int:
    """Largest resident set size of this process so far, KB (Linux reports KB)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def rigid_body_modes(coords: np.ndarray) -> np.ndarray:
    """(3N, 6) translations and rotations of points (N, 3), node-major dofs."""
    x = coords - coords.mean(axis=0)
    B = np.zeros((len(coords), 3, 6))
    B[:, 0, 0] = B[:, 1, 1] = B[:, 2, 2] = 1.0
    B[:, 1, 3], B[:, 2, 3] = -x[:, 2], x[:, 1]
    B[:, 0, 4], B[:, 2, 4] = x[:, 2], -x[:, 0]
    B[:, 0, 5], B[:, 1, 5] = -x[:, 1], x[:, 0]
    return B.reshape(-1, 6)


def spmv_seconds(A, min_seconds: float = 0.2, min_repeats: int = 5, max_repeats: int = 50) -> float:
    """Median wall time of one product A @ x (scipy)."""
    x = np.random.default_rng(0).standard_normal(A.shape[1])
    return _median_time(lambda: A @ x, min_seconds, min_repeats, max_repeats)


def _import_engine(engine: str) -> None:
    """Import the engine's libraries before the memory baseline is taken."""
    if engine in FEMVALID_SOLVERS:
        import pyamg.krylov  # noqa: F401

        import femvalid.fem.assembly  # noqa: F401
        import femvalid.fem.constraints  # noqa: F401
        import femvalid.fem.solvers  # noqa: F401
        import femvalid.loadcases.axial  # noqa: F401
        import femvalid.post.stress  # noqa: F401
        if engine == "femvalid":  # numba and the kernel modules (compiled code loads on first use)
            from femvalid.fem.kernels import get_backend

            get_backend()
    else:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            import sfepy.terms  # noqa: F401  (announces optional back-ends it cannot load)
        import pyamg.krylov  # noqa: F401
        import sfepy.discrete  # noqa: F401
        import sfepy.discrete.fem  # noqa: F401
        import sfepy.solvers.ls  # noqa: F401
        import sfepy.solvers.nls  # noqa: F401


def stream_GBps(megabytes: int = 256, repeats: int = 5) -> float:
    """The memory's streaming rate: the best of a few numpy copies of a large array (read + write), GB/s."""
    source = np.ones(megabytes * 2**20 // 8)
    target = np.empty_like(source)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        np.copyto(target, source)
        best = min(best, time.perf_counter() - started)
    return 2 * source.nbytes / best / 1e9


def kernel_spmv_seconds(A, dtype, min_seconds: float = 0.2, min_repeats: int = 5, max_repeats: int = 50) -> float:
    """Median wall time of one product with femvalid's kernel, in ``dtype``."""
    from femvalid.fem.kernels import get_backend

    backend = get_backend()
    M = backend.matrix(A, dtype)
    x = np.random.default_rng(0).standard_normal(A.shape[1]).astype(dtype)
    y = np.empty(A.shape[0], dtype)
    return _median_time(lambda: backend.matvec(M, x, y), min_seconds, min_repeats, max_repeats)


def _median_time(f, min_seconds, min_repeats, max_repeats) -> float:
    f()  # warm up
    times: list[float] = []
    while len(times) < max_repeats and (len(times) < min_repeats or sum(times) < min_seconds):
        started = time.perf_counter()
        f()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def run_femvalid(nodes: np.ndarray, elements: np.ndarray, rtol: float = RTOL,
                 method: str | None = None):
    """femvalid's pipeline, timed stage by stage; (record, displacement (N, 3) mm, after_peak).

    ``method``: a solver name; None runs what ``auto`` picks for an iterative solve.
    ``after_peak()`` returns the measurements to make once the peak memory is read.
    """
    from femvalid.fem.assembly import assemble_stiffness
    from femvalid.fem.constraints import reduce_system
    from femvalid.fem.ordering import renumbered, well_ordered
    from femvalid.fem.solvers import choose_solver, solve
    from femvalid.loadcases.axial import find_platen_contacts, platen_constraints
    from femvalid.post.stress import stress_field, von_mises

    order = 1 if elements.shape[1] == 4 else 2
    F = np.zeros(3 * len(nodes))
    # As femvalid.fem.system.solve_elasticity does: reduce K in place where reduce_system can.
    in_place = {"overwrite": True} if "overwrite" in inspect.signature(reduce_system).parameters else {}
    t0 = time.perf_counter()
    node_order = None
    if not well_ordered(elements, len(nodes)):  # femvalid's mesher numbers for locality; a mesh from elsewhere
        nodes, elements, node_order, _ = renumbered(nodes, elements)
    t_order = time.perf_counter()
    contacts = find_platen_contacts(nodes, CONTACT_TOLERANCE_MM)
    constraints = platen_constraints(nodes, contacts, "bonded", TRAVEL_MM)
    t1 = time.perf_counter()
    K = assemble_stiffness(nodes, elements, order, YOUNGS_MODULUS_MPA, POISSON_RATIO)
    t2 = time.perf_counter()
    system = reduce_system(K, F, constraints, **in_place)
    t3 = time.perf_counter()
    if method is None:
        method = choose_solver(system.A.shape[0], elements, None, direct_max_dofs=0)
    kernels = method.endswith("-numba")
    if kernels:
        from femvalid.fem.kernels import get_backend

        get_backend().bytes_moved = 0
    w, report = solve(system.A, system.b, nodes=nodes, method=method, rtol=rtol, elements=elements)
    moved = get_backend().bytes_moved if kernels else None
    u = system.expand(w)
    t4 = time.perf_counter()
    stresses = stress_field(nodes, elements, u.reshape(-1, 3), YOUNGS_MODULUS_MPA, POISSON_RATIO)
    vm = von_mises(stresses.stress)
    t5 = time.perf_counter()
    reactions = (system.reactions(u, F) if hasattr(system, "reactions") else K @ u - F).reshape(-1, 3)
    spmv = spmv_seconds(system.A)
    iteration = report.solve_seconds / report.iterations if report.iterations else float("nan")
    record = {
        "ordering_seconds": t_order - t0,
        "renumbered": node_order is not None,
        "constraints_seconds": t1 - t_order,
        "stiffness_seconds": t2 - t1,
        "reduce_seconds": t3 - t2,
        "assembly_seconds": t3 - t1 + (t_order - t0),
        "precond_seconds": report.setup_seconds,
        "solve_seconds": report.solve_seconds,
        "post_seconds": t5 - t4,
        "total_seconds": t5 - t0,
        "iterations": int(report.iterations),
        "relative_residual": float(report.residual),
        "solver": report.method,
        "solver_note": report.note,
        "spmv_seconds": spmv,
        "cg_iteration_seconds": iteration,
        "cg_iteration_per_spmv": iteration / spmv,
        "stiffness_N_per_mm": float(-reactions[contacts.top, 2].sum() / TRAVEL_MM),
        "von_mises_max_MPa": float(vm.max()),
        "system_nnz": int(system.A.nnz),
        "reduced_in_place": bool(in_place),
        "solver_name": method,
    }

    def after_peak() -> dict:
        """Measurements that allocate (a float32 matrix, large arrays): made once the peak memory is read."""
        if not kernels:
            return {}
        stream = stream_GBps()
        per_iteration = moved / report.iterations if report.iterations else float("nan")
        return {"kernel_spmv_seconds": kernel_spmv_seconds(system.A, np.float64),
                "kernel_spmv_single_seconds": kernel_spmv_seconds(system.A, np.float32),
                "stream_GBps": stream,
                "cg_bytes_per_iteration": per_iteration,
                "cg_GBps": per_iteration / iteration / 1e9,
                "cg_fraction_of_stream": per_iteration / iteration / 1e9 / stream}

    u = u.reshape(-1, 3)
    if node_order is not None:  # back to the given numbering
        given_u = np.empty_like(u)
        given_u[node_order] = u
        u = given_u
    return record, u, after_peak


def _whole_nodes(active: np.ndarray) -> bool:
    """Are the active dofs whole nodes (x, y, z of node i at 3i, 3i+1, 3i+2)?"""
    if len(active) % 3:
        return False
    triples = active.reshape(-1, 3)
    return bool(np.all(triples[:, 0] % 3 == 0) and np.all(triples - triples[:, :1] == [0, 1, 2]))


def _sfepy_problem(nodes, elements, variant: str, rtol: float, timings: dict):
    """SfePy's bonded-platen problem; returns (problem, material, field, integration order, Newton status)."""
    from sfepy.base.base import IndexedStruct, output
    from sfepy.discrete import Equation, Equations, FieldVariable, Integral, Material, Problem
    from sfepy.discrete.conditions import Conditions, EssentialBC
    from sfepy.discrete.fem import FEDomain, Field, Mesh
    from sfepy.mechanics.matcoefs import stiffness_from_youngpoisson
    from sfepy.solvers.ls import PyAMGKrylovSolver, ScipyDirect
    from sfepy.solvers.nls import Newton
    from sfepy.terms import Term

    output.set_output(quiet=True)
    order = 1 if elements.shape[1] == 4 else 2
    quadrature_order = 2 * order if variant == "default" else max(1, 2 * (order - 1))
    corners = elements[:, :4]
    used = np.unique(corners)
    index = np.full(len(nodes), -1)
    index[used] = np.arange(len(used))
    mesh = Mesh.from_data("implant", nodes[used], None, [index[corners].astype(np.int32)],
                          [np.zeros(len(corners), np.int32)], ["3_4"])
    domain = FEDomain("domain", mesh)
    omega = domain.create_region("Omega", "all")
    z = nodes[used, 2]
    bottom = domain.create_region("Bottom", f"vertices in (z < {z.min() + CONTACT_TOLERANCE_MM:.12f})", "facet")
    top = domain.create_region("Top", f"vertices in (z > {z.max() - CONTACT_TOLERANCE_MM:.12f})", "facet")
    field = Field.from_args("fu", np.float64, "vector", omega, approx_order=order)
    u = FieldVariable("u", "unknown", field)
    v = FieldVariable("v", "test", field, primary_var_name="u")
    material = Material("m", D=stiffness_from_youngpoisson(3, YOUNGS_MODULUS_MPA, POISSON_RATIO))
    term = Term.new("dw_lin_elastic(m.D, v, u)", Integral("i", order=quadrature_order), omega, m=material, v=v, u=u)
    bcs = [EssentialBC("bottom", bottom, {"u.all": 0.0}),
           EssentialBC("top", top, {"u.[0,1]": 0.0, "u.2": -TRAVEL_MM})]
    problem = Problem("platens", equations=Equations([Equation("balance", term)]))
    problem.set_bcs(ebcs=Conditions(bcs))
    if variant == "default":
        linear = ScipyDirect({})
    else:
        def setup_precond(mtx, context):
            import pyamg
            import scipy.sparse as sp

            started = time.perf_counter()
            active = problem.equations.variables["u"].eq_map.eqi
            coords = field.get_coor()
            triples = _whole_nodes(active)
            if triples:  # whole nodes are free or fixed: 3×3 blocks and rigid-body modes per node
                A, B = sp.bsr_matrix(mtx, blocksize=(3, 3)), rigid_body_modes(coords[active[0::3] // 3])
            else:
                A, B = mtx, rigid_body_modes(coords[active // 3])[np.arange(len(active)) * 3 + active % 3]
            ml = pyamg.smoothed_aggregation_solver(A, B=B, **AMG_OPTIONS)
            timings["precond_seconds"] = time.perf_counter() - started
            timings["amg_blocks"] = 3 if triples else 1
            return ml.aspreconditioner(cycle="V")

        linear = PyAMGKrylovSolver({"method": "cg", "eps_r": rtol, "i_max": 1000, "setup_precond": setup_precond})
    status = IndexedStruct()
    problem.set_solver(Newton({"i_max": 1, "eps_a": 1e-10, "eps_r": 1.0}, lin_solver=linear, status=status))
    return problem, material, field, quadrature_order, status


def run_sfepy(nodes: np.ndarray, elements: np.ndarray, variant: str, rtol: float = RTOL) -> tuple[dict, np.ndarray]:
    """SfePy's pipeline (``variant`` "default" or "best"), timed; (record, displacement (N, 3) mm)."""
    from scipy.spatial import cKDTree
    from sfepy.discrete.conditions import Conditions
    from sfepy.mechanics.tensors import get_von_mises_stress

    timings: dict = {"precond_seconds": 0.0}
    t0 = time.perf_counter()
    problem, material, field, q, status = _sfepy_problem(nodes, elements, variant, rtol, timings)
    t1 = time.perf_counter()
    problem.solve(save_results=False)
    t2 = time.perf_counter()
    stress = problem.evaluate(f"ev_cauchy_stress.{q}.Omega(m.D, u)", m=material, mode="qp")
    vm = get_von_mises_stress(stress.reshape(-1, 6))
    t3 = time.perf_counter()
    energy = float(problem.evaluate(f"de_lin_elastic.{q}.Omega(m.D, u, u)", m=material, mode="eval"))
    values = problem.get_variables()["u"]().reshape(-1, 3)
    # Internal forces at every dof (no constraints applied): the platens' reactions.
    forces = problem.evaluate(f"dw_lin_elastic.{q}.Omega(m.D, v, u)", m=material, mode="weak", dw_mode="vector",
                              active_only=False, ebcs=Conditions([])).reshape(-1, 3)
    coords = field.get_coor()
    top = coords[:, 2] >= coords[:, 2].max() - CONTACT_TOLERANCE_MM
    distance, nearest = cKDTree(coords).query(nodes)
    if distance.max() > 1e-9 * np.ptp(nodes):
        raise ValueError("SfePy's dofs do not sit on the mesh nodes (curved quadratic elements?)")
    linear_seconds = float(status.time_stats["solve"])
    record = {
        "integration_order": q,
        "setup_seconds": t1 - t0,
        "assembly_seconds": (t1 - t0) + (t2 - t1 - linear_seconds),  # problem set-up + residual/matrix assembly
        "precond_seconds": timings["precond_seconds"] if variant == "best" else None,  # direct: in the solve
        "solve_seconds": linear_seconds - timings["precond_seconds"],
        "post_seconds": t3 - t2,
        "total_seconds": t3 - t0,
        "iterations": int(status.ls_n_iter) if variant == "best" else None,
        "solver": "scipy-direct (SuperLU spsolve)" if variant == "default" else "pyamg cg + smoothed aggregation",
        "amg_blocks": timings.get("amg_blocks"),
        "stiffness_N_per_mm": float(-forces[top, 2].sum() / TRAVEL_MM),
        "energy_stiffness_N_per_mm": energy / TRAVEL_MM**2,  # u·K u = platen work
        "von_mises_max_MPa": float(vm.max()),
    }
    return record, values[nearest]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engines", description=__doc__.splitlines()[0])
    parser.add_argument("engine", choices=ENGINES)
    parser.add_argument("mesh", type=Path)
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--rtol", type=float, default=RTOL)
    parser.add_argument("--memory-limit-gb", type=float, default=0.0, help="address-space limit; 0: none")
    args = parser.parse_args(argv)
    args.outdir.mkdir(parents=True, exist_ok=True)
    if args.memory_limit_gb > 0:
        limit = int(args.memory_limit_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    record: dict = {"engine": args.engine, "status": "failed"}
    try:
        _import_engine(args.engine)
        nodes, elements = load_mesh(args.mesh)
        baseline_kb = current_rss_kb()
        record.update(nodes=len(nodes), elements=len(elements), dofs=3 * len(nodes),
                      order=1 if elements.shape[1] == 4 else 2, rtol=args.rtol)
        after_peak = dict
        if args.engine in FEMVALID_SOLVERS:
            numbers, displacement, after_peak = run_femvalid(nodes, elements, args.rtol, FEMVALID_SOLVERS[args.engine])
        else:
            numbers, displacement = run_sfepy(nodes, elements, args.engine.split("-")[1], args.rtol)
        peak_kb = peak_rss_kb()
        numbers.update(after_peak())
        record.update(numbers)
        record.update(status="ok", baseline_rss_MB=baseline_kb / 1024, peak_rss_MB=peak_kb / 1024,
                      increase_rss_MB=(peak_kb - baseline_kb) / 1024,
                      increase_KB_per_dof=(peak_kb - baseline_kb) / record["dofs"],
                      peak_KB_per_dof=peak_kb / record["dofs"])
        np.save(args.outdir / "displacement_mm.npy", displacement)
    except MemoryError:
        record.update(status="out of memory", error=f"MemoryError (address-space limit {args.memory_limit_gb:g} GB)")
    except Exception as exc:  # report any engine failure as data, with its traceback on stderr
        traceback.print_exc()
        record.update(error=f"{type(exc).__name__}: {exc}")
    (args.outdir / "result.json").write_text(json.dumps(record, indent=1, default=float))
    return 0 if record["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
