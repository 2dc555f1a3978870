"""Run a study: mesh each design once, run every load case on it, write results.

Output under OUTDIR: ``summary.csv`` (one row per job), ``comparison.csv``,
``manifest.json`` and per job ``<design>/<revision>/<loadcase>/results.json`` and
``fields.vtu``. A job that fails in the mesher or solver is recorded as failed with
its reason; the others still run. The run returns a :class:`StudyResult`, from which
:mod:`femvalid.report` writes the report (the study knows nothing of reports).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import sys
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from femvalid import __version__
from femvalid._csvtext import csv_text
from femvalid._files import check_output_folder, exclusive_lock, remove_partial_files, write_atomic
from femvalid.errors import InputError
from femvalid.geometry import load_surface
from femvalid.loadcases import LOADCASE_TYPES
from femvalid.meshing import write_vtu
from femvalid.post import qoi
from femvalid.study import bench, cache, worst_case
from femvalid.study.comparison import compare_revisions, comparison_csv
from femvalid.study.convergence import convergence_warnings
from femvalid.study.criteria import evaluate_criteria
from femvalid.study.execution import (
    JobOutcome,
    MeshOutcome,
    check_memory_for_workers,
    job_task,
    make_backend,
    mesh_task,
)
from femvalid.study.lattices import gibson_ashby_csv, gibson_ashby_fits
from femvalid.study.paths import DESIGN_PAGE
from femvalid.study.provenance import manifest, utc_now
from femvalid.study.studyfile import Study, baselines, mesh_sizes

__all__ = ["JobResult", "StudyResult", "run_study", "summary_csv"]

#: Files whose presence means OUTDIR holds an earlier run (as do job folders holding
#: results.json or fields.vtu); a --force run removes them before it starts.
_EARLIER = ("summary.csv", "comparison.csv", "manifest.json", "report.html", "report.pdf", "worst_case.csv",
            "gibson_ashby.csv")
_JOB_FILES = ("results.json", "fields.vtu")
#: Present while a run is under way; left behind by a run that was killed, whose partial
#: outputs the next run replaces (they were never presented as results).
INCOMPLETE_NAME = ".femvalid-run-incomplete"
#: Held by the run writing into OUTDIR; a second run into the same folder is refused.
LOCK_NAME = ".femvalid-run.lock"


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


@dataclass(frozen=True, eq=False)
class StudyResult:
    """A finished run: its jobs and everything the report is made from.

    Attributes
    ----------
    study : Study
    outdir : Path
        Where the run wrote its files.
    jobs : tuple of JobResult
        In study order (designs, then load cases).
    comparison : tuple of dict
        The revision comparison (:func:`femvalid.study.comparison.compare_revisions`).
    manifest : dict
        The provenance record written to manifest.json.
    surfaces : tuple
        (Surface, CheckReport) of each design, in study order, as the run read them.
    worst_case : tuple of Selection
        The rows of worst_case.csv (:mod:`femvalid.study.worst_case`); empty without a family.
    """

    study: Study
    outdir: Path
    jobs: tuple
    comparison: tuple
    manifest: dict
    surfaces: tuple
    worst_case: tuple = ()

    @property
    def failed(self) -> list[JobResult]:
        """The jobs that failed in the mesher or solver."""
        return [r for r in self.jobs if r.status != "ok"]


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _job_folders(outdir: Path) -> list[Path]:
    """``<design>/<revision>/<loadcase>`` folders under ``outdir`` holding a job's files."""
    return sorted({p.parent for name in _JOB_FILES for p in outdir.glob(f"*/*/*/{name}")})


def check_outdir(outdir: Path, force: bool) -> None:
    """Refuse (exit status 2) an output folder that cannot be written, or that holds an
    earlier run's outputs (summary, report, comparison, manifest or job folders) unless
    ``force``. Creates nothing."""
    outdir = Path(outdir)
    check_output_folder(outdir, "output folder")
    if force or not outdir.is_dir() or (outdir / INCOMPLETE_NAME).is_file():
        return
    found = [name for name in _EARLIER if (outdir / name).exists()]
    jobs = _job_folders(outdir)
    if jobs:
        found.append(f"{len(jobs)} job folder{'s' if len(jobs) > 1 else ''} such as {jobs[0].relative_to(outdir)}/")
    if found:
        raise InputError(outdir, f"holds the results of an earlier run ({', '.join(found)}); use --force to "
                                 "overwrite them or -o for another folder")


#: Output folders this process holds the lock of, per thread: (real path, thread id).
_HELD_OUTDIRS: set[tuple[str, int]] = set()


