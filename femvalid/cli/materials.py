"""``femvalid materials``: list the material library with its sources."""

from __future__ import annotations

import json

from femvalid.materials import library


def add_parser(sub) -> None:
    p = sub.add_parser("materials", help="list the material library", description=__doc__.split(":", 1)[1].strip())
    p.add_argument("--json", action="store_true", help="print the library as JSON")
    p.set_defaults(handler=run)


def run(args) -> int:
    materials = library()
    if args.json:
        print(json.dumps({k: m.to_dict() for k, m in materials.items()}, indent=2))
        return 0
    fmt = lambda v: "—" if v is None else f"{v:g}"  # noqa: E731
    print(f"{'key':<17} {'E MPa':>8} {'nu':>5} {'yield MPa':>10} {'ult. MPa':>9} {'fatigue MPa':>12}  name")
    for key, m in materials.items():
        print(
            f"{key:<17} {m.youngs_modulus_MPa:>8g} {m.poisson_ratio:>5g} {fmt(m.yield_MPa):>10} "
            f"{fmt(m.ultimate_MPa):>9} {fmt(m.fatigue_limit_MPa):>12}  {m.name}"
        )
    print("\nsources: femvalid materials --json; yield is compressive strength for foams and bone")
    return 0
