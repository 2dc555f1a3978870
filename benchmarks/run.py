"""``python -m benchmarks.run``: femvalid against SfePy, same model, growing meshes.

For each case (see :mod:`benchmarks.cases`) it builds or reuses the cached mesh, runs
femvalid, SfePy's default pipeline and SfePy at its best each in a fresh process
(:mod:`benchmarks.engines`) with a wall-time limit, compares their displacements and
platen reactions, prints the tables and writes ``results.md`` and ``results.json``.

    python -m benchmarks.run                  # P1 30k, 300k, 1M and P2 300k dofs (15-40 min on 2 cores)
    python -m benchmarks.run --engines femvalid,femvalid-pyamg   # femvalid's kernels against its pyamg path
    python -m benchmarks.run --sizes small    # the 30k case only: a smoke test, under a minute
    python -m benchmarks.run --quick          # skip SfePy's direct solver above 100k dofs

Exit status 0, or 1 when a femvalid run failed or an answer differs from SfePy's by
more than the agreement limit. Targets that are not met are reported, not failed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: python benchmarks/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import cases as cases_module
from benchmarks.cases import build_mesh, select_cases
from benchmarks.engines import ENGINES, RTOL
from benchmarks.report import AGREEMENT_LIMIT, describe_machine, evaluate_targets, markdown, tables

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
#: What a child's stderr says when it died for want of memory (SuperLU then segfaults).
OUT_OF_MEMORY_SIGNS = ("Can't expand MemType", "SUPERLU_MALLOC fails", "MemoryError", "std::bad_alloc")
#: --quick skips SfePy's direct solver above this many dofs.
QUICK_DIRECT_MAX_DOFS = 100_000


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="full",
                        help="a set (tiny, small, medium, full) or case names, comma separated "
                             f"({', '.join(cases_module.CASES)}); default full")
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"comma separated, from {', '.join(ENGINES)}")
    parser.add_argument("--quick", action="store_true",
                        help=f"skip SfePy's default (direct) solver above {QUICK_DIRECT_MAX_DOFS:,} dofs")
    parser.add_argument("--timeout-s", type=float, default=600.0, help="wall-time limit of one engine run (600)")
    parser.add_argument("--memory-limit-gb", type=float, default=None,
                        help="address-space limit of one engine run (default: 80 %% of the memory available at start)")
    parser.add_argument("--rtol", type=float, default=RTOL, help="CG relative tolerance (1e-8)")
    parser.add_argument("--cache-dir", type=Path, default=HERE / ".cache", help="mesh cache (benchmarks/.cache)")
    parser.add_argument("--output-dir", type=Path, default=HERE, help="where results.md/.json go (benchmarks/)")
    args = parser.parse_args(argv)
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [e for e in args.engines if e not in ENGINES]
    if unknown:
        parser.error(f"unknown engine(s) {', '.join(unknown)}; known: {', '.join(ENGINES)}")
    try:
        args.cases = select_cases(args.sizes)
    except ValueError as exc:
        parser.error(str(exc))
    if args.memory_limit_gb is None:
        # SfePy's direct solve of the 313 k-dof P1 case peaks at 11.8 GB: half of a 24 GB
        # machine stopped it short of an answer; the engines run one at a time.
        args.memory_limit_gb = round(MEMORY_FRACTION * available_memory_gb(), 1)
    return args


#: Share of the memory available at start that one engine run may take (address space).
MEMORY_FRACTION = 0.8


def available_memory_gb() -> float:
    """MemAvailable from /proc/meminfo (total RAM where it cannot be read), GB."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_engine(engine: str, mesh_path: Path, outdir: Path, args) -> dict:
    """One engine on one mesh in a child process (its own session, SIGKILLed on timeout)."""
    command = [sys.executable, "-m", "benchmarks.engines", engine, str(mesh_path), str(outdir),
               "--rtol", repr(args.rtol), "--memory-limit-gb", repr(args.memory_limit_gb)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=args.timeout_s)
    except subprocess.TimeoutExpired:
        _kill(proc)
        return {"engine": engine, "status": "timeout", "timeout_s": args.timeout_s,
                "lower_bound_seconds": time.perf_counter() - started, "memory_limit_gb": args.memory_limit_gb}
    except BaseException:
        _kill(proc)
        raise
    elapsed = time.perf_counter() - started
    result = outdir / "result.json"
    if result.exists():
        record = json.loads(result.read_text())
    else:
        why = f"killed by {signal.Signals(-proc.returncode).name}" if proc.returncode < 0 else \
            f"exit status {proc.returncode}"
        lines = stderr.decode(errors="replace").strip().splitlines()
        record = {"engine": engine, "status": "failed", "error": f"{why}: {lines[-1] if lines else ''}"}
    record.update(process_seconds=elapsed, memory_limit_gb=args.memory_limit_gb)
    text = stderr.decode(errors="replace") + record.get("error", "")
    if record["status"] == "failed" and any(sign in text for sign in OUT_OF_MEMORY_SIGNS):
        record.update(status="out of memory", error=f"{record.get('error', '')} (under the "
                                                    f"{args.memory_limit_gb:g} GB address-space limit)")
    if record["status"] == "out of memory":
        record["lower_bound_seconds"] = elapsed  # it had not finished when the memory ran out
    if record["status"] != "ok" and text:
        record["stderr_tail"] = text[-2000:]
    return record


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


