"""One place that starts and stops the gmsh library (it keeps global state)."""

from __future__ import annotations

from contextlib import contextmanager

__all__ = ["gmsh_session"]


@contextmanager
def gmsh_session(threads: int = 1, verbose: bool = False):
    """Initialise gmsh for one piece of work and always finalise it.

    gmsh is told not to install its own signal handlers, so that Ctrl-C and the
    parent's SIGKILL behave normally.
    """
    import gmsh

    gmsh.initialize(readConfigFiles=False, interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 1 if verbose else 0)
        gmsh.option.setNumber("General.Verbosity", 2 if verbose else 0)
        gmsh.option.setNumber("General.NumThreads", threads)
        yield gmsh
    finally:
        gmsh.finalize()
