"""The QoI table: one source for names, units, labels and judgements, and the CSV cells it feeds."""

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

from femvalid._csvtext import cell, csv_text
from femvalid.post import qoi

#: Every quantity the public contract names for results.json (every type, torsion, fatigue, subsidence).
PUBLIC = """force_N stiffness_N_per_mm displacement_mm displacement_max_mm reaction_force_N reaction_moment_Nmm
volume_mm3 von_mises_max_MPa von_mises_p99_MPa von_mises_p95_MPa von_mises_mean_MPa safety_factor_yield
first_yield_force_N bearing_angle_deg contact_area_superior_mm2 contact_area_inferior_mm2 platen_rotation_deg
torque_Nmm torsional_stiffness_Nmm_per_deg rotation_deg first_yield_torque_Nmm fatigue_safety_factor
predicted_runout_force_N predicted_runout_torque_Nmm device_stiffness_N_per_mm system_stiffness_N_per_mm
subsidence_stiffness_N_per_mm subsidence_mm contact_area_mm2 contact_pressure_mean_MPa contact_pressure_max_MPa
block_von_mises_max_MPa block_overstressed_volume_mm3 footprint_overstressed_fraction""".split()
#: Written by the lattice and subsidence cases, and the reactions and force split of the fixtures.
ALSO_WRITTEN = """interface_force_N effective_modulus_MPa relative_density relative_modulus solid_modulus_MPa
block_area_mm2 block_height_mm reaction_force_superior_N lateral_force_N shear_force_N compression_force_N""".split()
HEADLINE = {"stiffness_N_per_mm", "von_mises_p99_MPa", "safety_factor_yield", "fatigue_safety_factor",
            "predicted_runout_force_N", "predicted_runout_torque_Nmm", "torsional_stiffness_Nmm_per_deg",
            "subsidence_mm", "subsidence_stiffness_N_per_mm"}
ROOT = Path(__file__).resolve().parent.parent


def test_table_holds_every_public_quantity():
    assert set(PUBLIC + ALSO_WRITTEN) <= set(qoi.known())
    assert set(qoi.headline()) == HEADLINE


@pytest.mark.parametrize("name", list(qoi.QOI))
def test_entry_is_consistent(name):
    q = qoi.QOI[name]
    assert q.name == name and q.label and q.kind in qoi.KINDS and q.worse in qoi.WORSE
    assert q.unit == qoi.unit_of(name)  # units are in the names: the two cannot disagree
    if q.kind != "outcome":  # checks and the applied load are never colour-coded as regressions
        assert q.worse is None and not q.headline


def test_checks_and_loads():
    for name in ("reaction_force_N", "reaction_moment_Nmm", "volume_mm3", "interface_force_N", "lateral_force_N",
                 "reaction_force_superior_N", "bearing_angle_deg"):
        assert qoi.spec(name).kind == "check"
    for name in ("force_N", "torque_Nmm", "shear_force_N", "compression_force_N"):
        assert qoi.spec(name).kind == "load"
    assert qoi.spec("safety_factor_yield").worse == "lower" and qoi.spec("von_mises_p99_MPa").worse == "higher"
    assert qoi.spec("stiffness_N_per_mm").worse is None  # reported, not judged


def test_unknown_names_are_described_not_judged():
    q = qoi.spec("user_defined_stiffness_N_per_mm")
    assert (q.unit, q.label, q.worse, q.headline, q.kind) == ("N/mm", "user defined stiffness", None, False, "outcome")
    assert q.heading == "user defined stiffness N/mm"
    assert qoi.ordered(["zeta", "volume_mm3", "force_N", "alpha", "stiffness_N_per_mm", "zeta"]) == [
        "force_N", "stiffness_N_per_mm", "volume_mm3", "zeta", "alpha"]


def test_register_refuses_to_shadow(monkeypatch):
    monkeypatch.setattr(qoi, "QOI", dict(qoi.QOI))
    with pytest.raises(ValueError, match="already"):
        qoi.register_qoi(qoi.QoI("stiffness_N_per_mm", "other"))
    qoi.register_qoi(qoi.QoI("pullout_force_N", "pull-out force", "lower"))
    assert qoi.spec("pullout_force_N").worse == "lower" and "pullout_force_N" in qoi.known()
    with pytest.raises(ValueError, match="neither judged"):
        qoi.QoI("reaction_N", "reaction", "higher", kind="check")


@pytest.mark.parametrize("text", ["-1-1", "=1+1", "+1", "@SUM(A1)", "\t-2", "\r=3", "=HYPERLINK(\"x\")"])
def test_formula_text_stays_text(text):
    """OWASP's CSV-injection list: such text gets a leading apostrophe; the rest of the cell is kept."""
    written = "'" + text.replace("\r", "\n")
    assert cell(text) == written
    assert list(csv.reader(io.StringIO(csv_text(["name"], [[text]]), newline=""))) == [["name"], [written]]


def test_numbers_stay_numbers():
    import numpy as np

    assert [cell(v) for v in (-0.5, -3, np.float64(-2.5), np.int64(-7), 1e-300, None, "block-1", "rho0.20")] == [
        "-0.5", "-3", "-2.5", "-7", "1e-300", "", "block-1", "rho0.20"]
    assert float(cell(0.1 + 0.2)) == 0.1 + 0.2  # every digit, read back exactly


def test_study_does_not_import_the_report():
    """The run returns its results; the CLI writes the report: study never imports report."""
    code = "import sys, femvalid.study; sys.exit(any(m.startswith('femvalid.report') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0
