"""Parallel and distributed runs: a local process pool and a Dask cluster on loopback."""

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import meshio
import numpy as np
import pytest

from femvalid.geometry import write_stl
from femvalid.study import execution
from tests.helpers import assert_one_line_error, box_triangles, run_cli

STUDY = """
[study]
name = "parallel"

[mesh]
size = 1.2
order = 1

[[design]]
name = "block"
revision = "A"
stl = "block_A.stl"
material = "ti6al4v-am"

[[design]]
name = "block"
revision = "B"
stl = "block_B.stl"
material = "peek"

[[loadcase]]
name = "bonded"
type = "axial_compression"
force = 500.0
platens = "bonded"

[[loadcase]]
name = "frictionless"
type = "axial_compression"
force = 500.0
platens = "frictionless"
"""

JOBS = [(d, r, c) for d, r in (("block", "A"), ("block", "B")) for c in ("bonded", "frictionless")]


@pytest.fixture
def study(tmp_path):
    write_stl(tmp_path / "block_A.stl", box_triangles((0, 0, 0), (8, 6, 4)))
    write_stl(tmp_path / "block_B.stl", box_triangles((0, 0, 0), (9, 7, 5)))
    (tmp_path / "study.toml").write_text(STUDY)
    return tmp_path / "study.toml"


def _outputs(out: Path):
    """Per job: the quantities of interest and the displacement field."""
    found = {}
    for job in JOBS:
        folder = out.joinpath(*job)
        result = json.loads((folder / "results.json").read_text())
        assert result["status"] == "ok", result["error"]
        found[job] = (result["qoi"], meshio.read(folder / "fields.vtu").point_data["displacement_mm"])
    return found


def _assert_same(a, b):
    for job in JOBS:
        assert a[job][0] == b[job][0], job
        assert np.array_equal(a[job][1], b[job][1]), job


def test_workers_give_the_serial_results(capsys, study):
    serial, pooled = study.parent / "serial", study.parent / "pooled"
    assert run_cli(capsys, "run", study, "-o", serial, "--no-progress", "--no-cache")[0] == 0
    status, _, err = run_cli(capsys, "run", study, "-o", pooled, "--no-progress", "--no-cache", "--workers", "2")
    assert status == 0, err
    _assert_same(_outputs(serial), _outputs(pooled))
    manifest = json.loads((pooled / "manifest.json").read_text())
    assert manifest["execution"] == "local process pool, 2 workers"


def test_workers_refused_beyond_memory(capsys, study, monkeypatch):
    monkeypatch.setattr(execution, "available_memory_bytes", lambda: 1.0e9)
    out = study.parent / "out"
    status, _, err = run_cli(capsys, "run", study, "-o", out, "--no-progress", "--workers", "8")
    assert_one_line_error(status, err, 2, "--workers", "8 parallel jobs need about", "GB is available",
                          "use --workers 2")
    assert not out.exists()


@pytest.mark.parametrize("order, kind, measured_GB", [(1, "axial_compression", 0.178), (2, "axial_compression", 0.573),
                                                      (1, "subsidence", 0.253), (2, "subsidence", 1.207)])
def test_memory_estimate_errs_high_for_the_example_cage(order, kind, measured_GB):
    """Whole-process peak RSS measured for the example cage at 1.0 mm (one job, this machine)."""
    from femvalid.geometry.checks import load_surface

    surface, _ = load_surface(Path(__file__).resolve().parent.parent / "examples" / "designs" / "tlif_cage_A.stl")
    estimate = execution.estimate_job_memory_bytes(abs(surface.signed_volume), surface.area, 1.0, order,
                                                   subsidence=kind == "subsidence") / 1e9
    assert measured_GB < estimate < 3 * measured_GB


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dask_cluster(tmp_path):
    """A scheduler and two single-threaded workers on loopback, as separate processes."""
    pytest.importorskip("distributed")
    dask = str(Path(sys.executable).parent / "dask")
    address = f"tcp://127.0.0.1:{_free_port()}"
    logs = (tmp_path / "dask.log").open("w")
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                               "--no-dashboard"], stdout=logs, stderr=logs)]
    try:
        from distributed import Client

        deadline = time.monotonic() + 60
        while True:
            try:
                client = Client(address, timeout="2s")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
        for name in ("w1", "w2"):
            procs.append(subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--no-nanny",
                                           "--name", name, "--no-dashboard", "--local-directory", str(tmp_path)],
                                          stdout=logs, stderr=logs))
        client.wait_for_workers(2, timeout=60)
        client.close()
        yield address, procs[1:]
    finally:
        for p in procs[::-1]:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        logs.close()


