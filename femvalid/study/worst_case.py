"""Worst case across a product family: rank the members, name the worst, mark those that
cannot be told apart from it.

For each family (a design given by ``family``, :mod:`femvalid.study.family`), each
load case and each headline quantity of the QoI table (:func:`femvalid.post.qoi.headline`)
that the family's jobs report:

- the members are ranked worst first in the table's ``worse`` direction (a higher
  stress, a lower safety factor, run-out load or subsidence stiffness, a larger
  subsidence). Stiffness is not judged in the table (a change is reported, not a
  regression), but a worst case must be ranked: the most compliant member, the lowest
  stiffness, is taken as worst (:data:`RANKED_LOWER`);
- ``margin_percent`` of a member is its distance from the worst, 100·|v − v_worst| / |v_worst|;
- the band U of a member is ``validation_uncertainty_percent`` (the family's
  [[design]], else [study], default 10) plus the larger of the worst's and the
  member's GCI_fine % for that quantity. A member whose GCI was not computed is given
  the larger of the worst's and the runner-up's, which the run always computes
  (members meshed alike carry similar discretisation errors). A GCI whose observed
  order is unusable (nan) is replaced by 3·e_a, Roache's safety factor for
  estimates without an observed order (P. J. Roache, Verification and Validation in
  Computational Science and Engineering, Hermosa, 1998);
- a member whose margin is within its band is *indistinguishable* from the worst: the
  model cannot say which of them is worse, and a test programme should cover them.

Unless ``[mesh] refine`` already runs every job on three meshes, the runner runs the
worst member and the runner-up of every row again on three meshes, the member's own
size h and the coarser h·√2 and 2h (:func:`refine_sizes`; refinement ratio √2 > 1.3 as
Celik et al. 2008 ask), through the same path as ``[mesh] refine``; the finest is the
mesh of the first run, so the values do not change.

``worst_case.csv`` has one row per (family,) load case and quantity, the columns
:data:`CSV_COLUMNS`; a member is named by its revision, or ``design/revision`` when
the study has more than one family. ``indistinguishable`` lists the other members
within the band (not the worst itself), ``;``-separated, worst first;
``uncertainty_percent`` is the band applied to the runner-up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from femvalid._csvtext import csv_text
from femvalid.post import qoi

__all__ = ["CSV_COLUMNS", "RANKED_LOWER", "REFINE_RATIO", "Selection", "direction", "families", "gci_targets",
           "member_gci", "provenance", "refine_sizes", "select", "worst_case_csv"]

CSV_COLUMNS = ("loadcase", "quantity", "worst", "value", "runner_up", "margin_percent", "indistinguishable",
               "uncertainty_percent")
#: Ranked lowest-worst although the QoI table does not judge them: the most compliant member.
RANKED_LOWER = ("stiffness_N_per_mm", "torsional_stiffness_Nmm_per_deg")
REFINE_RATIO = math.sqrt(2.0)
#: Roache's factor of safety for an error estimate without a usable observed order.
UNRELIABLE_FS = 3.0


def direction(quantity: str) -> str | None:
    """"higher" or "lower": the direction in which a member is worse for ranking; None: not ranked."""
    worse = qoi.spec(quantity).worse
    if worse is None and quantity in RANKED_LOWER:
        return "lower"
    return worse


def refine_sizes(size_mm: float) -> tuple[float, float, float]:
    """The three mesh sizes of the automatic GCI: h, h·√2 and 2h (finest first)."""
    return (float(size_mm), float(size_mm) * REFINE_RATIO, float(size_mm) * REFINE_RATIO**2)


def families(study) -> dict[str, list]:
    """Each family's member designs, in study order, by design name."""
    out: dict[str, list] = {}
    for design in study.designs:
        if design.family is not None:
            out.setdefault(design.name, []).append(design)
    return out


def member_gci(job, quantity: str) -> float | None:
    """A job's GCI_fine % for ``quantity`` from its convergence block; None without one."""
    c = (job.convergence or {}).get(quantity) if job is not None else None
    if not c:
        return None
    g = c.get("gci_fine_percent")
    if _finite(g):
        return float(g)
    values, sizes = c.get("values") or (), c.get("sizes") or ()
    if len(set(sizes)) == 3 and len(values) >= 2 and all(_finite(v) for v in values[:2]) and values[0]:
        return UNRELIABLE_FS * 100.0 * abs(values[0] - values[1]) / abs(values[0])
    return None


