"""The second robustness round (issue 15): nothing a user wrote is lost, no runaway work,
no orphaned processes, exit status 2 (never an internal error) for bad input, messages
a user can act on. Each test is an example from the issue; none meshes where a check
before meshing suffices, except the orphan tests, which need a gmsh worker to kill.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from femvalid._files import exclusive_lock
from femvalid.geometry import InterbodyCage, load_surface, write_stl
from femvalid.study import read_study
from femvalid.study.runner import INCOMPLETE_NAME, LOCK_NAME
from tests.helpers import assert_one_line_error, box_triangles, run_cli

REPO = Path(__file__).resolve().parent.parent

STUDY = """
[study]
name = "robust"

[mesh]
size = {size}
order = 1

[[design]]
name = "block"
revision = "A"
stl = "block.stl"
material = "ti6al4v-am"
{design_extra}
[[loadcase]]
{loadcase}
"""

AXIAL = """name = "axial"
type = "axial_compression"
force = 500.0
"""


def make_study(folder: Path, size=2.0, loadcase=AXIAL, design_extra="", triangles=None, name="study.toml") -> Path:
    write_stl(folder / "block.stl", box_triangles((0, 0, 0), (12, 8, 6)) if triangles is None else triangles)
    path = folder / name
    path.write_text(STUDY.format(size=size, loadcase=loadcase, design_extra=design_extra), encoding="utf-8")
    return path


def snapshot(folder: Path) -> dict:
    """Every file under ``folder`` (relative path → bytes), the lock file left out."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != LOCK_NAME}


@pytest.fixture
def failing_mesher(monkeypatch):
    """Jobs fail at once in the 'solver' (no gmsh): a run that gets this far accepted its input."""
    import femvalid.study.runner as runner
    from femvalid.study.execution import JobOutcome, MeshOutcome

    monkeypatch.setattr(runner, "mesh_task", lambda design, surface, report, sizes, order:
                        MeshOutcome(["a mesh"], {"elements": 1, "nodes": 4}, []))
    monkeypatch.setattr(runner, "job_task", lambda *args: JobOutcome(error="CG stagnated (planted failure)"))


# -- 1. nothing a user wrote is lost --------------------------------------------------------

def test_demo_does_not_replace_a_users_study_file(capsys, tmp_path):
    study = tmp_path / "study.toml"
    study.write_text("# my own study\n")
    status, _, err = run_cli(capsys, "demo", "-o", tmp_path, "--no-progress")
    assert_one_line_error(status, err, 2, "study.toml", "not the demo's", "--force")
    assert study.read_text() == "# my own study\n"
    assert not (tmp_path / "designs").exists()


def test_demo_takes_the_lock_before_it_writes(capsys, tmp_path):
    study = tmp_path / "study.toml"
    study.write_text("# the running study\n")
    with exclusive_lock(tmp_path / LOCK_NAME, "pid 4242 on bench-pc, started 2026-11-21T10:00:00Z") as held:
        assert held is True
        status, _, err = run_cli(capsys, "demo", "-o", tmp_path, "--no-progress", "--force")
    assert_one_line_error(status, err, 2, "another femvalid run (pid 4242")
    assert study.read_text() == "# the running study\n"
    assert not (tmp_path / "designs").exists()


def test_demo_refuses_an_earlier_run_without_force(capsys, tmp_path):
    (tmp_path / "summary.csv").write_text("design\n")
    status, _, err = run_cli(capsys, "demo", "-o", tmp_path, "--no-progress")
    assert_one_line_error(status, err, 2, "earlier run", "--force")
    assert not (tmp_path / "study.toml").exists()


def test_mesh_needs_force_to_overwrite(capsys, tmp_path):
    stl, out = tmp_path / "block.stl", tmp_path / "existing.vtu"
    write_stl(stl, box_triangles((0, 0, 0), (12, 8, 6)))
    out.write_text("my mesh")
    status, _, err = run_cli(capsys, "mesh", stl, "-o", out)
    assert_one_line_error(status, err, 2, str(out), "exists; use --force")
    assert out.read_text() == "my mesh"


