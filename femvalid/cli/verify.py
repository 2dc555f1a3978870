"""``femvalid verify``: run the code-verification benchmarks; write verification.json and .html."""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

from femvalid import __version__
from femvalid._files import check_output_folder, write_atomic


def add_parser(sub) -> None:
    p = sub.add_parser("verify", help="run the code-verification benchmarks", description=__doc__.split(":", 1)[1].strip())
    p.add_argument("-o", "--output", metavar="OUTDIR", default="reports/verification",
                   help="output folder (default reports/verification)")
    p.add_argument("--quick", action="store_true", help="the fast subset (under two minutes on 2 cores)")
    p.set_defaults(handler=run)


def run(args) -> int:
    from femvalid.verification.benchmarks import run_benchmarks

    out = check_output_folder(Path(args.output), "output folder", create=True)  # before minutes of benchmarks
    started = time.perf_counter()
    checks = run_benchmarks(quick=args.quick, progress=lambda name: print(f"running {name} ...", file=sys.stderr, flush=True))
    report = {
        "femvalid_version": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "quick": args.quick,
        "seconds": time.perf_counter() - started,
        "passed": all(c.passed for c in checks),
        "checks": [c.to_dict() for c in checks],
    }
    # verification.json is what a study's report reads; verification.html is the same section to view alone.
    from femvalid.report import verification_section

    write_atomic(out / "verification.json", json.dumps(report, indent=2, default=float) + "\n")
    write_atomic(out / "verification.html", verification_section(report))
    print(f"{'benchmark':<11} {'quantity':<42} {'expected':>11} {'computed':>13} {'error':>9} {'tol':>7}  result")
    for c in checks:
        print(f"{c.benchmark:<11} {c.quantity[:42]:<42} {c.expected:>11.5g} {c.computed:>13.7g} {c.error:>9.2e} "
              f"{c.tolerance:>7.2g}  {'pass' if c.passed else 'FAIL'}")
    failed = sum(not c.passed for c in checks)
    print(f"\n{len(checks) - failed} of {len(checks)} checks passed in {report['seconds']:.0f} s; "
          f"details in {out / 'verification.json'}")
    return 0 if not failed else 1

