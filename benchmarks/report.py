"""Tables, ratios, targets and the machine description of a benchmark run.

Every function here works on the plain results dictionary that ``benchmarks.run``
writes as JSON, so a saved run can be re-tabulated without solving anything:
``python -c "import json, benchmarks.report as r; print(r.tables(json.load(open('benchmarks/results.json'))))"``.
"""

from __future__ import annotations

import datetime
import math
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import numpy as np

__all__ = ["describe_machine", "speedup", "evaluate_targets", "tables", "markdown", "AGREEMENT_LIMIT"]

#: Largest accepted relative difference between femvalid's and SfePy's answers.
AGREEMENT_LIMIT = 1e-6
ENGINE_LABELS = {"femvalid": "femvalid", "femvalid-pyamg": "femvalid pyamg path", "sfepy-default": "SfePy default",
                 "sfepy-best": "SfePy best"}
REPO = Path(__file__).resolve().parent.parent


def describe_machine() -> dict:
    """CPU, cores, memory, library versions and the date, for the results header."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_GB = float("nan")
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_GB = int(line.split()[1]) / 2**20
    except OSError:
        pass
    versions = {}
    for package in ("numpy", "scipy", "pyamg", "sfepy", "gmsh", "femvalid"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_GB": round(memory_GB, 1),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "git": _git_description(),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def _git_description() -> str:
    """Commit of the checkout, and whether femvalid/ has uncommitted changes (read-only git calls)."""
    try:
        def git(*args):
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, check=False, text=True,
                                  timeout=10).stdout.strip()

        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", "femvalid")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}{' (femvalid/ modified)' if dirty else ''}" if commit else "unknown"


def speedup(case: dict, engine: str) -> tuple[float | None, bool]:
    """(SfePy engine's total seconds / femvalid's, is it only a lower bound); None if unknown."""
    ours, theirs = case["runs"].get("femvalid", {}), case["runs"].get(engine, {})
    if ours.get("status") != "ok" or not theirs:
        return None, False
    if theirs.get("status") == "ok":
        return theirs["total_seconds"] / ours["total_seconds"], False
    bound = theirs.get("lower_bound_seconds")
    return (bound / ours["total_seconds"], True) if bound else (None, False)


def _p1_scaling_cases(cases: list[dict]) -> list[dict]:
    """The P1 cases femvalid solved, from 30 k dofs up (all P1 cases if none is that large)."""
    p1 = [c for c in cases if c["order"] == 1 and c["runs"].get("femvalid", {}).get("status") == "ok"]
    large = [c for c in p1 if c["target_dofs"] >= 30_000]
    return sorted(large or p1, key=lambda c: c["dofs"])


def _span(cases: list[dict]) -> str:
    return f"{cases[0]['case']} → {cases[-1]['case']}" if cases else ""


def _out_of_memory(run: dict) -> bool:
    """The run ran out of memory, or was skipped because a smaller mesh of its order did."""
    return run.get("status") == "out of memory" or \
        (run.get("status") == "skipped" and run.get("reason", "").startswith("out of memory"))


def evaluate_targets(results: dict) -> list[dict]:
    """Each target with its measured value and "met", "NOT met", "undetermined" or "not measured"."""
    cases = results["cases"]
    targets = []

    def add(name, measured, status, note=""):
        targets.append({"target": name, "measured": measured, "status": status, "note": note})

    def speed_target(name, selected, engine, factor):
        # A solver that does not fit in the machine's memory is not compared (the issue's
        # "where it fits"); one that runs out of time gives a lower bound.
        unfit = [c for c in selected if _out_of_memory(c["runs"].get(engine, {}))]
        selected = [c for c in selected if c not in unfit]
        values = [(c, *speedup(c, engine)) for c in selected]
        known = [(c, r, bound) for c, r, bound in values if r is not None]
        unfit_note = f"out of memory, not compared: {', '.join(c['case'] for c in unfit)}" if unfit else ""
        if not known:
            return add(name, "—", "not measured", unfit_note or ("no such case in this run" if not selected else "no timing"))
        text = ", ".join(f"{c['case']}: {'>' if bound else ''}{r:.1f}×" for c, r, bound in known)
        if any(r < factor and not bound for _, r, bound in known):
            status = "NOT met"
        elif any(r < factor for _, r, _ in known) or len(known) < len(selected):
            status = "undetermined"
        else:
            status = "met"
        bounded = any(bound for *_, bound in known)
        notes = ["'>': SfePy did not finish in time, ratio from the time it had used"] if bounded else []
        add(name, text, status, "; ".join(notes + ([unfit_note] if unfit_note else [])))

    large = [c for c in cases if c["target_dofs"] >= 300_000]
    speed_target("femvalid ≥ 20× faster than SfePy default at ≥ 300k DOF", large, "sfepy-default", 20.0)
    speed_target("femvalid ≥ 3× faster than SfePy best at ~1M DOF",
                 [c for c in cases if c["target_dofs"] >= 1_000_000], "sfepy-best", 3.0)
    # Issue 18's targets for femvalid's own kernels.
    speed_target("femvalid ≥ 10× faster than SfePy best at ~1M DOF (P1)",
                 [c for c in cases if c["target_dofs"] >= 1_000_000 and c["order"] == 1], "sfepy-best", 10.0)
    speed_target("femvalid ≥ 6× faster than SfePy best at ~300k DOF (P2)",
                 [c for c in cases if c["target_dofs"] >= 300_000 and c["order"] == 2], "sfepy-best", 6.0)

    ours = [c for c in cases if c["runs"].get("femvalid", {}).get("status") == "ok"]
    if ours:
        worst = max(ours, key=lambda c: c["runs"]["femvalid"]["iterations"])
        its = worst["runs"]["femvalid"]["iterations"]
        add("CG iterations ≤ 40 at rtol 1e-8", f"{its} (max, {worst['case']})", "met" if its <= 40 else "NOT met")
    else:
        add("CG iterations ≤ 40 at rtol 1e-8", "—", "not measured")

    p1 = _p1_scaling_cases(cases)
    full_span = len(p1) >= 2 and p1[0]["dofs"] <= 45_000 and p1[-1]["dofs"] >= 800_000
    partial = "" if full_span else f"over {_span(p1)} only"
    if len(p1) >= 2:
        first, last = (c["runs"]["femvalid"]["iterations"] for c in (p1[0], p1[-1]))
        growth = last / first - 1
        add("CG iteration growth ≤ 25 % from 30k to 1M DOF (P1)", f"{growth:+.0%} ({first} → {last}, {_span(p1)})",
            ("met" if growth <= 0.25 else "NOT met") if full_span else "undetermined", partial)
        dofs = np.array([c["dofs"] for c in p1], float)
        seconds = np.array([c["runs"]["femvalid"]["total_seconds"] for c in p1])
        slope = float(np.polyfit(np.log(dofs), np.log(seconds), 1)[0])
        add("time scaling exponent ≤ 1.15 (P1 total s vs DOF)", f"{slope:.2f} ({_span(p1)})",
            "met" if slope <= 1.15 else "NOT met", partial)
        add("time scaling exponent ≤ 1.1 (P1 total s vs DOF)", f"{slope:.2f} ({_span(p1)})",
            "met" if slope <= 1.1 else "NOT met", partial)
    else:
        add("CG iteration growth ≤ 25 % from 30k to 1M DOF (P1)", "—", "not measured", "needs two P1 sizes")
        add("time scaling exponent ≤ 1.15 (P1 total s vs DOF)", "—", "not measured", "needs two P1 sizes")

    if p1:
        run = p1[-1]["runs"]["femvalid"]
        add("peak memory ≤ 1.5 KB/DOF (P1)",
            f"{run['increase_KB_per_dof']:.2f} KB/DOF over the mesh-loaded baseline at {p1[-1]['case']} "
            f"({run['peak_KB_per_dof']:.2f} KB/DOF total peak)",
            "met" if run["increase_KB_per_dof"] <= 1.5 else "NOT met",
            "" if p1[-1]["dofs"] >= 250_000 else "small mesh: fixed costs dominate")
        at_1M = p1[-1]["dofs"] >= 800_000
        add("peak memory ≤ 1.2 KB/DOF at 1M DOF (P1)",
            f"{run['increase_KB_per_dof']:.2f} KB/DOF over the mesh-loaded baseline at {p1[-1]['case']}",
            ("met" if run["increase_KB_per_dof"] <= 1.2 else "NOT met") if at_1M else "undetermined",
            "" if at_1M else f"largest P1 case {p1[-1]['case']}")
    else:
        add("peak memory ≤ 1.5 KB/DOF (P1)", "—", "not measured")
        add("peak memory ≤ 1.2 KB/DOF at 1M DOF (P1)", "—", "not measured")

    worst_agreement = [(c["case"], e, max(a["displacement"], a["stiffness"]))
                       for c in cases for e, a in c.get("agreement", {}).items()]
    if worst_agreement:
        case, engine, value = max(worst_agreement, key=lambda t: t[2])
        add(f"agreement with SfePy ≤ {AGREEMENT_LIMIT:g} (displacement and stiffness)",
            f"{value:.1e} (worst: {case}, {ENGINE_LABELS[engine]})",
            "met" if value <= AGREEMENT_LIMIT else "NOT met")
    else:
        add(f"agreement with SfePy ≤ {AGREEMENT_LIMIT:g} (displacement and stiffness)", "—", "not measured")
    return targets


def _seconds(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def _run_status(run: dict) -> str:
    status = run.get("status", "—")
    if status == "ok":
        return "ok"
    if status == "timeout":
        return f"did not finish in {run['timeout_s']:g} s"
    if status == "skipped":
        return f"not run: {run.get('reason', '')}"
    if status == "out of memory":
        return f"out of memory after {run['lower_bound_seconds']:.0f} s ({run.get('memory_limit_gb', '?')} GB limit)"
    return f"{status}: {run.get('error', '')}"[:80]


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def tables(results: dict) -> str:
    """The runs, the ratios and agreement, and the targets, as Markdown tables."""
    rows = []
    for case in results["cases"]:
        for engine, run in case["runs"].items():
            def get(key, fmt=_seconds, run=run):
                ok = run.get("status") == "ok" and run.get(key) is not None
                return fmt(run[key]) if ok else "—"

            rows.append([case["case"], f"{case['dofs']:,}", ENGINE_LABELS[engine], _run_status(run),
                         get("assembly_seconds"), get("precond_seconds"), get("solve_seconds"), get("post_seconds"),
                         get("total_seconds"), get("iterations", str) if engine != "sfepy-default" else "direct",
                         get("peak_rss_MB", lambda v: f"{v:.0f}"), get("increase_KB_per_dof", lambda v: f"{v:.2f}"),
                         get("cg_iteration_per_spmv", lambda v: f"{v:.1f}")])
    runs = _table(["case", "DOF", "engine", "status", "set-up+assembly s", "AMG set-up s", "solve s", "post s",
                   "total s", "CG iters", "peak RSS MB", "+KB/DOF", "CG iter / SpMV"], rows)
    rows = []
    for case in results["cases"]:
        row = [case["case"], f"{case['dofs']:,}", _seconds(case["runs"].get("femvalid", {}).get("total_seconds"))]
        for engine in ("sfepy-default", "sfepy-best"):
            run = case["runs"].get(engine, {})
            ratio, bound = speedup(case, engine)
            if run.get("status") == "ok":
                row.append(_seconds(run["total_seconds"]))
            else:
                row.append(f"> {_seconds(run['lower_bound_seconds'])}" if run.get("lower_bound_seconds") else "—")
            row.append("—" if ratio is None else f"{'> ' if bound else ''}{ratio:.1f}×")
        for engine in ("sfepy-default", "sfepy-best"):
            agreement = case.get("agreement", {}).get(engine)
            row += [f"{agreement['displacement']:.1e}", f"{agreement['stiffness']:.1e}"] if agreement else ["—", "—"]
        reference = case["runs"].get("femvalid-pyamg", {})
        ratio, _ = speedup(case, "femvalid-pyamg")
        row += [_seconds(reference.get("total_seconds")) if reference.get("status") == "ok" else "—",
                "—" if ratio is None else f"{ratio:.1f}×"]
        agreement = case.get("reference_agreement")
        row.append(f"{agreement['displacement']:.1e}" if agreement else "—")
        rows.append(row)
    ratios = _table(["case", "DOF", "femvalid total s", "SfePy default s", "default / femvalid", "SfePy best s",
                     "best / femvalid", "Δu vs default", "Δk vs default", "Δu vs best", "Δk vs best",
                     "pyamg path s", "pyamg path / femvalid", "Δu vs pyamg path"], rows)
    targets = _table(["target", "measured", "status", "note"],
                     [[t["target"], t["measured"], t["status"], t["note"]] for t in results["targets"]])
    return f"{runs}\n\n{ratios}\n\n{_kernel_table(results)}{targets}\n"


def _kernel_table(results: dict) -> str:
    """Solver, products and CG against the memory's streaming rate, for the femvalid runs that used the kernels."""
    rows = []
    for case in results["cases"]:
        run = case["runs"].get("femvalid", {})
        if run.get("status") != "ok" or run.get("stream_GBps") is None:
            continue
        rows.append([case["case"], run.get("solver", "—"), f"{run['spmv_seconds'] * 1e3:.1f}",
                     f"{run['kernel_spmv_seconds'] * 1e3:.1f}", f"{run['kernel_spmv_single_seconds'] * 1e3:.1f}",
                     f"{run['cg_iteration_seconds'] * 1e3:.0f}", f"{run['cg_bytes_per_iteration'] / 1e6:.0f}",
                     f"{run['cg_GBps']:.1f}", f"{run['stream_GBps']:.1f}", f"{run['cg_fraction_of_stream']:.0%}"])
    if not rows:
        return ""
    return _table(["case", "solver", "SpMV scipy ms", "SpMV kernel ms", "SpMV kernel float32 ms", "CG iteration ms",
                   "MB moved / iteration", "CG GB/s", "stream GB/s", "of stream"], rows) + "\n\n"


