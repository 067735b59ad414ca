"""The statistics of pass rates: Wilson confidence intervals, a two-proportion test, and the Pareto front."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

SIGNIFICANCE = 0.05  # a change whose p-value is below this is called beyond noise


@dataclass(frozen=True)
class ProportionTest:
    """A two-sided two-proportion z-test of rate b against rate a (pooled standard error)."""

    rate_a: float
    rate_b: float
    z: float
    p_value: float

    @property
    def significant(self) -> bool:
        """Whether the difference is beyond noise at the 5 % level."""
        return self.p_value < SIGNIFICANCE


def wilson_interval(passed: int, total: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """The Wilson score interval of a pass rate (sound for small samples and rates near 0 or 1); None for no trials."""
    if total <= 0:
        return None
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    rate = passed / total
    denominator = 1 + z * z / total
    centre = (rate + z * z / (2 * total)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / total + z * z / (4 * total * total)) / denominator
    return max(centre - half, 0.0), min(centre + half, 1.0)


def two_proportion_test(passed_a: int, total_a: int, passed_b: int, total_b: int) -> ProportionTest | None:
    """Whether rate b differs from rate a beyond noise; None when either side has no trials."""
    if total_a <= 0 or total_b <= 0:
        return None
    rate_a, rate_b = passed_a / total_a, passed_b / total_b
    pooled = (passed_a + passed_b) / (total_a + total_b)
    error = math.sqrt(pooled * (1 - pooled) * (1 / total_a + 1 / total_b))
    if error == 0:  # both all-pass or both all-fail: identical, no evidence of a change
        return ProportionTest(rate_a, rate_b, 0.0, 1.0)
    z = (rate_b - rate_a) / error
    return ProportionTest(rate_a, rate_b, z, 2 * (1 - NormalDist().cdf(abs(z))))


def pareto_front(points: Sequence[tuple[float, float, float]]) -> set[int]:
    """Indexes of the (quality, cost, latency) points no other point beats: higher quality, lower cost and latency."""
    def dominates(a: tuple[float, float, float], b: tuple[float, float, float]) -> bool:
        at_least = a[0] >= b[0] and a[1] <= b[1] and a[2] <= b[2]
        return at_least and (a[0] > b[0] or a[1] < b[1] or a[2] < b[2])

    return {i for i, p in enumerate(points) if not any(dominates(q, p) for j, q in enumerate(points) if j != i)}
