"""One place that starts and stops the gmsh library (it keeps global state)."""

from __future__ import annotations

import signal
from contextlib import contextmanager

__all__ = ["gmsh_session"]


@contextmanager
def gmsh_session(threads: int = 1, verbose: bool = False):
    """Initialise gmsh for one piece of work and always finalise it.

    gmsh is told not to install its own signal handlers, so that Ctrl-C and the
    parent's SIGKILL behave normally. It still resets SIGPIPE to the default (seen as
    the kernel's signal mask): a write into a closed pipe, such as a dead pool worker's,
    would then kill this process silently instead of raising BrokenPipeError, so the
    disposition Python set is put back.
    """
    import gmsh

    sigpipe = signal.getsignal(signal.SIGPIPE)
    gmsh.initialize(readConfigFiles=False, interruptible=False)
    signal.signal(signal.SIGPIPE, sigpipe)
    try:
        gmsh.option.setNumber("General.Terminal", 1 if verbose else 0)
        gmsh.option.setNumber("General.Verbosity", 2 if verbose else 0)
        gmsh.option.setNumber("General.NumThreads", threads)
        yield gmsh
    finally:
        gmsh.finalize()
        signal.signal(signal.SIGPIPE, sigpipe)
