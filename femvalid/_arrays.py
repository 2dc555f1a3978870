"""Small helpers for the immutable arrays inside femvalid's data types."""

from __future__ import annotations

import numpy as np


def readonly(a, dtype) -> np.ndarray:
    """A contiguous copy (or view) of ``a`` as ``dtype`` that cannot be written to."""
    a = np.ascontiguousarray(a, dtype=dtype)
    a.setflags(write=False)
    return a