#: Meshes the femvalid engine solves once before the cases, untimed, so that numba has
#: compiled (or loaded from its cache) every kernel the cases use: per element order,
#: products large enough for the threaded builds and small enough for the serial ones.
WARM_UP_CASES = {1: "P1-30k", 2: "P2-50k"}


def warm_up_cases(cases) -> list[str]:
    """The warm-up mesh of each element order among ``cases`` (no larger than the smallest such case)."""
    names = []
    for order in sorted({c.order for c in cases}):
        smallest = min((c for c in cases if c.order == order), key=lambda c: c.target_dofs)
        usual = cases_module.CASES[WARM_UP_CASES[order]]
        names.append(usual.name if usual.target_dofs <= smallest.target_dofs else smallest.name)
    return names


def warm_up(args, workdir: Path) -> dict:
    """Run the femvalid engine on the warm-up meshes; returns their wall seconds.

    The first run on a machine compiles femvalid's kernels (tens of seconds, once: they
    are cached under femvalid's cache folder); the cases are then timed as every later
    run is. The warm-up's own time is recorded, so the one-off cost stays visible.
    """
    record = {}
    for name in warm_up_cases(args.cases):
        mesh = build_mesh(cases_module.CASES[name], args.cache_dir, log=log)
        started = time.perf_counter()
        run = run_engine("femvalid", mesh.path, workdir / name, args)
        record[name] = {"seconds": time.perf_counter() - started, "status": run["status"]}
        log(f"warm-up {name}: {record[name]['seconds']:.1f} s ({run['status']})")
    return record


def skip_reason(engine: str, dofs: int, order: int, done: list[dict], args) -> dict | None:
    """A record saying why ``engine`` is not run on this case, or None to run it."""
    if engine == "sfepy-default" and args.quick and dofs > QUICK_DIRECT_MAX_DOFS:
        return {"engine": engine, "status": "skipped", "reason": f"--quick (above {QUICK_DIRECT_MAX_DOFS:,} DOF)"}
    for case in done:  # it did not finish on a smaller mesh of this order: it cannot on this one
        run = case["runs"].get(engine, {})
        if case["order"] == order and case["dofs"] < dofs and run.get("status") in ("timeout", "out of memory"):
            return {"engine": engine, "status": "skipped", "lower_bound_seconds": run["lower_bound_seconds"],
                    "reason": f"{run['status']} on {case['case']} ({case['dofs']:,} DOF)"}
    return None


def agreement(ours: np.ndarray, theirs: np.ndarray, k_ours: float, k_theirs: float) -> dict:
    """Relative differences of displacement (max norm) and stiffness."""
    return {"displacement": float(np.abs(ours - theirs).max() / np.abs(ours).max()),
            "stiffness": float(abs(k_ours - k_theirs) / abs(k_theirs))}


