"""Faults: concurrent runs, runs killed part-way, jobs that fail inside the engine."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from femvalid._files import PARTIAL, exclusive_lock
from femvalid.errors import JobError
from femvalid.geometry import write_stl
from femvalid.study.runner import LOCK_NAME
from tests.helpers import assert_one_line_error, box_triangles, run_cli

STUDY = """
[study]
name = "faults"

[mesh]
size = {size}
order = 1
{designs}
[[loadcase]]
name = "axial"
type = "axial_compression"
force = 500.0
"""

DESIGN = """
[[design]]
name = "block"
revision = "{rev}"
stl = "block_{rev}.stl"
material = "ti6al4v-am"
"""


def make_study(folder: Path, revisions="AB", size=1.5) -> Path:
    for k, rev in enumerate(revisions):
        write_stl(folder / f"block_{rev}.stl", box_triangles((0, 0, 0), (8 + k, 6, 4)))
    path = folder / "study.toml"
    path.write_text(STUDY.format(size=size, designs="".join(DESIGN.format(rev=r) for r in revisions)))
    return path


def test_second_run_into_the_same_folder_is_refused(capsys, tmp_path):
    study, out = make_study(tmp_path), tmp_path / "out"
    out.mkdir()
    with exclusive_lock(out / LOCK_NAME, "pid 4242 on bench-pc, started 2026-11-21T10:00:00Z") as held:
        assert held is True
        status, _, err = run_cli(capsys, "run", study, "-o", out, "--no-progress")
    assert_one_line_error(status, err, 2, str(out), "another femvalid run (pid 4242 on bench-pc",
                          "use -o for another folder")
    assert not (out / "summary.csv").exists()
    # Released: the next run goes ahead.
    assert run_cli(capsys, "run", study, "-o", out, "--no-progress")[0] == 0


def _count_results(out: Path) -> int:
    return len(list(out.glob("*/*/*/results.json")))


@pytest.mark.slow
def test_run_killed_part_way_leaves_nothing_trusted(tmp_path):
    """SIGKILL after the first job: the lock goes with the process, the next run completes."""
    study, out = make_study(tmp_path, revisions="ABCDEF", size=0.6), tmp_path / "out"
    env = {**os.environ, "FEMVALID_CACHE_DIR": str(tmp_path / "cache")}
    femvalid = [sys.executable, "-m", "femvalid", "run", str(study), "-o", str(out), "--no-progress"]
    proc = subprocess.Popen(femvalid, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _count_results(out) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed: make it longer"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "summary.csv").exists() and _count_results(out) < 6
    # Plant what a write cut short leaves, as a kill inside atomic_path would.
    leftover = out / "block" / "A" / "axial" / f".results{PARTIAL}x1y2.json"
    leftover.write_text('{"status": "ok", "qoi": {"stiffness_N_per_mm": 1e99}}')
    done = subprocess.run(femvalid, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["status"] for r in rows] == ["ok"] * 6
    assert not leftover.exists() and not list(out.rglob(f".*{PARTIAL}*"))


def test_solver_failure_is_a_failed_job_and_the_others_finish(capsys, tmp_path, monkeypatch):
    from femvalid.fem.solvers import PreparedSolver

    original = PreparedSolver.solve

    def failing(self, b, *args, **kwargs):
        if len(b) > 600:  # only the larger block's system
            raise JobError(self.source, "CG with AMG stagnated at relative residual 3.1e-04")
        return original(self, b, *args, **kwargs)

    monkeypatch.setattr(PreparedSolver, "solve", failing)
    study, out = make_study(tmp_path, revisions="AB", size=1.5), tmp_path / "out"
    write_stl(tmp_path / "block_B.stl", box_triangles((0, 0, 0), (16, 12, 8)))
    status, stdout, _ = run_cli(capsys, "run", study, "-o", out, "--no-progress")
    assert status == 3
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["status"] for r in rows] == ["ok", "failed"]
    assert "stagnated" in rows[1]["error"] and "FAILED" in stdout
    assert "stagnated" in (out / "report.html").read_text()


def test_mesher_timeout_is_a_failed_job(capsys, tmp_path, monkeypatch):
    import femvalid.meshing as meshing

    original = meshing.MeshSettings
    monkeypatch.setattr(meshing, "MeshSettings", lambda *args, **kwargs: original(*args, **{**kwargs, "timeout_s": 1e-3}))
    study, out = make_study(tmp_path, revisions="A"), tmp_path / "out"
    status, _, _ = run_cli(capsys, "run", study, "-o", out, "--no-progress")
    assert status == 3
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert rows[0]["status"] == "failed" and "did not finish within" in rows[0]["error"]


def _pool_workers() -> list[int]:
    """PIDs of this process's children that are multiprocessing pool workers (not its resource tracker)."""
    found = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        for pid in (task / "children").read_text().split():
            try:
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(int(pid))
            except OSError:
                pass
    return found


@pytest.mark.slow
def test_killed_pool_worker_is_replaced_and_its_task_rerun(capsys, tmp_path):
    import threading

    study, out = make_study(tmp_path, revisions="ABCD", size=0.7), tmp_path / "out"
    killed = []

    def kill_one():
        deadline = time.monotonic() + 60
        while not killed and time.monotonic() < deadline:
            workers = _pool_workers()
            if len(workers) == 2:
                time.sleep(1.0)  # inside a task by now
                os.kill(workers[0], signal.SIGKILL)
                killed.append(workers[0])
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one)
    killer.start()
    status, _, err = run_cli(capsys, "run", study, "-o", out, "--no-progress", "--no-cache", "--workers", "2")
    killer.join()
    assert killed, "no pool worker was seen"
    assert status == 0, err
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["status"] for r in rows] == ["ok"] * 4
