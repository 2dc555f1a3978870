"""GCI against Celik et al. (2008) and against fields of known order."""

import math

import pytest

from femvalid.verification.gci import gci, representative_size


def celik_sizes():
    # Celik et al. (2008), worked example 1: 2-D grids of 18000, 8000 and 4500 cells.
    return [representative_size(1.0, n, dimension=2) for n in (18000, 8000, 4500)]


def test_celik_worked_example():
    r = gci([6.063, 5.972, 5.863], celik_sizes())
    assert r.order == pytest.approx(1.53, abs=0.005)
    assert r.extrapolated == pytest.approx(6.1685, abs=5e-4)
    assert r.approximate_error_percent == pytest.approx(1.5, abs=0.05)
    assert r.extrapolated_error_percent == pytest.approx(1.7, abs=0.05)
    assert r.gci_fine_percent == pytest.approx(2.2, abs=0.05)
    assert r.convergence == "monotonic" and not r.flags


def test_input_order_does_not_matter():
    a = gci([6.063, 5.972, 5.863], celik_sizes())
    b = gci([5.863, 6.063, 5.972], [celik_sizes()[i] for i in (2, 0, 1)])
    assert (a.order, a.extrapolated, a.gci_fine_percent) == (b.order, b.extrapolated, b.gci_fine_percent)


@pytest.mark.parametrize("order", [1.0, 2.0, 3.0])
@pytest.mark.parametrize("ratios", [(2.0, 2.0), (1.5, 1.3)])
def test_recovers_a_known_order(order, ratios):
    exact, c = 10.0, 0.7
    h1 = 0.1
    sizes = [h1, h1 * ratios[0], h1 * ratios[0] * ratios[1]]
    r = gci([exact + c * h**order for h in sizes], sizes)
    assert r.order == pytest.approx(order, rel=1e-8)
    assert r.extrapolated == pytest.approx(exact, rel=1e-10)


def test_oscillatory_and_out_of_range_are_flagged():
    r = gci([1.00, 1.02, 0.99], [1.0, 2.0, 4.0])
    assert r.convergence == "oscillatory" and any("oscillatory" in f for f in r.flags)
    steep = gci([1.0 + 0.5**6, 1.0 + 1.0**6, 1.0 + 2.0**6], [0.5, 1.0, 2.0])
    assert steep.order == pytest.approx(6.0) and any("outside 0.5–4" in f for f in steep.flags)


def test_no_change_is_reported_not_divided_by_zero():
    r = gci([2.0, 2.0, 2.0], [1.0, 2.0, 3.0])
    assert r.convergence == "converged" and math.isnan(r.order) and r.gci_fine_percent == 0.0


def test_diverging_is_flagged():
    r = gci([1.0, 1.5, 1.6], [1.0, 2.0, 4.0])
    assert any("diverging" in f for f in r.flags)


def test_zero_fine_value_is_flagged_not_divided():
    r = gci([0.0, 0.1, 0.3], [1.0, 2.0, 4.0])
    assert math.isnan(r.gci_fine_percent) and any("zero fine-grid value" in f for f in r.flags)