@dataclass(frozen=True)
class Selection:
    """One row of the worst-case table: a family's members ranked for one load case and quantity.

    Attributes
    ----------
    ranking : tuple of (member, value)
        Worst first; ``member`` is the revision (the member's name).
    margins, bands : dict
        Per member (other than the worst): distance from the worst and band U, %.
    gci : dict
        Per member, the GCI_fine % used and where it came from ("own", "runner-up/worst"), or absent.
    unranked : tuple of str
        Members without a value (a failed job, a quantity not reported).
    """

    family: str
    loadcase: str
    quantity: str
    direction: str
    ranking: tuple
    margins: dict
    bands: dict
    gci: dict
    indistinguishable: tuple
    uncertainty_percent: float
    validation_percent: float
    unranked: tuple = ()
    labels: dict = field(default_factory=dict)  # member -> name in the CSV

    @property
    def worst(self) -> str:
        return self.ranking[0][0]

    @property
    def value(self) -> float:
        return self.ranking[0][1]

    @property
    def runner_up(self) -> str | None:
        return self.ranking[1][0] if len(self.ranking) > 1 else None

    @property
    def margin_percent(self) -> float | None:
        return self.margins.get(self.runner_up) if self.runner_up is not None else None

    def label(self, member: str) -> str:
        return self.labels.get(member, member)

    def row(self) -> list:
        """The worst_case.csv row."""
        ru = self.runner_up
        return [self.loadcase, self.quantity, self.label(self.worst), self.value,
                self.label(ru) if ru is not None else None, self.margin_percent,
                ";".join(self.label(m) for m in self.indistinguishable), self.uncertainty_percent]

    def to_dict(self) -> dict:
        return {"family": self.family, "loadcase": self.loadcase, "quantity": self.quantity,
                "direction": self.direction, "ranking": [list(p) for p in self.ranking], "margins": self.margins,
                "bands": self.bands, "gci": self.gci, "indistinguishable": list(self.indistinguishable),
                "uncertainty_percent": self.uncertainty_percent, "validation_percent": self.validation_percent,
                "unranked": list(self.unranked)}


def select(study, jobs) -> list[Selection]:
    """The worst-case rows of every family of ``study`` from its finished ``jobs`` (JobResults)."""
    fams = families(study)
    several = len(fams) > 1
    by_job = {(r.design, r.revision, r.loadcase): r for r in jobs}
    rows = []
    for name, members in fams.items():
        band = next((d.validation_uncertainty_percent for d in members if d.validation_uncertainty_percent is not None),
                    study.validation_uncertainty_percent)
        labels = {d.revision: f"{name}/{d.revision}" if several else d.revision for d in members}
        for case in study.loadcases:
            case_jobs = {d.revision: by_job.get((name, d.revision, case.name)) for d in members}
            ok = {m: j for m, j in case_jobs.items() if j is not None and j.status == "ok"}
            reported = qoi.ordered(k for j in ok.values() for k, v in j.qoi.items() if _finite(v))
            for quantity in (q for q in qoi.headline() if q in reported):
                worse = direction(quantity)
                if worse is None:
                    continue
                rows.append(_rank(name, case.name, quantity, worse, ok, case_jobs, band, labels))
    return rows


def _rank(name, case, quantity, worse, ok, case_jobs, band, labels) -> Selection:
    values = [(m, float(j.qoi[quantity])) for m, j in ok.items() if _finite(j.qoi.get(quantity))]
    # Stable: ties keep study order.
    ranking = sorted(values, key=(lambda p: -p[1]) if worse == "higher" else (lambda p: p[1]))
    unranked = tuple(m for m in case_jobs if m not in dict(values))
    worst, v_worst = ranking[0]
    gci = {}
    for m, _ in ranking:
        g = member_gci(ok[m], quantity)
        if g is not None:
            gci[m] = {"percent": g, "from": "own"}
    computed = [gci[m]["percent"] for m, _ in ranking[:2] if m in gci]
    fallback = max(computed) if computed else None
    g_worst = gci.get(worst, {}).get("percent", fallback)
    margins, bands, close = {}, {}, []
    for m, v in ranking[1:]:
        if m not in gci and fallback is not None:
            gci[m] = {"percent": fallback, "from": "worst and runner-up"}
        g_m = gci.get(m, {}).get("percent")
        bands[m] = band + max(g_worst or 0.0, g_m or 0.0)
        margins[m] = 100.0 * abs(v - v_worst) / abs(v_worst) if v_worst else (0.0 if v == v_worst else math.inf)
        if margins[m] <= bands[m]:
            close.append(m)
    runner = ranking[1][0] if len(ranking) > 1 else None
    uncertainty = bands[runner] if runner is not None else band + (g_worst or 0.0)
    return Selection(name, case, quantity, worse, tuple(ranking), margins, bands, gci, tuple(close), uncertainty,
                     band, unranked, labels)


def gci_targets(study, jobs) -> set[tuple[str, str, str]]:
    """(design, revision, load case) of every row's worst member and runner-up whose job has
    no three-mesh convergence block yet."""
    by_job = {(r.design, r.revision, r.loadcase): r for r in jobs}
    out = set()
    for s in select(study, jobs):
        for member, _ in s.ranking[:2]:
            key = (s.family, member, s.loadcase)
            if not by_job[key].convergence:
                out.add(key)
    return out


def provenance(study) -> dict:
    """For manifest.json: each family's members (how each was made) and the band's settings."""
    return {"families": {name: {d.revision: d.family for d in members} for name, members in families(study).items()},
            "validation_uncertainty_percent": {name: next((d.validation_uncertainty_percent for d in members
                                                           if d.validation_uncertainty_percent is not None),
                                                          study.validation_uncertainty_percent)
                                               for name, members in families(study).items()},
            "automatic_gci": None if study.mesh_refine_mm else
            f"worst member and runner-up of each row on three meshes: h, h*{REFINE_RATIO:.4g}, h*{REFINE_RATIO**2:.4g}",
            "ranked_lower_although_not_judged": list(RANKED_LOWER)}


def worst_case_csv(selections) -> str:
    """worst_case.csv: one row per load case and headline quantity (and family), :data:`CSV_COLUMNS`."""
    return csv_text(CSV_COLUMNS, (s.row() for s in selections))


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
