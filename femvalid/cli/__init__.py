"""Command-line interface: ``femvalid SUBCOMMAND ...``, one module per subcommand."""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

from femvalid import __version__
from femvalid.errors import FemvalidError, InputError

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    from femvalid.cli import check, demo, doctor, lattice, materials, mesh, run, verify

    parser = argparse.ArgumentParser(
        prog="femvalid",
        description="Finite-element validation of 3D-printed orthopaedic implants (units: mm, N, MPa).",
    )
    parser.add_argument("--version", action="version", version=f"femvalid {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (check, mesh, lattice, run, verify, materials, demo, doctor):
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit status (0 ok, 2 invalid input, 3 job failed)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code or 0)
    try:
        with _command_process():
            return args.handler(args)
    except FemvalidError as exc:
        print(f"femvalid: error: {_one_line(str(exc))}", file=sys.stderr)
        return exc.exit_status
    except _Terminated:
        print("femvalid: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("femvalid: interrupted", file=sys.stderr)
        return 130
    except MemoryError:  # an input too large for an estimate to have caught
        print("femvalid: error: out of memory: the input is too large for this machine's memory; "
              "use a coarser mesh size, fewer cells or a smaller model", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: one line unless the user asks for the traceback
        if isinstance(exc, BrokenPipeError) and _stdout_closed():
            return 141  # output piped into a reader that stopped early (| head)
        if os.environ.get("FEMVALID_DEBUG"):
            raise
        print(
            f"femvalid: internal error: {type(exc).__name__}: {_one_line(str(exc))} "
            "(set FEMVALID_DEBUG=1 for the traceback and please report it)",
            file=sys.stderr,
        )
        return 1


class _Terminated(KeyboardInterrupt):
    """SIGTERM: unwinds like Ctrl-C, so temporary files and worker processes are cleaned up."""


def _terminate(signum, frame):
    raise _Terminated()


@contextmanager
def _command_process():
    """While a command runs: SIGTERM unwinds it (cleaning up) instead of killing it outright, and
    processes under it (pool workers and their gmsh workers) know its PID, to end when it ends."""
    from femvalid.meshing.mesher import MAIN_PID_VARIABLE

    saved_pid = os.environ.get(MAIN_PID_VARIABLE)
    os.environ[MAIN_PID_VARIABLE] = str(os.getpid())
    handler = None
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        handler = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        if handler is not None:
            signal.signal(signal.SIGTERM, handler)
        if saved_pid is None:
            os.environ.pop(MAIN_PID_VARIABLE, None)
        else:
            os.environ[MAIN_PID_VARIABLE] = saved_pid


def _stdout_closed() -> bool:
    """True when standard output is a pipe nobody reads any more (then silenced for the exit)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return True
    return False


def _one_line(text: str) -> str:
    return " ".join(text.split())


def warn(source, message: str) -> None:
    """Print one warning line on stderr."""
    print(f"femvalid: warning: {source}: {message}", file=sys.stderr)


def output_file(name, suffix: str, what: str, force: bool = False) -> Path:
    """The file a command is to write, checked before any work: it must end in ``suffix``
    (".vtu"), not exist unless ``force``, not be a folder or a device, and its folder
    must exist and be writable."""
    from femvalid._files import check_output_file

    output = Path(name)
    if output.suffix.lower() != suffix or str(name).endswith(("/", os.sep)):
        raise InputError(output, f"{what} is written as {suffix[1:].upper()}; give a file name ending in {suffix}")
    return check_output_file(output, force=force, what=what)


def positive_number(value, option: str, what: str, source=None) -> float | None:
    """``value`` (or None) if it is a positive finite number, else an InputError naming
    ``option`` and ``what`` it should be ("length in mm")."""
    if value is not None and not (value > 0 and math.isfinite(value)):
        raise InputError(source, f"{option} must be a positive, finite {what}, got {value:g}")
    return value
