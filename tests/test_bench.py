"""Bench curves: stiffness from the linear region and offset yield, on synthetic curves
with a known slope and yield; E = S − D (ASME V&V 20)."""

import numpy as np
import pytest

from femvalid.errors import InputError
from femvalid.study import bench
from tests.helpers import assert_one_line_error, run_cli
from tests.test_worst_case import write_family

K, TOE, ELASTIC_END, HARDENING, LENGTH = 20000.0, 0.1, 0.6, 0.05, 10.0


def bilinear(d):
    """A quadratic toe to TOE, linear at slope K to ELASTIC_END, then hardening at HARDENING·K."""
    f = np.where(d < TOE, K * d**2 / (2 * TOE), K * (d - TOE / 2))
    top = K * (ELASTIC_END - TOE / 2)
    return np.where(d > ELASTIC_END, top + HARDENING * K * (d - ELASTIC_END), f)


def exact_yield(offset_mm):
    """Where F = K·(δ − TOE/2 − offset) meets the hardening branch."""
    top, k2 = K * (ELASTIC_END - TOE / 2), HARDENING * K
    d = (top - k2 * ELASTIC_END + K * (TOE / 2 + offset_mm)) / (K - k2)
    return K * (d - TOE / 2 - offset_mm), d


def test_known_slope_and_offset_yield():
    d = np.linspace(0.0, 1.2, 601)
    c = bench.analyse_curve(d, bilinear(d), LENGTH)
    assert c.stiffness_N_per_mm == pytest.approx(K, rel=1e-9)
    assert c.toe_mm == pytest.approx(TOE / 2, abs=1e-9)
    assert c.offset_mm == pytest.approx(0.02 * LENGTH)  # 2 % of the device height
    force, displacement = exact_yield(0.2)
    assert c.yield_force_N == pytest.approx(force, rel=1e-9)
    assert c.yield_displacement_mm == pytest.approx(displacement, rel=1e-9)
    assert c.ultimate_force_N == pytest.approx(bilinear(np.array([1.2]))[0])
    i, j = c.window  # inside the linear region
    assert TOE <= d[i] and d[j] <= ELASTIC_END and c.r_squared > 0.999999 and not c.warnings
    # Another offset: 1 % of 10 mm.
    assert bench.analyse_curve(d, bilinear(d), LENGTH, offset_percent=1.0).yield_force_N == pytest.approx(
        exact_yield(0.1)[0], rel=1e-9)


def test_noisy_curve_within_a_per_cent():
    d = np.linspace(0.0, 1.2, 601)
    f = bilinear(d) + np.random.default_rng(7).normal(0.0, 0.003 * bilinear(d).max(), d.shape)
    c = bench.analyse_curve(d, f, LENGTH)
    assert c.stiffness_N_per_mm == pytest.approx(K, rel=0.01)
    assert c.yield_force_N == pytest.approx(exact_yield(0.2)[0], rel=0.01)
    assert 0 < c.stiffness_std_N_per_mm < 0.01 * K


def test_compression_recorded_negative_and_a_file_with_a_header(tmp_path):
    d = np.linspace(0.0, 1.2, 301)
    path = tmp_path / "bench.csv"
    path.write_text("# machine export\nDisplacement (mm);Force (N)\n"
                    + "\n".join(f"{-float(x)!r};{-float(y)!r}" for x, y in zip(d, bilinear(d))) + "\n")
    displacement, force = bench.read_curve(path)
    c = bench.analyse_curve(displacement, force, LENGTH)
    assert c.flipped and c.stiffness_N_per_mm == pytest.approx(K, rel=1e-9)
    assert c.yield_force_N == pytest.approx(exact_yield(0.2)[0], rel=1e-9)


def test_curve_that_never_yields_and_bad_files(tmp_path):
    d = np.linspace(0.0, 0.5, 101)
    c = bench.analyse_curve(d, K * d, LENGTH)
    assert c.yield_force_N is None and "no offset yield" in c.warnings[0]
    assert c.stiffness_N_per_mm == pytest.approx(K)
    (tmp_path / "short.csv").write_text("0,0\n1,1\n")
    with pytest.raises(InputError, match="at least 10"):
        bench.read_curve(tmp_path / "short.csv")
    (tmp_path / "three.csv").write_text("".join(f"{k},{k},{k}\n" for k in range(20)))
    with pytest.raises(InputError, match="3 columns"):
        bench.read_curve(tmp_path / "three.csv")
    (tmp_path / "text.csv").write_text("".join(f"{k},{k}\n" for k in range(20)) + "end,here\n")
    with pytest.raises(InputError, match="line 21"):
        bench.read_curve(tmp_path / "text.csv")


def test_comparison_is_s_minus_d_with_u_val():
    d = np.linspace(0.0, 1.2, 601)
    entry = {"design": "x", "revision": "A", "loadcase": "axial", "source": "lab",
             "curve": bench.analyse_curve(d, bilinear(d), LENGTH), "uncertainty_percent": 2.0}
    qoi = {"stiffness_N_per_mm": 21000.0, "force_N": 1000.0, "safety_factor_yield": 9.0, "first_yield_force_N": 7000.0}
    convergence = {"stiffness_N_per_mm": {"gci_fine_percent": 1.5}}
    stiffness, yielding = bench.compare_curve(entry, qoi, convergence)
    assert stiffness["E"] == pytest.approx(1000.0) and stiffness["difference_percent"] == pytest.approx(5.0)
    assert stiffness["u_num"] == pytest.approx(0.015 * 21000.0)
    assert stiffness["u_D"] == pytest.approx(0.02 * K, rel=1e-6)  # the fit's error is nil on an exact line
    assert stiffness["u_val"] == pytest.approx(np.hypot(0.015 * 21000.0, 0.02 * K), rel=1e-6)
    assert stiffness["within_u_val"] is False
    assert yielding["computed"] == pytest.approx(9000.0)  # force at which p99 reaches yield
    assert yielding["E"] == pytest.approx(9000.0 - exact_yield(0.2)[0], rel=1e-9)
    assert yielding["first_yield_force_N"] == 7000.0


@pytest.mark.parametrize("entry, fragments", [
    ('curve = "bench.csv"\nmeasured = 1.0', ("either 'curve'",)),
    ('curve = "missing.csv"', ("'curve' file 'missing.csv' not found",)),
    ('curve = "bench.csv"\nlinear_window = 2.0', ("fraction of the points",)),
    ('curve = "bench.csv"\noffset_percent = -1', ("'offset_percent' must be a positive number",)),
])
def test_bad_curve_entries_are_exit_2(tmp_path, capsys, entry, fragments):
    study = write_family(tmp_path, boxes={"a": (5.0, 5.0, 4.0)})
    d = np.linspace(0.0, 1.2, 61)
    (tmp_path / "bench.csv").write_text("\n".join(f"{x},{y}" for x, y in zip(d, bilinear(d))))
    study.write_text(study.read_text() + f'\n[[validation]]\ndesign = "box"\nrevision = "a"\nloadcase = "axial"\n{entry}\n')
    status, _, err = run_cli(capsys, "run", study, "-o", tmp_path / "out", "--no-progress")
    assert_one_line_error(status, err, 2, *fragments)
