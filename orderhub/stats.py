"""Interval estimates for proportions, shared by every context that shows a rate with its uncertainty (the picker
error analysis, the add-on offers' measured effect). Pure arithmetic, standard library only."""

from __future__ import annotations

import math
from statistics import NormalDist

__all__ = ["Z_95", "wilson_interval"]

Z_95 = NormalDist().inv_cdf(0.975)  # 1.959963984540054: the two-sided 95 % normal quantile


def wilson_interval(successes: int, trials: int, *, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval for a binomial proportion ``successes / trials`` (no continuity correction).

    E. B. Wilson, "Probable Inference, the Law of Succession, and Statistical Inference", JASA 22 (1927) 209–212;
    the form used by R's ``prop.test(correct = FALSE)`` and statsmodels' ``proportion_confint(method="wilson")``
    (Newcombe, Statistics in Medicine 17 (1998) 857–872, method 3)::

        p = k / n
        centre     = (p + z²/2n) / (1 + z²/n)
        half-width = z · √(p(1 − p)/n + z²/4n²) / (1 + z²/n)

    Unlike the Wald interval p ± z√(p(1 − p)/n) it stays inside [0, 1] and is not of zero width at k = 0 or k = n,
    which is what makes it usable for small samples. ``trials`` = 0 gives (0, 1): nothing known.
    """
    if trials < 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes} of {trials}")
    if trials == 0:
        return 0.0, 1.0
    n = float(trials)
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    # at k = 0 (k = n) the bound is exactly 0 (1); floating point would leave ±1e-17
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high
