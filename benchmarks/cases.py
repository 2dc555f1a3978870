"""Benchmark cases and the one model every engine solves.

The implant is femvalid's parametric vertebral body replacement (a Ø20/Ø14 mm tube,
25 mm tall, four side windows), its surface triangulated at the mesh size and meshed
with :func:`femvalid.meshing.mesh_surface` at the edge length that gives a target
number of degrees of freedom (3 per node). (Remeshing a 1 mm surface at 0.2 mm left
flat slivers that the mesher rejects in four tries out of five.)
The size is found by secant steps on log(nodes) against log(size): each probe mesh
is kept in the cache directory with its node count, so a rerun meshes nothing and
the next case's first guess starts from the measured points.

Quadratic meshes get straight-sided elements (mid-side nodes at edge midpoints):
SfePy maps elements affinely from their vertices, so only then do both engines solve
exactly the same discrete model.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "Case", "CASES", "SIZE_SETS", "CaseMesh", "YOUNGS_MODULUS_MPA", "POISSON_RATIO", "TRAVEL_MM",
    "CONTACT_TOLERANCE_MM", "select_cases", "build_mesh", "load_mesh", "straighten_midside_nodes",
]

#: Ti-6Al-4V, the one material of every case.
YOUNGS_MODULUS_MPA = 110_000.0
POISSON_RATIO = 0.3
#: Superior platen travel along −z (bonded platens, F2077-like).
TRAVEL_MM = 1.0
#: Nodes this close to the lowest/highest z plane touch a platen.
CONTACT_TOLERANCE_MM = 1e-6
#: femvalid.geometry.VertebralBodyReplacement() with its default dimensions; its surface
#: is triangulated at the mesh size (the mesher can then keep it as the boundary mesh).
DESIGN = "vbr-surface-at-size"


@dataclass(frozen=True)
class Case:
    """A mesh to benchmark: element order and the number of dofs aimed at."""

    name: str
    order: int
    target_dofs: int
    tolerance: float = 0.1  # accepted relative miss of target_dofs

    @property
    def target_nodes(self) -> int:
        return self.target_dofs // 3


CASES = {case.name: case for case in [
    Case("P1-5k", 1, 5_000, tolerance=0.5),  # for tests: a few thousand dofs, seconds
    Case("P1-30k", 1, 30_000),
    Case("P2-50k", 2, 50_000, tolerance=0.3),  # not in a set: a quick check of the quadratic path
    Case("P1-300k", 1, 300_000),
    Case("P2-300k", 2, 300_000),
    Case("P1-1M", 1, 1_000_000),
]}

SIZE_SETS = {
    "tiny": ["P1-5k"],
    "small": ["P1-30k"],
    "medium": ["P1-30k", "P1-300k", "P2-300k"],
    "full": ["P1-30k", "P1-300k", "P2-300k", "P1-1M"],
}


def select_cases(spec: str) -> list[Case]:
    """Cases named by a size set (tiny, small, medium, full) or a comma list of case names."""
    names = SIZE_SETS.get(spec, [s.strip() for s in spec.split(",") if s.strip()])
    unknown = [n for n in names if n not in CASES]
    if unknown or not names:
        raise ValueError(f"unknown case(s) {', '.join(unknown) or spec!r}; "
                         f"sets: {', '.join(SIZE_SETS)}; cases: {', '.join(CASES)}")
    return [CASES[n] for n in names]


@dataclass(frozen=True)
class CaseMesh:
    """A meshed case, stored as NPZ (``nodes`` mm, ``elements``) in the cache."""

    case: Case
    path: Path
    size_mm: float
    nodes: int
    elements: int
    mesh_seconds: float  # meshing time when it was made (0 reads from the cache)
    cached: bool

    @property
    def dofs(self) -> int:
        return 3 * self.nodes


def load_mesh(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(nodes (N, 3) mm, elements (m, 4|10) int64) of a cached mesh."""
    with np.load(path, allow_pickle=False) as data:
        return data["nodes"].astype(np.float64), data["elements"].astype(np.int64)


def straighten_midside_nodes(nodes: np.ndarray, elements: np.ndarray) -> np.ndarray:
    """Nodes of a P2 mesh with every mid-side node moved to its edge's midpoint."""
    from femvalid.fem.elements import TET10_EDGES

    nodes = np.array(nodes, dtype=float)
    for k, (a, b) in enumerate(TET10_EDGES):
        nodes[elements[:, 4 + k]] = 0.5 * (nodes[elements[:, a]] + nodes[elements[:, b]])
    return nodes


