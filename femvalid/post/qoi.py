"""The quantities of interest: one table that every output reads.

Each quantity has a name whose tail is its unit (``stiffness_N_per_mm``), a label
for people, the direction in which a change is worse for the implant (or none: a
stiffness is reported, not judged), whether it is a headline quantity, and its kind:

- ``outcome``: what the load case measures about the device;
- ``check``: a number that says whether the model did what was asked (reactions,
  volume, the interface's share of the load, the fitted bearing angle); reported,
  never judged as a regression;
- ``load``: the applied load, echoed; neither compared between revisions nor
  carried into the mesh-convergence study.

summary.csv, comparison.csv, the acceptance criteria, the mesh-convergence warnings,
the printed summary and the report all take names, order, units and judgements from
here. A load-case type registered by a user may report quantities the table does not
know: :func:`spec` still describes them (unit from the name, not judged), and
:func:`register_qoi` adds them properly.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["QoI", "QOI", "KINDS", "WORSE", "spec", "known", "headline", "ordered", "unit_of",
           "register_qoi"]

KINDS = ("outcome", "check", "load")
WORSE = ("higher", "lower", None)

#: Name tails and the unit each stands for, longest first (``_N_per_mm`` before ``_mm``).
_UNITS = (
    ("_Nmm_per_deg", "N·mm/deg"), ("_N_per_mm", "N/mm"), ("_Nmm", "N·mm"), ("_MPa", "MPa"),
    ("_mm3", "mm³"), ("_mm2", "mm²"), ("_mm", "mm"), ("_deg", "deg"), ("_percent", "%"), ("_N", "N"),
)


def unit_of(name: str) -> str:
    """The unit a quantity's name ends in; "" for a dimensionless one.

    >>> unit_of("torsional_stiffness_Nmm_per_deg"), unit_of("contact_area_mm2"), unit_of("relative_density")
    ('N·mm/deg', 'mm²', '')
    """
    for tail, unit in _UNITS:
        if name.endswith(tail):
            return unit
    return ""


@dataclass(frozen=True)
class QoI:
    """One quantity of interest.

    Attributes
    ----------
    name : str
        Key in ``results.json`` ``qoi`` and column of summary.csv; ends in its unit.
    label : str
        What it is, for people (table headings, the printed summary).
    worse : {"higher", "lower", None}
        The direction in which a change is worse for the implant; None: reported, not
        judged. Always None for checks and loads.
    headline : bool
        One of the few quantities a reader looks at first.
    kind : {"outcome", "check", "load"}
        See the module's description.
    """

    name: str
    label: str
    worse: str | None = None
    headline: bool = False
    kind: str = "outcome"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.worse not in WORSE:
            raise ValueError(f"{self.name}: worse must be 'higher', 'lower' or None, not {self.worse!r}")
        if self.kind != "outcome" and (self.worse or self.headline):
            raise ValueError(f"{self.name}: a {self.kind} is neither judged nor a headline quantity")

    @property
    def unit(self) -> str:
        """The unit its name ends in ("" when dimensionless)."""
        return unit_of(self.name)

    @property
    def heading(self) -> str:
        """Label and unit, for a table heading: ``"stiffness N/mm"``."""
        return f"{self.label} {self.unit}" if self.unit else self.label


def _outcome(name, label, worse=None, headline=False):
    return QoI(name, label, worse, headline, "outcome")


def _check(name, label):
    return QoI(name, label, kind="check")


def _load(name, label):
    return QoI(name, label, kind="load")


_TABLE = (
    # What was applied.
    _load("force_N", "force"),
    _load("compression_force_N", "compressive force"),  # compression–shear: along the load axis
    _load("shear_force_N", "shear force"),  # compression–shear: normal to the load axis
    _load("torque_Nmm", "torque"),
    # Stiffness and motion, along the load line (about the load axis for torsion).
    _outcome("stiffness_N_per_mm", "stiffness", headline=True),
    _outcome("torsional_stiffness_Nmm_per_deg", "torsional stiffness", headline=True),
    _outcome("displacement_mm", "displacement", "higher"),
    _outcome("displacement_max_mm", "largest displacement", "higher"),
    _outcome("rotation_deg", "rotation", "higher"),
    _outcome("platen_rotation_deg", "platen rotation"),
    # Strength: volume-weighted statistics (the peak is singular at sharp corners).
    _outcome("von_mises_max_MPa", "von Mises peak", "higher"),
    _outcome("von_mises_p99_MPa", "von Mises p99", "higher", headline=True),
    _outcome("von_mises_p95_MPa", "von Mises p95", "higher"),
    _outcome("von_mises_mean_MPa", "von Mises mean", "higher"),
    _outcome("safety_factor_yield", "safety factor (yield/p99)", "lower", headline=True),
    _outcome("first_yield_force_N", "first-yield force", "lower"),
    _outcome("first_yield_torque_Nmm", "first-yield torque", "lower"),
    # Fatigue (with fatigue_ratio).
    _outcome("fatigue_safety_factor", "fatigue safety factor", "lower", headline=True),
    _outcome("predicted_runout_force_N", "run-out force", "lower", headline=True),
    _outcome("predicted_runout_torque_Nmm", "run-out torque", "lower", headline=True),
    # Subsidence (ASTM F2267).
    _outcome("subsidence_mm", "subsidence", "higher", headline=True),
    _outcome("subsidence_stiffness_N_per_mm", "subsidence stiffness Kp", "lower", headline=True),
    _outcome("device_stiffness_N_per_mm", "device stiffness Kd"),
    _outcome("system_stiffness_N_per_mm", "system stiffness Ks"),
    _outcome("contact_area_mm2", "contact area"),
    _outcome("contact_pressure_mean_MPa", "mean contact pressure", "higher"),
    _outcome("contact_pressure_max_MPa", "peak contact pressure", "higher"),
    _outcome("block_von_mises_max_MPa", "block von Mises peak", "higher"),
    _outcome("block_overstressed_volume_mm3", "overstressed block volume", "higher"),
    _outcome("footprint_overstressed_fraction", "overstressed share of the footprint", "higher"),
    _outcome("interface_sliding_max_mm", "largest sliding on the interface", "higher"),
    # Lattices.
    _outcome("effective_modulus_MPa", "effective modulus E*"),
    _outcome("relative_density", "relative density"),
    _outcome("relative_modulus", "relative modulus E*/Es"),
    # Checks: what the model carried, and the geometry it found.
    _check("reaction_force_N", "reaction force, inferior"),
    _check("reaction_force_superior_N", "reaction force, superior"),
    _check("reaction_moment_Nmm", "reaction moment"),
    _check("lateral_force_N", "lateral force on the stops or actuator"),
    _check("interface_force_N", "force through the implant–block interface"),
    _check("volume_mm3", "implant volume"),
    _check("bearing_angle_deg", "angle between the bearing faces"),
    _check("contact_area_superior_mm2", "contact area, superior"),
    _check("contact_area_inferior_mm2", "contact area, inferior"),
    _check("solid_modulus_MPa", "solid modulus Es"),
    _check("block_area_mm2", "block area"),
    _check("block_height_mm", "block height"),
)

#: Every known quantity by name, in the order outputs list them.
QOI: dict[str, QoI] = {q.name: q for q in _TABLE}


def register_qoi(qoi: QoI, override: bool = False) -> None:
    """Add a quantity (from a user's load-case type) to the table; refuses to replace one unless ``override``."""
    if qoi.name in QOI and not override:
        raise ValueError(f"quantity of interest {qoi.name!r} is already in the table")
    QOI[qoi.name] = qoi


def spec(name: str) -> QoI:
    """The table's entry for ``name``; for an unknown name, an outcome that is reported, not judged."""
    if name in QOI:
        return QOI[name]
    stem = next((name[: -len(tail)] for tail, _ in _UNITS if name.endswith(tail) and len(name) > len(tail)), name)
    return QoI(name, stem.replace("_", " "))


def known() -> tuple[str, ...]:
    """Every quantity name the table knows, in table order."""
    return tuple(QOI)


def headline() -> tuple[str, ...]:
    """The headline quantities, in table order."""
    return tuple(name for name, q in QOI.items() if q.headline)


def ordered(names) -> list[str]:
    """``names`` (any iterable, repeats dropped) in table order; unknown names last, as first seen."""
    unique = list(dict.fromkeys(names))
    rank = {name: i for i, name in enumerate(QOI)}
    return sorted((n for n in unique if n in rank), key=rank.__getitem__) + [n for n in unique if n not in rank]