def _raw_table(results: dict) -> str:
    """Every number of every run: one row per field, one column per (case, engine)."""
    columns = [(c["case"], e, r) for c in results["cases"] for e, r in c["runs"].items()]
    keys: list[str] = []
    for *_, run in columns:
        keys += [k for k in run if k not in keys and k != "engine"]

    def cell(value):
        if isinstance(value, float):
            return f"{value:.6g}"
        return " ".join(str(value).replace("|", "/").split()) if value is not None else ""

    header = ["field"] + [f"{case} {ENGINE_LABELS[engine]}" for case, engine, _ in columns]
    return _table(header, [[key] + [cell(run.get(key)) for *_, run in columns] for key in keys])


def _meshes(results: dict) -> str:
    return "; ".join(f"{c['case']}: {c['mesh']['size_mm']:g} mm, {c['nodes']:,} nodes, "
                     f"{c['mesh']['elements']:,} elements" for c in results["cases"])


def _warm_up(results: dict) -> str:
    warm = results.get("warm_up")
    if not warm:
        return ""
    runs = ", ".join(f"{name} {w['seconds']:.1f} s" for name, w in warm.items())
    return (f"- warm-up, untimed (the femvalid engine once on each mesh, so that numba's kernels are "
            f"compiled or loaded from its cache): {runs}\n")


