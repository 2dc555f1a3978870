"""The report's "Worst-case selection" section, and what a family shows in detail.

A family of 50 members must leave the report readable: the section is one table (a
row per load case and headline quantity, with its rationale) and, folded, the ranking
of every member; the report's per-design and per-job sections show a family's worst
members and runners-up only (:func:`in_detail`), the others being in this section,
summary.csv and their results.json.
"""

from __future__ import annotations

from html import escape

from femvalid.post import qoi
from femvalid.study import worst_case as wc
from femvalid.report.markup import table

__all__ = ["worst_case_section", "in_detail", "designs_in_detail", "without_families", "rationale", "SECTION_TITLE"]

SECTION_TITLE = "Worst-case selection"
#: Indistinguishable members named in the table's cell before "and N more".
_NAMED = 8


def _selections(result) -> tuple:
    rows = getattr(result, "worst_case", None)
    if rows is None:
        rows = tuple(wc.select(result.study, result.jobs))
    return tuple(rows)


def _shown(result) -> set[tuple[str, str]] | None:
    """(design, member) of each family member shown in detail: every row's worst and runner-up."""
    rows = _selections(result)
    if not rows:
        return None
    return {(s.family, m) for s in rows for m, _ in s.ranking[:2]}


def in_detail(result, jobs) -> list:
    """``jobs`` (JobResults) less the family members that are neither a worst member nor a runner-up."""
    shown = _shown(result)
    families = set(wc.families(result.study))
    if shown is None:
        return list(jobs)
    return [r for r in jobs if r.design not in families or (r.design, r.revision) in shown]


def designs_in_detail(result) -> list:
    """(Design, (Surface, CheckReport)) of the study, less the family members not shown in detail."""
    shown = _shown(result)
    pairs = list(zip(result.study.designs, result.surfaces))
    if shown is None:
        return pairs
    return [(d, s) for d, s in pairs if d.family is None or (d.name, d.revision) in shown]


def without_families(result, comparison) -> list:
    """The revision comparison less the families' rows (their members are ranked in this section instead)."""
    families = set(wc.families(result.study))
    return [row for row in comparison if row["design"] not in families]


def rationale(s) -> str:
    """One sentence (plain text) saying why ``s.worst`` is the worst case for its row."""
    spec = qoi.spec(s.quantity)
    unit = f" {spec.unit}" if spec.unit else ""
    extreme = "highest" if s.direction == "higher" else "lowest"
    text = f"{s.label(s.worst)} has the {extreme} {spec.label} ({s.value:.4g}{unit})"
    if s.quantity in wc.RANKED_LOWER:
        text += " (the most compliant member is taken as worst)"
    ru = s.runner_up
    if ru is None:
        return text + "; it is the only member with a value."
    g = s.gci.get(ru, {}).get("percent")
    g_worst = s.gci.get(s.worst, {}).get("percent")
    gci = max(x for x in (g, g_worst, 0.0) if x is not None)
    band = f"U = {s.bands[ru]:.3g} % (validation {s.validation_percent:.3g} % + GCI {gci:.3g} %)"
    other = "higher" if s.direction == "lower" else "lower"
    text += f"; the runner-up {s.label(ru)} is {s.margin_percent:.3g} % {other}, "
    if ru in s.indistinguishable:
        more = len(s.indistinguishable)
        text += (f"inside its band {band}: the model cannot tell them apart"
                 + (f", nor {more - 1} more member{'s' if more > 2 else ''}" if more > 1 else "")
                 + "; a test programme should cover the indistinguishable members.")
    else:
        text += f"outside its band {band}: {s.label(s.worst)} is distinctly the worst."
    return text


def _names(s, members) -> str:
    names = [s.label(m) for m in members]
    return "; ".join(names[:_NAMED]) + (f" and {len(names) - _NAMED} more" if len(names) > _NAMED else "")