class _MeshCache:
    """Probe meshes by (order, size) with their node counts: ``index.json`` + NPZ files."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.index_path = self.directory / "index.json"
        self.index = json.loads(self.index_path.read_text()) if self.index_path.exists() else {}

    @staticmethod
    def key(order: int, size_mm: float) -> str:
        return f"{DESIGN}-p{order}-h{size_mm:.4g}"

    def known(self, order: int) -> list[tuple[float, int]]:
        """(size mm, nodes) of every cached mesh of this order."""
        return sorted((e["size_mm"], e["nodes"]) for e in self.index.values()
                      if e["order"] == order and (self.directory / e["file"]).exists())

    def get(self, order: int, size_mm: float, log) -> tuple[dict, bool]:
        """The index entry of this mesh, meshing it first if needed; (entry, was cached)."""
        key = self.key(order, size_mm)
        entry = self.index.get(key)
        if entry is not None and (self.directory / entry["file"]).exists():
            return entry, True
        entry = self._mesh(order, size_mm, key, log)
        self.index[key] = entry
        tmp = self.index_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.index, indent=1, sort_keys=True))
        tmp.replace(self.index_path)
        return entry, False

    def _mesh(self, order: int, size_mm: float, key: str, log) -> dict:
        from femvalid.geometry import VertebralBodyReplacement
        from femvalid.meshing import MeshSettings, mesh_surface

        log(f"  meshing P{order} at {size_mm:.4g} mm ...")
        started = time.perf_counter()
        surface = VertebralBodyReplacement().surface(size_mm)
        mesh = mesh_surface(surface, MeshSettings(size_mm, order), source=key)
        seconds = time.perf_counter() - started
        nodes = mesh.nodes if order == 1 else straighten_midside_nodes(mesh.nodes, mesh.elements)
        file = f"{key}.npz"
        tmp = self.directory / f"{key}.tmp.npz"
        np.savez(tmp, nodes=nodes, elements=mesh.elements.astype(np.int32))
        tmp.replace(self.directory / file)
        log(f"    {len(nodes):,} nodes, {len(mesh.elements):,} elements, {3 * len(nodes):,} dofs ({seconds:.1f} s)")
        return {"order": order, "size_mm": size_mm, "nodes": len(nodes), "elements": len(mesh.elements),
                "file": file, "mesh_seconds": seconds}


def _next_size(known: list[tuple[float, int]], target_nodes: int, order: int) -> float:
    """Secant step on log(nodes) = a + s·log(size) from the probe nearest the target.

    The slope s comes from the two nearest probes when their node counts differ by at
    least 30 % (closer ones give noise, not a slope), else it is −3, the volume-filling
    limit; it is kept within [−3.2, −2] (surface-dominated coarse meshes to fine ones).
    """
    if not known:
        # Roughly 2 (P1) or 12 (P2) nodes per h³ of volume for this implant (about 3460 mm³).
        per_volume = 2.0 if order == 1 else 12.0
        return (per_volume * 3460.0 / target_nodes) ** (1 / 3)
    near = sorted(known, key=lambda p: abs(math.log(p[1] / target_nodes)))
    h0, n0 = near[0]
    slope = -3.0
    spread = [(h, n) for h, n in near[1:] if abs(math.log(n / n0)) >= math.log(1.3) and h != h0]
    if spread:
        h1, n1 = spread[0]
        slope = min(-2.0, max(-3.2, math.log(n1 / n0) / math.log(h1 / h0)))
    return h0 * (target_nodes / n0) ** (1 / slope)


def _bisect(known: list[tuple[float, int]], target_nodes: int) -> float | None:
    """Geometric mean of the sizes nearest the target from either side, if it is bracketed."""
    fine = [h for h, n in known if n > target_nodes]
    coarse = [h for h, n in known if n < target_nodes]
    if not fine or not coarse:
        return None
    return float(f"{math.sqrt(max(fine) * min(coarse)):.4g}")


def build_mesh(case: Case, cache_dir: str | Path, log=print, max_probes: int = 8) -> CaseMesh:
    """The cached mesh whose node count is within ``case.tolerance`` of the target.

    A probe that the mesher rejects (gmsh occasionally leaves a sliver) is retried at a
    size 1 % smaller.
    """
    from femvalid.errors import MeshingError

    cache = _MeshCache(Path(cache_dir))
    target = case.target_nodes
    made = set()
    rejected = 0
    for _ in range(max_probes + 1):
        known = cache.known(case.order)
        if known:
            size, nodes = min(known, key=lambda p: abs(math.log(p[1] / target)))
            if abs(nodes / target - 1) <= case.tolerance:
                entry, _ = cache.get(case.order, size, log)
                return CaseMesh(case, cache.directory / entry["file"], size, entry["nodes"], entry["elements"],
                                entry["mesh_seconds"], cached=size not in made)
        size = float(f"{_next_size(known, target, case.order):.4g}")
        if any(abs(size / h - 1) < 1e-3 for h, _ in known):
            size = _bisect(known, target)  # the secant came back to a probe: node count is not monotone here
            if size is None or any(abs(size / h - 1) < 1e-3 for h, _ in known):
                break
        while True:
            try:
                cache.get(case.order, size, log)
                break
            except MeshingError as exc:
                rejected += 1
                if rejected > 3:
                    raise
                log(f"    {exc}; retrying")
                size = float(f"{0.99 * size:.4g}")
        made.add(size)
    raise RuntimeError(f"{case.name}: no mesh size within {case.tolerance:.0%} of {case.target_dofs:,} dofs "
                       f"after {max_probes} probes (tried {cache.known(case.order)})")