@pytest.mark.slow
def test_dask_cluster_gives_the_serial_results(capsys, study, dask_cluster):
    dask_cluster, _ = dask_cluster
    serial, distributed = study.parent / "serial", study.parent / "dask"
    assert run_cli(capsys, "run", study, "-o", serial, "--no-progress", "--no-cache")[0] == 0
    status, _, err = run_cli(capsys, "run", study, "-o", distributed, "--no-progress", "--no-cache",
                             "--scheduler", dask_cluster)
    assert status == 0, err
    _assert_same(_outputs(serial), _outputs(distributed))
    manifest = json.loads((distributed / "manifest.json").read_text())
    assert manifest["execution"] == f"Dask cluster at {dask_cluster}, 2 workers"


def test_unreachable_scheduler_is_input_error(capsys, study):
    out = study.parent / "out"
    status, _, err = run_cli(capsys, "run", study, "-o", out, "--no-progress", "--scheduler",
                             f"tcp://127.0.0.1:{_free_port()}")
    assert_one_line_error(status, err, 2, "cannot reach the Dask scheduler")


@pytest.mark.slow
def test_killed_dask_worker_task_runs_elsewhere(capsys, tmp_path, dask_cluster):
    """SIGKILL one of two workers while it runs a task: the scheduler gives the task to the other."""
    import threading

    address, workers = dask_cluster
    for k, rev in enumerate("ABCD"):
        write_stl(tmp_path / f"block_{rev}.stl", box_triangles((0, 0, 0), (8 + k, 6, 4)))
    designs = "".join(f'[[design]]\nname = "block"\nrevision = "{r}"\nstl = "block_{r}.stl"\nmaterial = "peek"\n\n'
                      for r in "ABCD")
    study = tmp_path / "study.toml"
    study.write_text(STUDY.split("[[design]]")[0].replace("size = 1.2", "size = 0.6") + designs
                     + "[[loadcase]]" + STUDY.split("[[loadcase]]", 1)[1])

    def kill_first_worker():
        time.sleep(3.0)  # meshing and solving by now
        workers[0].kill()

    killer = threading.Thread(target=kill_first_worker)
    killer.start()
    out = tmp_path / "out"
    status, stdout, err = run_cli(capsys, "run", study, "-o", out, "--no-progress", "--no-cache", "--scheduler", address)
    killer.join()
    assert workers[0].poll() is not None, "the worker was not killed during the run: make the study longer"
    assert status == 0, stdout + err
    assert all(json.loads(p.read_text())["status"] == "ok" for p in out.glob("*/*/*/results.json"))
    assert len(list(out.glob("*/*/*/results.json"))) == 8


def test_tls_files_reach_dask_security(tmp_path):
    from argparse import Namespace

    from femvalid.cli.run import dask_security
    from femvalid.errors import InputError

    pem = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    for path in pem.values():
        path.write_text("-----BEGIN CERTIFICATE-----\n")
    args = Namespace(scheduler="tls://10.0.0.5:8786", tls_ca_file=str(pem["ca"]), tls_cert=str(pem["cert"]),
                     tls_key=str(pem["key"]))
    security = dask_security(args)
    assert security.require_encryption
    assert (security.tls_ca_file, security.tls_client_cert, security.tls_client_key) == tuple(map(str, pem.values()))
    with pytest.raises(InputError, match="give --scheduler too"):
        dask_security(Namespace(**{**vars(args), "scheduler": None}))
    with pytest.raises(InputError, match="no such file"):
        dask_security(Namespace(**{**vars(args), "tls_key": str(tmp_path / "missing.pem")}))
    assert dask_security(Namespace(scheduler=None, tls_ca_file=None, tls_cert=None, tls_key=None)) is None
