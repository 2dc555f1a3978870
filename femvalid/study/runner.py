"""Run a study: mesh each design once, run every load case on it, write results.

Output under OUTDIR: ``summary.csv`` (one row per job) and per job
``<design>/<revision>/<loadcase>/results.json`` and ``fields.vtu``. A job that
fails in the mesher or solver is recorded as failed with its reason; the others
still run.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from femvalid import __version__
from femvalid._files import write_atomic
from femvalid.errors import FemvalidError, InputError, JobError
from femvalid.geometry import load_surface
from femvalid.loadcases import LOADCASE_TYPES
from femvalid.meshing import MeshSettings, default_size_mm, mesh_surface, write_vtu
from femvalid.study import cache
from femvalid.study.comparison import compare_revisions, comparison_csv
from femvalid.study.criteria import evaluate_criteria
from femvalid.study.provenance import manifest, utc_now
from femvalid.study.studyfile import Study, baselines
from femvalid.verification.gci import gci, representative_size

__all__ = ["JobResult", "run_study"]

#: Files whose presence means OUTDIR holds an earlier run.
_EARLIER = ("summary.csv",)


@dataclass
class JobResult:
    """One design revision under one load case."""

    design: str
    revision: str
    loadcase: str
    status: str = "ok"  # ok | failed
    error: str = ""
    qoi: dict = field(default_factory=dict)
    mesh: dict = field(default_factory=dict)
    solver: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    convergence: dict = field(default_factory=dict)
    criteria: dict = field(default_factory=dict)
    cached: bool = False
    validation: list = field(default_factory=list)

    @property
    def criteria_failed(self) -> list[str]:
        return [name for name, c in self.criteria.items() if not c["passed"]]

    def to_dict(self) -> dict:
        return {
            "design": self.design,
            "revision": self.revision,
            "loadcase": self.loadcase,
            "status": self.status,
            "error": self.error,
            "qoi": self.qoi,
            "mesh": self.mesh,
            "solver": self.solver,
            "inputs": self.inputs,
            "warnings": self.warnings,
            "convergence": self.convergence,
            "criteria": self.criteria,
            "cached": self.cached,
            "validation": self.validation,
            "femvalid_version": __version__,
        }


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def check_outdir(outdir: Path, force: bool) -> None:
    """Refuse to write over an earlier run unless ``force``."""
    if outdir.exists() and not outdir.is_dir():
        raise InputError(outdir, "exists and is not a folder")
    if not force and any((outdir / name).exists() for name in _EARLIER):
        raise InputError(outdir, "holds the results of an earlier run; use --force to overwrite them or -o for another folder")


def run_study(study: Study, outdir: Path, force: bool = False, progress: bool = True,
              use_cache: bool = True) -> list[JobResult]:
    """Run every job of ``study`` into ``outdir``; returns the job results.

    With ``use_cache``, a job whose inputs and settings are unchanged since it last
    ran (anywhere) is taken from the cache instead of being meshed and solved again.
    """
    from tqdm import tqdm

    outdir = Path(outdir)
    check_outdir(outdir, force)
    # Every STL is read and checked before anything is written: bad input stops the
    # run whole (exit 2) instead of half-way through.
    surfaces = [load_surface(design.stl, design.units) for design in study.designs]
    outdir.mkdir(parents=True, exist_ok=True)
    started = utc_now()
    total = len(study.designs) * len(study.loadcases)
    bar = tqdm(total=total, desc=study.name, unit="job", disable=not progress, file=sys.stderr)
    results = []
    for design, (surface, report) in zip(study.designs, surfaces):
        keys = {case.name: cache.job_key(study, design, case) for case in study.loadcases}
        hits = {}
        for case in study.loadcases:
            folder = _job_folder(outdir, design, case)
            hit = cache.load(keys[case.name], folder) if use_cache else None
            if hit is not None:
                hits[case.name] = _from_cache(hit, study, design, case, folder)
        meshes = None
        if len(hits) < len(study.loadcases):
            bar.set_postfix_str(f"meshing {design.name} {design.revision}")
            try:
                meshes, mesh_info, warnings = _mesh_design(design, surface, report, study)
            except JobError as exc:
                for case in study.loadcases:
                    results.append(hits.get(case.name) or _failed(design, case, exc.reason))
                    bar.update()
                continue
        for case in study.loadcases:
            bar.set_postfix_str(f"{design.name} {design.revision} {case.name}")
            if case.name in hits:
                results.append(hits[case.name])
            else:
                result = _run_job(study, design, case, meshes, mesh_info, list(warnings), outdir)
                if use_cache and result.status == "ok":
                    cache.store(keys[case.name], _job_folder(outdir, design, case))
                results.append(result)
            bar.update()
    bar.close()
    write_atomic(outdir / "summary.csv", summary_csv(results))
    comparison = compare_revisions(results, baselines(study))
    write_atomic(outdir / "comparison.csv", comparison_csv(comparison))
    record = manifest(study, outdir, results, started, utc_now())
    write_atomic(outdir / "manifest.json", json.dumps(_json_safe(record), indent=2) + "\n")
    from femvalid.report import write_pdf, write_report

    for target, make in ((outdir / "report.html", lambda: write_report(study, outdir, results, record, comparison,
                                                                       surfaces, _verification_section(outdir))),
                         (outdir / "report.pdf", lambda: write_pdf(outdir / "report.html"))):
        try:
            make()
        except Exception as exc:  # the results are written; a report that fails must not hide them
            print(f"femvalid: warning: {target}: not written: {type(exc).__name__}: {exc}", file=sys.stderr)
            break
    return results


def _verification_section(outdir: Path) -> str | None:
    """The section `femvalid verify` wrote, next to the study's output or in reports/verification."""
    for candidate in (outdir / "verification.html", outdir.parent / "verification" / "verification.html",
                      Path("reports") / "verification" / "verification.html"):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    return None


