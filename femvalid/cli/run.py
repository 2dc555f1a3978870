"""``femvalid run STUDY.toml``: run every design revision under every load case."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

from femvalid._files import input_file_size
from femvalid.errors import InputError
from femvalid.post import qoi
from femvalid.study import read_study, run_study


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="run a study file", description=__doc__.split(":", 1)[1].strip(),
                       epilog=f"The study and load-case file keys are described in {STUDY_FILE_DOC} "
                              "(in the femvalid repository; examples/ and load_cases/ hold ready files).")
    p.add_argument("study", metavar="STUDY.toml", help=f"study file (reference: {STUDY_FILE_DOC})")
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
    scheduler = scheduler_address(args.scheduler)  # at once, not after a connection timeout
    security = dask_security(args)
    study = read_study(args.study)
    outdir = Path(args.output) if args.output else Path("reports") / study.name
    result = run_study(study, outdir, force=args.force, progress=not args.no_progress, use_cache=not args.no_cache,
                       workers=args.workers, scheduler=scheduler, security=security,
                       report=write_reports)
    print_summary(result)
    if result.failed:
        return 3
    failed = [f"{r.design} {r.revision} / {r.loadcase}: {', '.join(r.criteria_failed)}" for r in result.jobs
              if r.criteria_failed]
    for line in failed:
        print(f"criteria not met: {line}")
    return 1 if failed and args.strict else 0


#: Where the study-file reference lives (shipped with the repository).
STUDY_FILE_DOC = "docs/study-file.md"
_TLS_OPTIONS = {"--tls-ca-file": "tls_ca_file", "--tls-cert": "tls_client_cert", "--tls-key": "tls_client_key"}
_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")
_HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


def scheduler_address(value: str | None) -> str | None:
    """A Dask scheduler address checked for form: [PROTOCOL://]HOST:PORT, port 1–65535.

    >>> scheduler_address("tcp://10.0.0.5:8786")
    'tcp://10.0.0.5:8786'
    >>> scheduler_address("[::1]:8786")
    'tcp://[::1]:8786'
    """
    if value is None:
        return None
    example = "such as tcp://10.0.0.5:8786"
    scheme, sep, rest = value.partition("://")
    if not sep:
        scheme, rest = "tcp", value
    if scheme.lower() not in _SCHEMES:
        raise InputError("--scheduler", f"{value!r}: unknown protocol {scheme!r}; use {', '.join(_SCHEMES)} "
                                        f"({example})")
    if rest.startswith("["):  # IPv6: [address]:port
        close = rest.find("]")
        host, port = (rest[1:close], rest[close + 2:]) if close > 0 and rest[close + 1:close + 2] == ":" else ("", "")
        valid_host = bool(host) and all(c in "0123456789abcdefABCDEF:." for c in host) and ":" in host
    else:
        host, colon, port = rest.rpartition(":")
        valid_host = bool(colon) and bool(_HOST.match(host))
    if not valid_host:
        raise InputError("--scheduler", f"{value!r} is not a scheduler address: expected [PROTOCOL://]HOST:PORT, "
                                        f"{example}")
    if not (port.isdigit() and 1 <= int(port) <= 65535):
        raise InputError("--scheduler", f"{value!r}: the port must be a number from 1 to 65535, got {port!r}")
    return f"{scheme.lower()}://{rest}"


def dask_security(args):
    """Dask TLS settings from the command line, or None (Dask's own configuration then applies)."""
    files = {"tls_ca_file": args.tls_ca_file, "tls_client_cert": args.tls_cert, "tls_client_key": args.tls_key}
    given = {key: value for key, value in files.items() if value}
    if not given:
        return None
    if not args.scheduler:
        options = [option for option, key in _TLS_OPTIONS.items() if key in given]
        raise InputError(options[0], f"{' and '.join(options)} appl{'ies' if len(options) == 1 else 'y'} to a Dask "
                                     "cluster: give --scheduler too")
    for value in given.values():
        if not os.path.lexists(value):
            raise InputError(value, "no such file")
        input_file_size(value, 1 << 20, "a PEM file")
    from distributed.security import Security

    return Security(require_encryption=True, **given)


def write_reports(result) -> None:
    """report.html and report.pdf in the run's OUTDIR; a report that fails is a warning, never a lost run."""
    from femvalid.cli import warn
    from femvalid.report import read_verification, write_pdf, write_report

    outdir = result.outdir
    for target, make in ((outdir / "report.html", lambda: write_report(result, read_verification(outdir))),
                         (outdir / "report.pdf", lambda: write_pdf(outdir / "report.html"))):
        try:
            make()
        except Exception as exc:  # the results are written; a report that fails must not hide them
            warn(target, f"not written: {type(exc).__name__}: {exc}")
            break


def print_summary(result) -> None:
    """The headline quantities of every job (those any job reports), and where the results are."""
    jobs = result.jobs
    columns = [k for k in qoi.headline() if any(_number(r.qoi.get(k)) for r in jobs if r.status == "ok")]
    headings = [qoi.spec(k).heading for k in columns]
    widths = [max(len(h), 10) for h in headings]
    print(f"{'design':<14} {'rev':<4} {'load case':<26}" + "".join(f" {h:>{w}}" for h, w in zip(headings, widths)))
    for r in jobs:
        if r.status != "ok":
            print(f"{r.design:<14} {r.revision:<4} {r.loadcase:<26} FAILED: {r.error}")
            continue
        print(f"{r.design:<14} {r.revision:<4} {r.loadcase:<26}"
              + "".join(f" {_figure(r.qoi.get(k)):>{w}}" for k, w in zip(columns, widths)))
    done = len(jobs) - len(result.failed)
    print(f"\n{done} of {len(jobs)} jobs done; results in {result.outdir}/: report.html, summary.csv, "
          "comparison.csv, manifest.json, and per job results.json and fields.vtu")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _figure(value) -> str:
    """Four significant digits in fixed notation (1320000, 55.20, 0.01234); "" when absent."""
    if not _number(value):
        return "" if value is None else str(value)
    if not math.isfinite(value) or value == 0:
        return f"{value:g}"
    decimals = max(0, 3 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"
