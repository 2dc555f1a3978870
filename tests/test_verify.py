"""`femvalid verify --quick` as a user runs it."""

import json

import pytest

from tests.helpers import run_cli


@pytest.mark.slow
def test_verify_quick(capsys, tmp_path):
    status, out, err = run_cli(capsys, "verify", "--quick", "-o", tmp_path)
    assert status == 0, out + err
    report = json.loads((tmp_path / "verification.json").read_text())
    section = (tmp_path / "verification.html").read_text()
    assert section.startswith('<section id="code-verification">') and section.count("<tr class=") == len(report["checks"])
    assert report["passed"] and report["quick"]
    checks = {(c["benchmark"], c["quantity"]): c for c in report["checks"]}
    for key in ("expected", "computed", "error", "tolerance", "passed", "seconds"):
        assert all(key in c for c in checks.values())
    assert checks[("mms-p2", "L2 displacement order")]["computed"] == pytest.approx(3.0, abs=0.1)
    assert checks[("gci-celik", "GCI_fine %")]["computed"] == pytest.approx(2.2, abs=0.05)
    assert checks[("le10", "σyy at D, MPa (P2)")]["computed"] == pytest.approx(-5.38, rel=0.02)
    assert {"mms-p1", "mms-p2", "prism-p1", "prism-p2", "lame", "le10", "sfepy", "gci-celik", "notch-kt", "ct-uniform",
            "ct-element-integral", "ct-gradient", "ct-orientation"} <= {b for b, _ in checks}