@contextmanager
def outdir_lock(outdir: Path, force: bool = False):
    """Hold OUTDIR's run lock (creating the folder), refusing a folder another run is
    writing into, then check it for an earlier run (:func:`check_outdir`).

    Re-entrant within a thread: ``femvalid demo`` takes it before it writes the study
    file and designs, then runs the study, which takes it again.
    """
    outdir = Path(outdir)
    check_outdir(outdir, force)
    key = (os.path.realpath(outdir), threading.get_ident())
    if key in _HELD_OUTDIRS:
        yield outdir
        return
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(outdir, f"cannot create the output folder: {exc.strerror or exc}") from None
    label = f"pid {os.getpid()} on {platform.node()}, started {utc_now()}"
    with exclusive_lock(outdir / LOCK_NAME, label) as held:
        if held is not True:
            raise InputError(outdir, f"another femvalid run ({held}) is writing into this folder; wait for it "
                                     "to finish or use -o for another folder")
        check_outdir(outdir, force)  # again, now that no other run can be writing
        _HELD_OUTDIRS.add(key)
        try:
            yield outdir
        finally:
            _HELD_OUTDIRS.discard(key)


def _clear_earlier_run(outdir: Path) -> None:
    """Remove an earlier (or a killed) run's outputs, so that none is listed as this run's:
    its summary, report, tables and manifest, every job folder's files and every design's report page."""
    for name in _EARLIER:
        if (outdir / name).is_file():
            (outdir / name).unlink()
    for folder in _job_folders(outdir):
        for item in folder.iterdir():
            if item.is_file() or item.is_symlink():
                item.unlink()
        page = folder.parent.parent / DESIGN_PAGE
        if page.is_file() or page.is_symlink():
            page.unlink()
        for empty in (folder, folder.parent, folder.parent.parent):  # keep any folder a user put files in
            try:
                empty.rmdir()
            except OSError:
                break


def _check_mesh_sizes(study: Study, surfaces, scheduler) -> None:
    """Refuse a mesh size that is larger than a part or whose job would not fit, before any work."""
    from femvalid.meshing.mesher import available_memory_bytes, check_mesh_size
    from femvalid.study.execution import BYTES_PER_DOF

    available = None if scheduler else available_memory_bytes()  # a cluster's memory is not this machine's
    subsidence = any(case.type == "subsidence" for case in study.loadcases)
    per_node = 3.0 * BYTES_PER_DOF[study.mesh_order] * (3.0 if subsidence else 1.0)
    for design, (surface, _) in zip(study.designs, surfaces):
        check_mesh_size(surface, min(mesh_sizes(study, design, surface)), study.mesh_order,
                        source=f"{study.path}: design {design.name!r} revision {design.revision!r}",
                        available_bytes=available, extra_bytes_per_node=per_node, what="mesh size")


def run_study(study: Study, outdir: Path, force: bool = False, progress: bool = True,
              use_cache: bool = True, workers: int = 1, scheduler: str | None = None,
              security=None, report: Callable[[StudyResult], object] | None = None) -> StudyResult:
    """Run every job of ``study`` into ``outdir``; returns the :class:`StudyResult`.

    With ``use_cache``, a job whose inputs and settings are unchanged since it last
    ran (anywhere) is taken from the cache instead of being meshed and solved again.
    ``workers`` > 1 runs meshing and jobs in a local process pool; ``scheduler`` (a
    Dask scheduler address, never implied) runs them on that cluster, with Dask
    ``security`` settings. The results are the same as a serial run's. ``report``, if
    given, is called with the result while OUTDIR is still locked, so that what it
    writes there (the CLI writes report.html and report.pdf) belongs to this run.
    """
    outdir = Path(outdir)
    check_outdir(outdir, force)
    # Every STL is read and checked, and every mesh estimated, before anything is
    # written: bad input stops the run whole (exit 2) instead of half-way through.
    surfaces = [load_surface(design.stl, design.units, repair=design.repair) for design in study.designs]
    _check_mesh_sizes(study, surfaces, scheduler)
    if workers > 1 and not scheduler:
        check_memory_for_workers(study, surfaces, workers)
    backend = make_backend(workers, scheduler, security)
    try:
        with outdir_lock(outdir, force):
            remove_partial_files(outdir)
            marker = outdir / INCOMPLETE_NAME
            if force or marker.is_file():  # nothing of an earlier or a killed run is presented as this run's
                _clear_earlier_run(outdir)
            write_atomic(marker, f"{study.path}\n")
            result = _run_locked(study, surfaces, outdir, progress, use_cache, backend)
            if report is not None:
                report(result)
            marker.unlink(missing_ok=True)
            return result
    finally:
        backend.close()