@pytest.mark.parametrize("planted", [["report.html", "comparison.csv", "block/A/axial/results.json"],
                                     ["report.html"], ["comparison.csv"], ["manifest.json"],
                                     ["other/B/torsion/fields.vtu"]])
def test_run_refuses_an_earlier_runs_outputs_without_summary(capsys, tmp_path, planted):
    study, out = make_study(tmp_path), tmp_path / "out"
    for name in planted:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(f"earlier {name}")
    before = snapshot(out)
    status, _, err = run_cli(capsys, "run", study, "-o", out, "--no-progress")
    assert_one_line_error(status, err, 2, "earlier run", "--force")
    assert snapshot(out) == before


def _plant_earlier_run(out: Path, jobs) -> None:
    for job in jobs:
        (out / job).mkdir(parents=True)
        (out / job / "results.json").write_text('{"status": "ok", "qoi": {"stiffness_N_per_mm": 1e9}}')
        (out / job / "fields.vtu").write_text("stale fields")
    for name in ("summary.csv", "comparison.csv", "manifest.json", "report.html", "worst_case.csv"):
        (out / name).write_text(f"earlier {name}")


def test_force_rerun_whose_job_fails_lists_no_stale_file(capsys, tmp_path, failing_mesher):
    study, out = make_study(tmp_path), tmp_path / "out"
    _plant_earlier_run(out, ["block/A/axial"])
    status, _, err = run_cli(capsys, "run", study, "-o", out, "--no-progress", "--force")
    assert status == 3, err
    folder = out / "block" / "A" / "axial"
    assert not (folder / "fields.vtu").exists()
    assert json.loads((folder / "results.json").read_text())["status"] == "failed"
    manifest = json.loads((out / "manifest.json").read_text())
    assert [sorted(job["outputs"]) for job in manifest["jobs"]] == [["results.json"]]
    assert not (out / "worst_case.csv").exists()  # this study wrote none: the earlier one is gone
    assert not (out / INCOMPLETE_NAME).exists()


def test_force_run_of_another_study_removes_the_old_job_folders(capsys, tmp_path, failing_mesher):
    study, out = make_study(tmp_path), tmp_path / "out"
    _plant_earlier_run(out, ["old-cage/B/torsion", "block/A/axial"])
    (out / "notes.txt").write_text("the user's own notes")
    (out / "old-cage" / "B" / "drawing.pdf").write_text("the user's own file")
    (out / "old-cage" / "report.html").write_text("the old design's report page")
    status, _, err = run_cli(capsys, "run", study, "-o", out, "--no-progress", "--force")
    assert status == 3, err
    assert not (out / "old-cage" / "B" / "torsion").exists() and not (out / "old-cage" / "report.html").exists()
    assert (out / "old-cage" / "B" / "drawing.pdf").exists() and (out / "notes.txt").exists()
    listed = {job["folder"] for job in json.loads((out / "manifest.json").read_text())["jobs"]}
    on_disk = {p.parent.relative_to(out).as_posix() for p in out.glob("*/*/*/results.json")}
    assert on_disk == listed == {"block/A/axial"}


def test_a_killed_runs_leftovers_are_replaced_not_presented(capsys, tmp_path, failing_mesher):
    """A run killed part-way leaves its marker; the next run replaces its partial outputs without --force."""
    study, out = make_study(tmp_path), tmp_path / "out"
    _plant_earlier_run(out, ["block/A/axial"])
    (out / "summary.csv").unlink()
    (out / INCOMPLETE_NAME).write_text(f"{study}\n")
    status, _, err = run_cli(capsys, "run", study, "-o", out, "--no-progress")
    assert status == 3, err
    assert not (out / "block" / "A" / "axial" / "fields.vtu").exists()
    assert not (out / INCOMPLETE_NAME).exists()


# -- 2b. the units guard judges against implant sizes ----------------------------------------

