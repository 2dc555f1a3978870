"""Bench curves in the report's Validation section: E = S − D (ASME V&V 20) and a plot of
each curve with its linear-region fit, offset line and offset yield, and the FE line.

The numbers come from :mod:`femvalid.study.bench` (attached to each job's
``validation`` records); this module only lays them out.
"""

from __future__ import annotations

import base64
import io
from html import escape
from pathlib import Path

import numpy as np

from femvalid.report.markup import table

__all__ = ["curve_section", "curve_figure"]


def _yes_no(value):
    return {True: "yes", False: "no"}.get(value, value) if isinstance(value, bool) else value


def curve_section(result) -> str:
    """HTML for every bench curve of the study: the V&V 20 comparison table, the method and a
    figure per curve; "" when the study has no curve."""
    entries = [v for v in result.study.validation if "curve" in v]
    if not entries:
        return ""
    jobs = {(r.design, r.revision, r.loadcase): r for r in result.jobs if r.status == "ok"}
    parts = ["<h3>Bench curves (ASME V&amp;V 20: E = S − D)</h3><p>Stiffness and offset yield force are determined "
             "from each force–displacement curve as ASTM F2077 reports a static test, and compared with the "
             "finite-element value S of the same job: E = S − D, with the validation uncertainty "
             "u<sub>val</sub> = √(u<sub>num</sub>² + u<sub>D</sub>²) (u<sub>num</sub> from the job's GCI where "
             "three meshes were run; u<sub>D</sub> from the fit's standard error and the bench's stated "
             "uncertainty; the input uncertainty is not estimated). Where |E| ≤ u<sub>val</sub> the model error is "
             "within the noise of the comparison. A linear model does not yield: its yield force is the force at "
             "which the 99th percentile of von Mises reaches the yield strength, the onset of yielding, which "
             "lies below the offset yield (E &lt; 0 is expected).</p>"]
    for entry in entries:
        curve = entry["curve"]
        job = jobs.get((entry["design"], entry["revision"], entry["loadcase"]))
        title = f"{entry['design']} {entry['revision']} / {entry['loadcase']}: {Path(curve.path).name}"
        parts.append(f"<h4>{escape(title)}</h4><p>{escape(curve.method)}.</p>")
        if job is None:
            parts.append("<p class='fail'>The job did not run: nothing to compare with.</p>")
            continue
        records = [v for v in job.validation if v.get("curve") == curve.path]
        parts.append(table(["quantity", "D (bench)", "S (FE)", "E = S − D", "E %", "u_num", "u_D", "u_val",
                             "|E| ≤ u_val", "note"],
                            [[v["quantity"], v["measured"], v["computed"], v["E"], v["difference_percent"],
                              v["u_num"], v["u_D"], v["u_val"], _yes_no(v["within_u_val"]), v["note"]] for v in records]))
        if curve.warnings:
            parts.append("<ul>" + "".join(f"<li>{escape(w)}</li>" for w in curve.warnings) + "</ul>")
        stiffness = job.qoi.get("stiffness_N_per_mm")
        yield_fe = next((v["computed"] for v in records if v["quantity"] == "yield_force_N"), None)
        try:
            png = curve_figure(curve, stiffness, yield_fe, title)
            parts.append(f'<img alt="{escape(title)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">')
        except Exception as exc:  # a figure that cannot be drawn must not lose the report
            parts.append(f'<p class="fail">figure not drawn: {escape(type(exc).__name__)}: {escape(str(exc))}</p>')
    return "".join(parts)


def curve_figure(curve, fe_stiffness: float | None, fe_yield_force: float | None, title: str) -> bytes:
    """The bench curve, its fitted elastic line and window, the offset line and offset yield, and
    the FE line F = K_FE·(δ − δ₀) (drawn from the bench's toe δ₀, so the slopes compare), PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    d, f = curve.displacement_mm, curve.force_N
    top = float(f.max())
    figure, axes = pyplot.subplots(figsize=(6.4, 4.2), dpi=100, layout="constrained")
    axes.plot(d, f, color="#222", linewidth=1.2, label="bench curve")
    i, j = curve.window
    axes.plot(d[i:j + 1], f[i:j + 1], color="#4a78b0", linewidth=3, alpha=0.6,
              label=f"linear region fit: K = {curve.stiffness_N_per_mm:.4g} N/mm")
    span = np.linspace(curve.toe_mm, curve.toe_mm + 1.05 * top / curve.stiffness_N_per_mm, 50)
    axes.plot(span, curve.elastic_line(span), color="#4a78b0", linewidth=0.8, linestyle=":")
    axes.plot(span + curve.offset_mm, curve.elastic_line(span), color="#c0504d", linewidth=1, linestyle="--",
              label=f"offset {curve.offset_mm:.3g} mm ({curve.offset_percent:g} % of {curve.reference_length_mm:.3g} mm)")
    if curve.yield_force_N is not None:
        axes.plot([curve.yield_displacement_mm], [curve.yield_force_N], "o", color="#c0504d",
                  label=f"offset yield {curve.yield_force_N:.4g} N")
    if fe_stiffness:
        fe = np.linspace(curve.toe_mm, curve.toe_mm + 1.05 * top / fe_stiffness, 50)
        axes.plot(fe, fe_stiffness * (fe - curve.toe_mm), color="#2e8b57", linewidth=1.5,
                  label=f"FE: K = {fe_stiffness:.4g} N/mm")
    if fe_yield_force:
        axes.axhline(fe_yield_force, color="#2e8b57", linewidth=0.8, linestyle="-.",
                     label=f"FE onset of yield (p99) {fe_yield_force:.4g} N")
    axes.set_xlim(min(float(d.min()), 0.0), float(d.max()) * 1.05)
    axes.set_ylim(0, top * 1.15)
    axes.set_xlabel("displacement (mm)")
    axes.set_ylabel("force (N)")
    axes.set_title(title.replace("$", r"\$"), fontsize=9)
    axes.grid(True, linewidth=0.3, alpha=0.5)
    axes.legend(fontsize=7, loc="lower right")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    pyplot.close(figure)
    return buffer.getvalue()