def worst_case_section(result) -> str:
    """The body of the "Worst-case selection" section; "" when the study has no family."""
    rows = _selections(result)
    if not rows:
        return ""
    study = result.study
    families = wc.families(study)
    sizes = ", ".join(f"{name}: {len(members)} members" for name, members in families.items())
    refine = ("every job ran on the three meshes of [mesh] refine" if study.mesh_refine_mm else
              f"the worst member and the runner-up of each row were run again on three meshes (the member's size h, "
              f"h·{wc.REFINE_RATIO:.3g} and h·{wc.REFINE_RATIO ** 2:.3g}), the other members taking the larger of "
              "those two GCIs")
    parts = [
        f"<p>Product famil{'ies' if len(families) > 1 else 'y'} ({escape(sizes)}): every member ran under every load "
        "case. Per load case and headline quantity the members are ranked in the direction the quantity is worse "
        "(a higher stress or subsidence; a lower safety factor, run-out load or subsidence stiffness; the lowest "
        "stiffness, the most compliant member). A member whose distance from the worst (margin, % of the worst's "
        "value) is within its band U is <em>indistinguishable</em> from it: U is the validation uncertainty (the "
        "study's <code>validation_uncertainty_percent</code>) plus the larger of the two members' mesh-convergence "
        f"uncertainties (GCI_fine, Celik et al. 2008); {escape(refine)}. The worst case is thus chosen by analysis "
        "with a stated rationale, as the FDA asks of a worst-case construct and as the ASTM practices for finite "
        "element analysis of implants (F2996, F3161, F3334) intend.</p>"]
    table_rows, classes = [], []
    for s in rows:
        spec = qoi.spec(s.quantity)
        table_rows.append([*([s.family] if len(families) > 1 else []), s.loadcase, spec.heading, s.label(s.worst),
                           s.value, s.label(s.runner_up) if s.runner_up else "", s.margin_percent,
                           s.uncertainty_percent, _names(s, s.indistinguishable) if s.indistinguishable else "none",
                           rationale(s)])
        classes.append("fail" if s.indistinguishable else "")
    header = [*(["family"] if len(families) > 1 else []), "load case", "quantity", "worst", "value", "runner-up",
              "margin %", "U %", "indistinguishable", "rationale"]
    parts.append(table(header, table_rows, classes))
    unranked = sorted({(s.loadcase, m) for s in rows for m in s.unranked})
    if unranked:
        parts.append("<p class='fail'>Not ranked (the job failed or did not report the quantity), so not ruled "
                     "out as the worst case: " + escape(", ".join(f"{m} ({c})" for c, m in unranked)) + ".</p>")
    shown = sorted({s.label(m) for s in rows for m, _ in s.ranking[:2]})
    parts.append("<p>Shown in detail in the sections below: " + escape(", ".join(shown)) + "; every member's "
                 "numbers are in summary.csv and its results.json, and ranked here:</p>")
    parts.append(_ranking_tables(rows, families))
    return "".join(parts)


def _ranking_tables(rows, families) -> str:
    """Folded: per family and load case, every member's value and rank for each quantity."""
    out = []
    groups: dict[tuple, list] = {}
    for s in rows:
        groups.setdefault((s.family, s.loadcase), []).append(s)
    for (family, case), group in groups.items():
        members = [d.revision for d in families[family]]
        header = ["member", *[f"{qoi.spec(s.quantity).heading} (rank)" for s in group]]
        body = []
        for m in members:
            cells = [group[0].label(m)]
            for s in group:
                rank = next((k for k, (name, _) in enumerate(s.ranking, start=1) if name == m), None)
                value = dict(s.ranking).get(m)
                mark = " worst" if rank == 1 else (" ≈" if m in s.indistinguishable else "")
                cells.append("" if rank is None else f"{value:.4g} ({rank}{mark})")
            body.append(cells)
        out.append(f"<details><summary>{escape(family)} / {escape(case)}: every member ranked ({len(members)})"
                   f"</summary><p>Rank 1 is the worst; ≈ marks a member indistinguishable from it.</p>"
                   + table(header, body) + "</details>")
    return "".join(out)