@pytest.mark.parametrize("extent, unit, fits", [
    (26.0 / 25.4, "in", "26 mm"),    # a 26 mm cage exported in inches: largest dimension 1.02
    (2.6, "cm", "26 mm"),            # the same cage in centimetres
    (40.0 / 25.4, "in", "40 mm"),    # a 40 mm VBR in inches: 1.57
])
def test_inch_and_centimetre_exports_are_warned(capsys, tmp_path, extent, unit, fits):
    stl = tmp_path / "part.stl"
    write_stl(stl, box_triangles((0, 0, 0), (extent, 0.4 * extent, 0.4 * extent)))
    status, out, _ = run_cli(capsys, "check", stl)
    assert status == 0
    warning = next(line for line in out.splitlines() if "warning:" in line)
    assert "not in millimetres" in warning and f"--units {unit}" in warning and fits in warning
    assert "5–120 mm" in warning


def test_the_inch_cage_named_by_its_scale(tmp_path):
    cage = InterbodyCage().surface().triangles / 25.4
    stl = tmp_path / "cage_in.stl"
    write_stl(stl, cage)
    _, report = load_surface(stl)
    assert any("as inches it would be 26 mm (--units in)" in w for w in report.warnings), report.warnings
    _, report = load_surface(stl, units="in")
    assert not report.warnings


@pytest.mark.parametrize("extent", [6.0, 26.0, 100.0])
def test_implant_sizes_pass_the_units_guard(tmp_path, extent):
    stl = tmp_path / "part.stl"
    write_stl(stl, box_triangles((0, 0, 0), (extent, 0.5 * extent, 0.5 * extent)))
    assert not load_surface(stl)[1].warnings


def test_micrometre_export_is_warned(tmp_path):
    stl = tmp_path / "part.stl"
    write_stl(stl, box_triangles((0, 0, 0), (26000.0, 11000.0, 10000.0)))
    (warning,) = load_surface(stl)[1].warnings
    assert "larger than spinal implants" in warning and "micrometres" in warning


# -- 3. no runaway work ------------------------------------------------------------------------

def _block_stl(tmp_path) -> Path:
    stl = tmp_path / "block.stl"
    write_stl(stl, box_triangles((0, 0, 0), (26, 11, 10)))
    return stl


def test_tiny_mesh_size_is_refused_with_the_estimate(capsys, tmp_path):
    started = time.monotonic()
    status, _, err = run_cli(capsys, "mesh", _block_stl(tmp_path), "-o", tmp_path / "m.vtu", "--size", "1e-4")
    assert_one_line_error(status, err, 2, "--size 0.0001 mm would give about", "tetrahedra", "use a size of at least")
    assert time.monotonic() - started < 10
    assert not (tmp_path / "m.vtu").exists()


@pytest.mark.parametrize("size, fragment", [("inf", "positive, finite"), ("1e300", "larger than the part"),
                                            ("100", "larger than the part"), ("nan", "positive, finite"),
                                            ("0", "positive, finite")])
def test_absurd_mesh_sizes_are_refused(capsys, tmp_path, size, fragment):
    status, _, err = run_cli(capsys, "mesh", _block_stl(tmp_path), "-o", tmp_path / "m.vtu", "--size", size)
    assert_one_line_error(status, err, 2, fragment)


@pytest.mark.parametrize("timeout", ["0", "-5", "nan", "inf"])
def test_absurd_timeouts_are_input_errors(capsys, tmp_path, timeout):
    status, _, err = run_cli(capsys, "mesh", _block_stl(tmp_path), "-o", tmp_path / "m.vtu", "--timeout", timeout)
    assert_one_line_error(status, err, 2, "--timeout must be a positive, finite number of seconds")


def test_study_mesh_size_too_fine_is_refused_before_meshing(capsys, tmp_path):
    study, out = make_study(tmp_path, size=1e-4), tmp_path / "out"
    status, _, err = run_cli(capsys, "run", study, "-o", out, "--no-progress")
    assert_one_line_error(status, err, 2, "mesh size 0.0001 mm would give about", "tetrahedra")
    assert not out.exists()