def _mesh_design(design, surface, report, study):
    """The design's meshes, finest first (three with ``[mesh] refine``), and the finest's info."""
    sizes = study.mesh_refine_mm or (study.mesh_size_mm or default_size_mm(surface),)
    started = time.perf_counter()
    meshes = [mesh_surface(surface, MeshSettings(h, study.mesh_order), source=str(design.stl)) for h in sorted(sizes)]
    mesh, size = meshes[0], min(sizes)
    info = {
        "nodes": len(mesh.nodes),
        "elements": len(mesh.elements),
        "order": mesh.order,
        "size_mm": size,
        "seconds": time.perf_counter() - started,
        "quality": mesh.quality.to_dict(),
        "volume_error_percent": 100.0 * mesh.quality.volume_error,
    }
    if len(meshes) > 1:
        info["refinement"] = [{"size_mm": m.size_mm, "elements": len(m.elements), "nodes": len(m.nodes),
                               "representative_size_mm": representative_size(m.volume, len(m.elements))} for m in meshes]
    return meshes, info, [*report.warnings, *report.repairs, *mesh.quality.warnings()]


def _failed(design, case, reason) -> JobResult:
    return JobResult(design.name, design.revision, case.name, status="failed", error=reason)


def _job_folder(outdir, design, case) -> Path:
    folder = outdir / design.name / design.revision / case.name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _inputs(study, design, case) -> dict:
    return {
        "stl": str(design.stl),
        "stl_sha256": study.inputs[str(design.stl)],
        "study": str(study.path),
        "study_sha256": study.inputs[str(study.path)],
        "material": design.material.to_dict(),
        "loadcase": case.to_dict(),
    }


def _compare_with_bench(study, result: JobResult) -> None:
    """Attach the study's bench measurements for this job, with the percent difference."""
    result.validation = []
    for v in study.validation:
        if (v["design"], v["revision"], v["loadcase"]) != (result.design, result.revision, result.loadcase):
            continue
        computed = result.qoi.get(v["quantity"])
        difference = 100.0 * (computed - v["measured"]) / abs(v["measured"]) if computed is not None and v["measured"] else None
        result.validation.append({**v, "computed": computed, "difference_percent": difference})