def markdown(results: dict) -> str:
    """The whole ``results.md``: what was run, on what, the tables and the raw numbers."""
    m, s = results["machine"], results["settings"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    return f"""# femvalid benchmarks

Written by `{' '.join(['python -m benchmarks.run', s['command_args']]).strip()}` on {m['date']}.

Model: parametric vertebral body replacement (`femvalid.geometry.VertebralBodyReplacement()`,
Ø20/Ø14 mm, 25 mm tall, four windows), Ti-6Al-4V (E = {s['youngs_modulus_MPa']:g} MPa,
ν = {s['poisson_ratio']:g}), bonded platens: the contact nodes (within {s['contact_tolerance_mm']:g} mm of the
extreme z planes) of the inferior face are clamped, those of the superior face move
{s['travel_mm']:g} mm along −z with lateral motion blocked. P2 meshes have straight edges, so that
SfePy (affine element maps) solves the same discrete model. Every engine runs each case in
a fresh process; times are wall seconds; CG stops at relative residual {s['rtol']:g}; a run is
killed after {s['timeout_s']:g} s and limited to {s['memory_limit_gb']:g} GB of address space.

Totals: femvalid = numbering (only for a mesh whose numbering is not local already:
femvalid's mesher numbers by reverse Cuthill–McKee, `femvalid.fem.ordering`) + platen
constraints + assembly (assemble_stiffness + reduce_system) + AMG set-up + CG +
post-processing (stress_field + von Mises); SfePy = problem set-up +
assembly + linear solve (the direct factorisation, or AMG set-up + CG) + post-processing
(ev_cauchy_stress + von Mises). "+KB/DOF" is the peak resident set's increase over the
resident set after imports and mesh loading, per dof. "CG iter / SpMV" is the time of one
preconditioned CG iteration over that of one product with the system matrix (scipy's). "femvalid"
runs the solver `auto` picks for an iterative solve (femvalid's numba kernels); "femvalid
pyamg path" the reference solver `cg-amg` (pyamg's cycle and CG, scipy's products). The
bandwidth table counts the bytes femvalid's kernels read and wrote during CG (each
matrix and vector once per call) over the iteration time, against a numpy copy's
streaming rate measured in the same process. Δu = max
|u_femvalid − u_SfePy| / max |u_femvalid|; Δk = relative difference of the platen reaction
(stiffness). Against SfePy's direct solve Δ measures femvalid's CG error at {s['rtol']:g};
against SfePy best, both engines' CG errors.

## Machine

- CPU: {m['cpu']}, {m['logical_cores']} logical cores ({m['usable_cores']} usable), {m['memory_GB']} GB RAM
- load average (1, 5, 15 min) at start: {', '.join(map(str, m['load_average_at_start']))}, at end:
  {', '.join(map(str, m.get('load_average_at_end', [])))} (above the core count, other work shared the machine)
- {m['platform']}, Python {m['python']}
- {versions}
- femvalid checkout: {m['git']}
{_warm_up(results)}
## Results

{tables(results)}
## Raw numbers

Meshes: {_meshes(results)}.

{_raw_table(results)}
"""