def _run_locked(study, surfaces, outdir, progress, use_cache, backend) -> StudyResult:
    from tqdm import tqdm

    started = utc_now()
    bar = tqdm(total=len(study.designs) * len(study.loadcases), desc=study.name, unit="job",
               disable=not progress, file=sys.stderr)
    results: dict[tuple[int, int], JobResult] = {}
    try:
        _run_jobs(study, surfaces, outdir, use_cache, backend, bar, results)
        _gci_of_worst(study, surfaces, outdir, use_cache, backend, bar, results)
    finally:
        bar.close()
    results = [results[key] for key in sorted(results)]
    selections = tuple(worst_case.select(study, results))
    if selections:
        write_atomic(outdir / "worst_case.csv", worst_case.worst_case_csv(selections))
    write_atomic(outdir / "summary.csv", summary_csv(results))
    comparison = compare_revisions(results, baselines(study))
    write_atomic(outdir / "comparison.csv", comparison_csv(comparison))
    fits = gibson_ashby_fits(results)
    if fits:
        write_atomic(outdir / "gibson_ashby.csv", gibson_ashby_csv(fits))
    record = manifest(study, outdir, results, started, utc_now())
    record["execution"] = backend.description
    if selections:
        record["worst_case"] = worst_case.provenance(study)
    write_atomic(outdir / "manifest.json", json.dumps(_json_safe(record), indent=2) + "\n")
    return StudyResult(study, outdir, tuple(results), tuple(comparison), record, tuple(surfaces), selections)


def _gci_of_worst(study, surfaces, outdir, use_cache, backend, bar, results) -> None:
    """Run each family's worst member and runner-up again on three meshes (h, h·√2, 2h), as
    ``[mesh] refine`` does, where no job ran on three meshes; a refined job that fails leaves
    the first result, with a warning."""
    targets = worst_case.gci_targets(study, results.values())
    per_design: dict[int, list[int]] = {}
    for (i, j), r in sorted(results.items()):
        if (r.design, r.revision, r.loadcase) in targets:
            per_design.setdefault(i, []).append(j)
    groups: dict[tuple, list[int]] = {}
    for i, cases in per_design.items():
        sizes = worst_case.refine_sizes(min(mesh_sizes(study, study.designs[i], surfaces[i][0])))
        groups.setdefault((sizes, tuple(cases)), []).append(i)
    for (sizes, cases), members in groups.items():
        sub = dataclasses.replace(study, designs=tuple(study.designs[i] for i in members), mesh_refine_mm=sizes,
                                  loadcases=tuple(study.loadcases[j] for j in cases))
        bar.total += len(members) * len(cases)
        bar.refresh()
        refined: dict[tuple[int, int], JobResult] = {}
        _run_jobs(sub, [surfaces[i] for i in members], outdir, use_cache, backend, bar, refined)
        for (a, b), r in refined.items():
            key = (members[a], cases[b])
            if r.status == "ok":
                results[key] = r
                continue
            first = results[key]
            first.warnings.append(f"the automatic three-mesh GCI ({', '.join(f'{h:.3g}' for h in sizes)} mm) of "
                                  f"this worst-case candidate failed: {r.error}")
            _write_results(outdir / first.design / first.revision / first.loadcase, first)