def _write_results(folder: Path, result: JobResult) -> None:
    write_atomic(folder / "results.json", json.dumps(_json_safe(result.to_dict()), indent=2) + "\n")


def _from_cache(stored: dict, study, design, case, folder) -> JobResult:
    """A cached job's result, with this run's inputs and criteria."""
    result = JobResult(design.name, design.revision, case.name, qoi=stored["qoi"], mesh=stored["mesh"],
                       solver=stored["solver"], warnings=stored["warnings"], convergence=stored["convergence"],
                       cached=True)
    result.inputs = _inputs(study, design, case)
    result.criteria = evaluate_criteria(study.criteria, result.qoi, result.convergence)
    _compare_with_bench(study, result)
    _write_results(folder, result)
    return result


def _run_job(study, design, case, meshes, mesh_info, warnings, outdir) -> JobResult:
    result = JobResult(design.name, design.revision, case.name, mesh=mesh_info, warnings=warnings)
    result.inputs = _inputs(study, design, case)
    folder = _job_folder(outdir, design, case)
    source = f"{design.name} {design.revision} / {case.name}"
    try:
        analysis = LOADCASE_TYPES[case.type](meshes[0], design.material, case, source=source)
        result.qoi, result.solver = analysis.qoi, analysis.solver
        result.warnings += analysis.warnings
        if len(meshes) == 3:
            coarser = [LOADCASE_TYPES[case.type](m, design.material, case, source=source).qoi for m in meshes[1:]]
            result.convergence = _convergence(meshes, [analysis.qoi, *coarser])
            result.warnings += [f"{key}: {flag}" for key, c in result.convergence.items() for flag in c["flags"]
                                if key in _HEADLINE_QOI]
        write_vtu(analysis.mesh, folder / "fields.vtu", point_data=analysis.point_data, cell_data=analysis.cell_data)
        result.criteria = evaluate_criteria(study.criteria, result.qoi, result.convergence)
        _compare_with_bench(study, result)
    except FemvalidError as exc:
        result.status, result.error = "failed", exc.reason
    _write_results(folder, result)
    return result


#: Quantities whose convergence flags are repeated among a job's warnings.
_HEADLINE_QOI = ("stiffness_N_per_mm", "von_mises_p99_MPa", "subsidence_mm", "safety_factor_yield")


def _convergence(meshes, qois) -> dict:
    """GCI (Celik et al. 2008) of every quantity that changes between the three meshes."""
    sizes = [representative_size(m.volume, len(m.elements)) for m in meshes]
    out = {}
    for key, value in qois[0].items():
        values = [q.get(key) for q in qois]
        if key == "force_N" or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            continue
        out[key] = gci(values, sizes).to_dict()
    return out


def summary_csv(results: list[JobResult]) -> str:
    """One row per job: identity, status, every QoI, mesh size, solver, error."""
    qoi_keys: list[str] = []
    for r in results:
        qoi_keys += [k for k in r.qoi if k not in qoi_keys]
    gci_keys: list[str] = []
    for r in results:
        gci_keys += [k for k in r.convergence if k not in gci_keys]
    header = ["design", "revision", "loadcase", "status", *qoi_keys, *[f"{k}_gci_percent" for k in gci_keys],
              "criteria", "criteria_failed", "mesh_elements", "solver", "solver_iterations", "warnings", "error"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for r in results:
        writer.writerow([
            r.design, r.revision, r.loadcase, r.status,
            *[_cell(r.qoi.get(k)) for k in qoi_keys],
            *[_cell(r.convergence.get(k, {}).get("gci_fine_percent")) for k in gci_keys],
            ("fail" if r.criteria_failed else "pass") if r.criteria else "", ";".join(r.criteria_failed),
            r.mesh.get("elements", ""), r.solver.get("method", ""), r.solver.get("iterations", ""),
            len(r.warnings), r.error,
        ])
    return buffer.getvalue()


def _cell(value):
    if value is None:
        return ""
    return repr(float(value)) if isinstance(value, float) else value
