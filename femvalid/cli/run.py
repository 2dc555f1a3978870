"""``femvalid run STUDY.toml``: run every design revision under every load case."""

from __future__ import annotations

from pathlib import Path

from femvalid.errors import InputError
from femvalid.study import read_study, run_study


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="run a study file", description=__doc__.split(":", 1)[1].strip())
    p.add_argument("study", metavar="STUDY.toml", help="study file (see DESIGN.md)")
    p.add_argument("-o", "--output", metavar="OUTDIR", help="output folder (default reports/<study name>)")
    p.add_argument("--force", action="store_true", help="overwrite the results of an earlier run in OUTDIR")
    p.add_argument("--no-cache", action="store_true", help="recompute every job instead of reusing cached ones")
    p.add_argument("--strict", action="store_true", help="exit with status 1 when an acceptance criterion fails")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="run meshing and jobs in N local processes (default 1: in this process)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run them on the Dask cluster whose scheduler is at ADDRESS, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--tls-ca-file", metavar="PEM", help="Dask TLS: certificate authority file")
    p.add_argument("--tls-cert", metavar="PEM", help="Dask TLS: this client's certificate")
    p.add_argument("--tls-key", metavar="PEM", help="Dask TLS: this client's private key")
    p.set_defaults(handler=run)


def run(args) -> int:
    if args.workers < 1:
        raise InputError("--workers", f"must be at least 1, not {args.workers}")
    study = read_study(args.study)
    outdir = Path(args.output) if args.output else Path("reports") / study.name
    results = run_study(study, outdir, force=args.force, progress=not args.no_progress, use_cache=not args.no_cache,
                        workers=args.workers, scheduler=args.scheduler, security=dask_security(args))
    print_summary(results, outdir)
    if any(r.status != "ok" for r in results):
        return 3
    failed = [f"{r.design} {r.revision} / {r.loadcase}: {', '.join(r.criteria_failed)}" for r in results if r.criteria_failed]
    for line in failed:
        print(f"criteria not met: {line}")
    return 1 if failed and args.strict else 0


def dask_security(args):
    """Dask TLS settings from the command line, or None (Dask's own configuration then applies)."""
    files = {"tls_ca_file": args.tls_ca_file, "tls_client_cert": args.tls_cert, "tls_client_key": args.tls_key}
    given = {key: value for key, value in files.items() if value}
    if not given:
        return None
    if not args.scheduler:
        raise InputError("--tls-cert", "TLS settings apply to a Dask cluster: give --scheduler too")
    for value in given.values():
        if not Path(value).is_file():
            raise InputError(value, "no such file")
    from distributed.security import Security

    return Security(require_encryption=True, **given)


def print_summary(results, outdir: Path) -> None:
    """A short comparison table of every job, and where the results are."""
    print(f"{'design':<14} {'rev':<4} {'load case':<26} {'stiffness N/mm':>15} {'vM p99 MPa':>11} {'SF yield':>9} "
          f"{'subsidence mm':>14}")
    for r in results:
        if r.status != "ok":
            print(f"{r.design:<14} {r.revision:<4} {r.loadcase:<26} FAILED: {r.error}")
            continue
        q = r.qoi
        sf, sub = q.get("safety_factor_yield"), q.get("subsidence_mm")
        print(f"{r.design:<14} {r.revision:<4} {r.loadcase:<26} {q['stiffness_N_per_mm']:>15.0f} "
              f"{q['von_mises_p99_MPa']:>11.2f} {'' if sf is None else f'{sf:.2f}':>9} "
              f"{'' if sub is None else f'{sub:.4f}':>14}")
    failed = sum(r.status != "ok" for r in results)
    print(f"\n{len(results) - failed} of {len(results)} jobs done; results in {outdir}/: report.html, summary.csv, "
          "comparison.csv, manifest.json, and per job results.json and fields.vtu")