def run_case(case, args, done: list[dict], workdir: Path) -> dict:
    log(f"{case.name}: P{case.order}, about {case.target_dofs:,} DOF")
    try:
        mesh = build_mesh(case, args.cache_dir, log=log)
    except Exception as exc:  # the mesher gave up: report the case, go on with the others
        log(f"  no mesh: {exc}")
        return {"case": case.name, "order": case.order, "target_dofs": case.target_dofs, "dofs": 0, "nodes": 0,
                "runs": {"femvalid": {"engine": "femvalid", "status": "failed", "error": f"meshing: {exc}"}},
                "agreement": {}, "mesh": {"size_mm": float("nan"), "elements": 0, "error": str(exc)}}
    log(f"  mesh {mesh.size_mm:g} mm: {mesh.nodes:,} nodes, {mesh.dofs:,} DOF" + (" (cached)" if mesh.cached else ""))
    result = {"case": case.name, "order": case.order, "target_dofs": case.target_dofs, "dofs": mesh.dofs,
              "nodes": mesh.nodes, "runs": {}, "agreement": {},
              "mesh": {"size_mm": mesh.size_mm, "elements": mesh.elements, "mesh_seconds": mesh.mesh_seconds,
                       "cached": mesh.cached, "file": mesh.path.name}}
    displacements = {}
    for engine in args.engines:
        record = skip_reason(engine, mesh.dofs, case.order, done, args)
        if record is None:
            outdir = workdir / case.name / engine
            record = run_engine(engine, mesh.path, outdir, args)
            if record["status"] == "ok":
                displacements[engine] = np.load(outdir / "displacement_mm.npy")
        result["runs"][engine] = record
        ok = record["status"] == "ok"
        shown = f"{record['total_seconds']:.2f} s" if ok else record.get("reason", record["status"])
        log(f"  {engine}: {shown}" + (f", {record['iterations']} iterations" if record.get("iterations") else ""))
    if "femvalid" in displacements:
        k_ours = result["runs"]["femvalid"]["stiffness_N_per_mm"]
        for engine in ("sfepy-default", "sfepy-best"):
            if engine in displacements:
                result["agreement"][engine] = agreement(displacements["femvalid"], displacements[engine], k_ours,
                                                        result["runs"][engine]["stiffness_N_per_mm"])
        if "femvalid-pyamg" in displacements:  # femvalid's kernels against its pyamg reference path
            result["reference_agreement"] = agreement(displacements["femvalid"], displacements["femvalid-pyamg"],
                                                      k_ours, result["runs"]["femvalid-pyamg"]["stiffness_N_per_mm"])
    return result


def write_results(results: dict, output_dir: Path) -> None:
    """Judge the targets on the cases so far and write results.json and results.md."""
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["targets"] = evaluate_targets(results)
    output_dir.mkdir(parents=True, exist_ok=True)
    for name, text in (("results.json", json.dumps(results, indent=1, default=float) + "\n"),
                       ("results.md", markdown(results))):
        tmp = output_dir / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(output_dir / name)


def main(argv=None) -> int:
    args = parse_args(argv)
    results = {
        "machine": describe_machine(),
        "settings": {"command_args": " ".join(sys.argv[1:] if argv is None else argv), "rtol": args.rtol,
                     "timeout_s": args.timeout_s, "memory_limit_gb": args.memory_limit_gb,
                     "engines": args.engines, "youngs_modulus_MPa": cases_module.YOUNGS_MODULUS_MPA,
                     "poisson_ratio": cases_module.POISSON_RATIO, "travel_mm": cases_module.TRAVEL_MM,
                     "contact_tolerance_mm": cases_module.CONTACT_TOLERANCE_MM},
        "cases": [],
    }
    with tempfile.TemporaryDirectory(prefix="femvalid-bench-") as tmp:
        if "femvalid" in args.engines:
            results["warm_up"] = warm_up(args, Path(tmp) / "warm-up")
        for case in args.cases:
            results["cases"].append(run_case(case, args, results["cases"], Path(tmp)))
            write_results(results, args.output_dir)  # so far: an interrupted run keeps what it measured
    print(tables(results))
    print(f"written: {args.output_dir / 'results.md'}, {args.output_dir / 'results.json'}")
    failed = [c["case"] for c in results["cases"] if c["runs"].get("femvalid", {}).get("status") not in (None, "ok")]
    disagree = [c["case"] for c in results["cases"]
                if any(max(a.values()) > AGREEMENT_LIMIT
                       for a in [*c["agreement"].values(), *filter(None, [c.get("reference_agreement")])])]
    for what, names in (("femvalid failed", failed), (f"answers differ by more than {AGREEMENT_LIMIT:g}", disagree)):
        if names:
            log(f"benchmarks: {what}: {', '.join(names)}")
    return 1 if failed or disagree else 0


if __name__ == "__main__":
    sys.exit(main())