def test_study_mesh_size_larger_than_the_part_is_refused(capsys, tmp_path):
    study, out = make_study(tmp_path, size=100.0), tmp_path / "out"
    status, _, err = run_cli(capsys, "run", study, "-o", out, "--no-progress")
    assert_one_line_error(status, err, 2, "larger than the part")


def _run_in_subprocess(*argv, timeout=60):
    env = {k: v for k, v in os.environ.items() if k != "FEMVALID_DEBUG"}
    return subprocess.run([sys.executable, "-m", "femvalid", *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=env)


def test_run_dev_zero_is_refused_unread(capsys, tmp_path):
    status, _, err = run_cli(capsys, "run", "/dev/zero", "-o", tmp_path / "out")
    assert_one_line_error(status, err, 2, "/dev/zero", "character device", "not a TOML file")
    study = make_study(tmp_path, loadcase='file = "/dev/zero"')
    status, _, err = run_cli(capsys, "run", study, "-o", tmp_path / "out")
    assert_one_line_error(status, err, 2, "/dev/zero", "character device")


def test_fifo_study_and_loadcase_files_are_refused(tmp_path):
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    proc = _run_in_subprocess("run", fifo, "-o", tmp_path / "out")
    assert_one_line_error(proc.returncode, proc.stderr, 2, "FIFO")
    study = make_study(tmp_path, loadcase='file = "pipe.toml"')
    proc = _run_in_subprocess("run", study, "-o", tmp_path / "out")
    assert_one_line_error(proc.returncode, proc.stderr, 2, "FIFO")
    proc = _run_in_subprocess("check", fifo)
    assert_one_line_error(proc.returncode, proc.stderr, 2, "FIFO")


def test_oversized_study_file_is_refused(capsys, tmp_path):
    big = tmp_path / "big.toml"
    with open(big, "wb") as fh:
        fh.truncate(17 * 2**20)  # sparse: no disk used
    status, _, err = run_cli(capsys, "run", big, "-o", tmp_path / "out")
    assert_one_line_error(status, err, 2, "too large for a TOML file")


# -- 4. no orphans ---------------------------------------------------------------------------

def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("command, sig", [("mesh", signal.SIGKILL), ("mesh", signal.SIGTERM), ("run", signal.SIGKILL)])
def test_gmsh_worker_dies_with_femvalid(tmp_path, command, sig):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch), "OMP_NUM_THREADS": "1", "FEMVALID_CACHE_DIR": str(tmp_path / "c")}
    if command == "mesh":
        stl = tmp_path / "big.stl"
        write_stl(stl, box_triangles((0, 0, 0), (40, 40, 40)))
        argv = ["mesh", stl, "-o", tmp_path / "big.vtu", "--size", "0.8"]
    else:
        argv = ["run", make_study(tmp_path, size=0.8, triangles=box_triangles((0, 0, 0), (40, 40, 40))),
                "-o", tmp_path / "out", "--no-progress"]
    proc = subprocess.Popen([sys.executable, "-m", "femvalid", *map(str, argv)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert _wait_for(lambda: _children(proc.pid), 60), "no gmsh worker started"
        (worker,) = _children(proc.pid)
        assert list(scratch.glob("femvalid-mesh-*"))
        time.sleep(0.5)  # well inside gmsh
        proc.send_signal(sig)
        proc.wait(timeout=30)
        assert _wait_for(lambda: _gone(worker), 10), "the gmsh worker outlived femvalid"
        assert _wait_for(lambda: not list(scratch.glob("femvalid-mesh-*")), 10), list(scratch.iterdir())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for child in _children(proc.pid):
            os.kill(child, signal.SIGKILL)


def _worker_request(folder: Path, size=0.5) -> Path:
    """An input file for the gmsh worker, as femvalid.meshing.mesher writes it (a 40 mm cube)."""
    from femvalid.geometry.implants import box_surface

    surface = box_surface((0, 0, 0), (40, 40, 40))
    folder.mkdir()
    request = folder / "in.npz"
    np.savez(request, vertices=surface.vertices, faces=surface.faces, size=size, threads=1, angle_deg=40.0,
             refine=np.zeros(0), surface=np.array("remesh"), face_shell=np.zeros(0), shell_owner=np.zeros(0))
    return request


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_gmsh_worker_watches_its_parents_pipe_and_keeps_its_own_deadline(tmp_path):
    from femvalid.meshing.worker import ORPHANED, OVERTIME

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # The parent's end of the pipe closes (as when the parent dies): the worker ends and removes its folder.
    folder = tmp_path / "femvalid-mesh-1-pipe"
    request = _worker_request(folder)
    read_end, write_end = os.pipe()
    worker = subprocess.Popen([sys.executable, "-m", "femvalid.meshing.worker", str(request), str(folder / "out.npz"),
                               "--parent-fd", str(read_end), "--deadline", "600"], pass_fds=(read_end,), env=env,
                              stderr=subprocess.PIPE)
    os.close(read_end)
    time.sleep(1.5)
    os.close(write_end)
    assert worker.wait(timeout=15) == ORPHANED
    assert "parent process ended" in worker.stderr.read().decode()
    assert not folder.exists()
    # Its own deadline, with no parent to kill it.
    folder = tmp_path / "femvalid-mesh-1-deadline"
    request = _worker_request(folder)
    started = time.monotonic()
    worker = subprocess.run([sys.executable, "-m", "femvalid.meshing.worker", str(request), str(folder / "out.npz"),
                             "--deadline", "1.5"], env=env, capture_output=True, timeout=60)
    assert worker.returncode == OVERTIME and time.monotonic() - started < 30
    assert b"own deadline" in worker.stderr and not folder.exists()


def test_orphaned_temporary_folders_are_removed(tmp_path):
    from femvalid.meshing.mesher import remove_orphaned_folders

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale, alive = tmp_path / f"femvalid-mesh-{dead.pid}-abc", tmp_path / f"femvalid-mesh-{os.getpid()}-def"
    for folder in (stale, alive):
        folder.mkdir()
        (folder / "in.npz").write_bytes(b"x" * 100)
    assert remove_orphaned_folders(tmp_path) == 1
    assert not stale.exists() and alive.exists()


# -- 5. exit status 2 for bad input, never an internal error ---------------------------------

def test_unwritable_outdir_for_run(capsys, tmp_path):
    study = make_study(tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for outdir in (blocker / "out", Path("/proc/self"), Path("/proc/self/out"), blocker):
        status, _, err = run_cli(capsys, "run", study, "-o", outdir, "--no-progress")
        assert_one_line_error(status, err, 2, str(outdir))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_outdir_for_run(capsys, tmp_path):
    study, locked = make_study(tmp_path), tmp_path / "locked"
    locked.mkdir(mode=0o500)
    status, _, err = run_cli(capsys, "run", study, "-o", locked / "out", "--no-progress")
    assert_one_line_error(status, err, 2, "cannot write")


@pytest.mark.parametrize("target", ["/proc/self/mesh.vtu", "{tmp}/a-file/mesh.vtu", "{tmp}/folder.vtu",
                                    "{tmp}/folder.vtu/", "/proc/self"])
def test_unwritable_mesh_output_is_found_before_meshing(capsys, tmp_path, target):
    (tmp_path / "a-file").write_text("")
    (tmp_path / "folder.vtu").mkdir()
    broken = tmp_path / "broken.stl"  # would fail as an STL: the output is checked first
    write_stl(broken, box_triangles()[2:])
    status, _, err = run_cli(capsys, "mesh", broken, "-o", target.format(tmp=tmp_path))
    assert_one_line_error(status, err, 2)
    assert "open surface" not in err


@pytest.mark.parametrize("target", ["/proc/self", "{tmp}/a-file", "{tmp}/a-file/sub"])
def test_unwritable_verify_output_is_found_before_the_benchmarks(capsys, tmp_path, target):
    (tmp_path / "a-file").write_text("")
    started = time.monotonic()
    status, _, err = run_cli(capsys, "verify", "-o", target.format(tmp=tmp_path), "--quick")
    assert_one_line_error(status, err, 2)
    assert time.monotonic() - started < 5 and "running" not in err


def test_lattice_output_naming_a_folder(capsys, tmp_path):
    (tmp_path / "block.stl").mkdir()
    status, _, err = run_cli(capsys, "lattice", "bcc", "--relative-density", "0.3", "--cell-size", "4",
                             "--cells", "1", "1", "1", "-o", tmp_path / "block.stl", "--force")
    assert_one_line_error(status, err, 2, "is a folder")


def test_symlink_loops_as_inputs(capsys, tmp_path):
    loop_stl, other = tmp_path / "loop.stl", tmp_path / "other.stl"
    loop_stl.symlink_to(other)
    other.symlink_to(loop_stl)
    for command in (["check", loop_stl], ["mesh", loop_stl, "-o", tmp_path / "m.vtu"]):
        status, _, err = run_cli(capsys, *command)
        assert_one_line_error(status, err, 2, "symbolic links")
    loop_toml, other_toml = tmp_path / "loop.toml", tmp_path / "other.toml"
    loop_toml.symlink_to(other_toml)
    other_toml.symlink_to(loop_toml)
    status, _, err = run_cli(capsys, "run", loop_toml, "-o", tmp_path / "out")
    assert_one_line_error(status, err, 2, str(loop_toml))
    study = make_study(tmp_path, loadcase='file = "loop.toml"')
    status, _, err = run_cli(capsys, "run", study, "-o", tmp_path / "out")
    assert_one_line_error(status, err, 2, "loop.toml")
    study.write_text(study.read_text().replace('stl = "block.stl"', 'stl = "loop.stl"').replace(
        'file = "loop.toml"', AXIAL))
    status, _, err = run_cli(capsys, "run", study, "-o", tmp_path / "out")
    assert_one_line_error(status, err, 2, "loop.stl")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("shape", [["--cells", "46", "46", "46"], ["--cells", "100000", "1", "1"],
                                   ["--cage", "1e4", "1e4", "1e4"], ["--cage", "1e300", "1e300", "10"]])
def test_huge_lattice_grid_is_refused_with_the_estimate(capsys, tmp_path, shape):
    started = time.monotonic()
    status, _, err = run_cli(capsys, "lattice", "gyroid-sheet", "--relative-density", "0.3", "--cell-size", "4",
                             *shape, "-o", tmp_path / "x.stl")
    assert_one_line_error(status, err, 2, "contouring grid", "voxels")
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("address, fragment", [("banana", "not a scheduler address"),
                                               ("tcp://10.0.0.5:99999", "port must be a number from 1 to 65535"),
                                               ("tcp://10.0.0.5:0", "port must be"),
                                               ("http://10.0.0.5:8786", "unknown protocol"),
                                               ("tcp://:8786", "not a scheduler address")])
def test_scheduler_address_is_checked_at_once(capsys, tmp_path, address, fragment):
    study = make_study(tmp_path)
    started = time.monotonic()
    status, _, err = run_cli(capsys, "run", study, "-o", tmp_path / "out", "--no-progress", "--scheduler", address)
    assert_one_line_error(status, err, 2, "--scheduler", fragment)
    assert time.monotonic() - started < 5
    assert not (tmp_path / "out").exists()


def test_out_of_memory_is_an_input_error_not_an_internal_one(capsys, monkeypatch):
    import femvalid.cli.check as check

    def exhausted(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(check, "load_surface", exhausted)
    status, _, err = run_cli(capsys, "check", "any.stl")
    assert_one_line_error(status, err, 2, "out of memory")
    assert "internal error" not in err


# -- 6. messages a user can act on -----------------------------------------------------------

def _ascii_stl(triangles) -> str:
    lines = ["solid part"]
    for t in triangles:
        lines += ["facet normal 0 0 0", "outer loop", *[f"vertex {float(x)!r} {float(y)!r} {float(z)!r}" for x, y, z in t],
                  "endloop", "endfacet"]
    return "\n".join(lines + ["endsolid part", ""])


def test_stl_with_a_byte_order_mark_is_read(capsys, tmp_path):
    stl = tmp_path / "bom.stl"
    stl.write_bytes(b"\xef\xbb\xbf" + _ascii_stl(box_triangles((0, 0, 0), (12, 8, 6))).encode())
    status, out, err = run_cli(capsys, "check", stl)
    assert status == 0, err
    assert "valid closed solid (ascii STL, 12 triangles" in out


def test_study_and_loadcase_with_a_byte_order_mark_are_read(tmp_path):
    (tmp_path / "axial.toml").write_bytes(b"\xef\xbb\xbf" + AXIAL.encode())
    study = make_study(tmp_path, loadcase='file = "axial.toml"')
    study.write_bytes(b"\xef\xbb\xbf" + study.read_bytes())
    parsed = read_study(study)
    assert parsed.name == "robust" and parsed.loadcases[0].name == "axial"


def test_repair_hint_can_be_followed(capsys, tmp_path):
    holed, fixed = tmp_path / "holed.stl", tmp_path / "fixed.stl"
    write_stl(holed, box_triangles((0, 0, 0), (12, 8, 6))[1:])
    status, _, err = run_cli(capsys, "check", holed)
    assert_one_line_error(status, err, 2, "open surface", f"femvalid check --repair -o fixed.stl {holed}",
                          "repair = true")
    status, out, err = run_cli(capsys, "check", "--repair", "-o", fixed, holed)
    assert status == 0, err
    assert "closed holes" in out and str(fixed) in out
    status, _, err = run_cli(capsys, "check", fixed)
    assert status == 0, err
    status, _, err = run_cli(capsys, "check", "--repair", "-o", fixed, holed)
    assert_one_line_error(status, err, 2, "exists; use --force")


def test_repair_key_in_a_study(capsys, tmp_path, failing_mesher):
    holes = box_triangles((0, 0, 0), (12, 8, 6))[1:]
    study, out = make_study(tmp_path, triangles=holes), tmp_path / "out"
    status, _, err = run_cli(capsys, "run", study, "-o", out, "--no-progress")
    assert_one_line_error(status, err, 2, "open surface", "repair = true")
    study.write_text(study.read_text().replace('material = "ti6al4v-am"', 'material = "ti6al4v-am"\nrepair = true'))
    assert read_study(study).designs[0].repair is True
    status, _, err = run_cli(capsys, "run", study, "-o", out, "--no-progress")
    assert status == 3, err  # the STL was repaired and accepted; the planted solver failure follows
    study.write_text(study.read_text().replace("repair = true", 'repair = "yes"'))
    status, _, err = run_cli(capsys, "run", study, "-o", tmp_path / "out2", "--no-progress")
    assert_one_line_error(status, err, 2, "'repair' must be true or false")


def test_run_help_points_to_the_shipped_reference(capsys):
    status, out, _ = run_cli(capsys, "run", "--help")
    assert status == 0 and "DESIGN.md" not in out and "docs/study-file.md" in out
    reference = (REPO / "docs" / "study-file.md").read_text(encoding="utf-8")
    for key in ("[[design]]", "[[loadcase]]", "contact_tolerance", "fatigue_ratio", "block_size", "repair",
                "units", "[criteria]", "[[validation]]"):
        assert key in reference


def test_tls_option_without_scheduler_names_itself(capsys, tmp_path):
    study = make_study(tmp_path)
    pem = tmp_path / "ca.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\n")
    status, _, err = run_cli(capsys, "run", study, "--tls-ca-file", pem)
    assert_one_line_error(status, err, 2, "--tls-ca-file applies to a Dask cluster", "--scheduler")
    assert "--tls-cert" not in err