def _run_jobs(study, surfaces, outdir, use_cache, backend, bar, results) -> None:
    """Mesh each design that has a job to run, then run its jobs, as the back-end allows.

    A task whose worker died (killed, out of memory) is run once more on a fresh
    worker; if that fails too, its jobs are recorded as failed with the reason.
    """
    pending = {}  # task handle -> (what, design index, detail, fn, args, attempt)

    def submit(what, i, detail, fn, args, attempt=1):
        try:
            handle = backend.submit(fn, *args)
        except Exception:  # the pool broke since the last task finished (a worker died)
            backend.recover()
            handle = backend.submit(fn, *args)
        pending[handle] = (what, i, detail, fn, args, attempt)

    # Designs meshed alike (the same STL and mesh settings: identical family members, one
    # geometry in two materials) share one mesh; identical jobs (the same job key) one solve.
    by_mesh: dict[tuple, list] = {}  # mesh key -> [(design index, load-case indices), ...]
    twins: dict[str, list] = {}  # job key -> [(design index, load-case index), ...] of this run
    for i, (design, (surface, report)) in enumerate(zip(study.designs, surfaces)):
        todo = []
        for j, case in enumerate(study.loadcases):
            key = cache.job_key(study, design, case)
            stored = cache.load(key, _job_folder(outdir, design, case)) if use_cache else None
            if stored is not None:
                results[i, j] = _from_cache(stored, study, design, case, _job_folder(outdir, design, case))
                bar.update()
            elif key in twins:
                twins[key].append((i, j))
            else:
                twins[key] = []
                todo.append(j)
        if todo:
            sizes = mesh_sizes(study, design, surface)
            alike = (study.inputs[str(design.stl)], design.units, design.repair, design.surface, tuple(sizes),
                     study.mesh_order)
            if alike not in by_mesh:
                submit("mesh", i, alike, mesh_task, (design, surface, report, sizes, study.mesh_order))
            by_mesh.setdefault(alike, []).append((i, todo))
    meshed = {}
    while pending:
        for handle in backend.wait(list(pending)):
            what, i, detail, fn, args, attempt = pending.pop(handle)
            design = study.designs[i]
            try:
                outcome = handle.result()
            except Exception as exc:
                if attempt == 1:
                    backend.recover()
                    submit(what, i, detail, fn, args, attempt=2)
                    continue
                reason = f"the worker running it failed twice: {type(exc).__name__}: {exc}".rstrip(": ")
                outcome = MeshOutcome(None, error=reason) if what == "mesh" else JobOutcome(error=reason)
            if what == "mesh":
                group = by_mesh.pop(detail)
                if outcome.meshes is None:
                    for i, todo in group:
                        for j in todo:
                            for k, m in [(i, j), *twins[cache.job_key(study, study.designs[i], study.loadcases[j])]]:
                                results[k, m] = _failed(study.designs[k], study.loadcases[m], outcome.error)
                                bar.update()
                    continue
                shared = backend.share(outcome.meshes)
                for i, todo in group:
                    design = study.designs[i]
                    meshed[i] = outcome
                    for j in todo:
                        case = study.loadcases[j]
                        submit("job", i, j, job_task, (design, case, shared,
                                                       f"{design.name} {design.revision} / {case.name}",
                                                       LOADCASE_TYPES[case.type]))
                outcome.meshes = None  # the jobs hold them now
            else:
                case = study.loadcases[detail]
                bar.set_postfix_str(f"{design.name} {design.revision} {case.name}")
                key = cache.job_key(study, design, case)
                for k, m in [(i, detail), *twins[key]]:
                    result = _record_job(study, study.designs[k], case, meshed[i], outcome, outdir)
                    if use_cache and result.status == "ok" and k == i:
                        cache.store(key, _job_folder(outdir, design, case))
                    results[k, m] = result
                    bar.update()


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
        if "curve" in v:  # a bench curve: stiffness and offset yield
            result.validation += bench.compare_curve(v, result.qoi, result.convergence)
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


def _record_job(study, design, case, meshed: MeshOutcome, outcome: JobOutcome, outdir) -> JobResult:
    """Write a finished job's fields and results.json into its folder."""
    result = JobResult(design.name, design.revision, case.name, mesh=meshed.info, warnings=list(meshed.warnings))
    result.inputs = _inputs(study, design, case)
    folder = _job_folder(outdir, design, case)
    if outcome.error:
        result.status, result.error = "failed", outcome.error
    else:
        analysis = outcome.analysis
        result.qoi, result.solver = analysis.qoi, analysis.solver
        result.warnings += analysis.warnings
        result.convergence = outcome.convergence
        result.warnings += convergence_warnings(result.convergence)
        write_vtu(analysis.mesh, folder / "fields.vtu", point_data=analysis.point_data, cell_data=analysis.cell_data)
        result.criteria = evaluate_criteria(study.criteria, result.qoi, result.convergence)
        _compare_with_bench(study, result)
    _write_results(folder, result)
    return result


def summary_csv(results) -> str:
    """One row per job: identity, status, every QoI (in the QoI table's order), GCIs, mesh, solver, error."""
    qoi_keys = qoi.ordered(k for r in results for k in r.qoi)
    gci_keys = qoi.ordered(k for r in results for k in r.convergence)
    header = ["design", "revision", "loadcase", "status", *qoi_keys, *[f"{k}_gci_percent" for k in gci_keys],
              "criteria", "criteria_failed", "mesh_elements", "solver", "solver_iterations", "warnings", "error"]
    rows = ([r.design, r.revision, r.loadcase, r.status,
             *[r.qoi.get(k) for k in qoi_keys],
             *[r.convergence.get(k, {}).get("gci_fine_percent") for k in gci_keys],
             ("fail" if r.criteria_failed else "pass") if r.criteria else "", ";".join(r.criteria_failed),
             r.mesh.get("elements"), r.solver.get("method"), r.solver.get("iterations"), len(r.warnings), r.error]
            for r in results)
    return csv_text(header, rows)
