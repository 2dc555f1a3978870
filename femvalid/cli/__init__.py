"""Command-line interface: ``femvalid SUBCOMMAND ...``, one module per subcommand."""

from __future__ import annotations

import argparse
import os
import sys
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
        return args.handler(args)
    except FemvalidError as exc:
        print(f"femvalid: error: {_one_line(str(exc))}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("femvalid: interrupted", file=sys.stderr)
        return 130
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


def output_file(name, suffix: str, what: str) -> Path:
    """The file a command is to write, refused unless it ends in ``suffix`` (".vtu") and its folder exists."""
    output = Path(name)
    if output.suffix.lower() != suffix:
        raise InputError(output, f"{what} is written as {suffix[1:].upper()}; give a file name ending in {suffix}")
    if not output.parent.is_dir():
        raise InputError(output, f"folder {output.parent} does not exist")
    return output
