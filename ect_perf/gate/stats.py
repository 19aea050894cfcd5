"""The statistics of a wall-clock verdict, with the server process as the replicate.

The samples of one benchmark process move together (its server's placement, caches and hash seed
are shared by all of them), so they are summarised by their median: one replicate per process. Two
revisions are compared on replicates measured in interleaved pairs, with scipy's exact one-sided
Mann-Whitney U test in the direction that would be worse, at a level that Bonferroni's correction
divides among every benchmark confirmed in one pull request, so that the chance of any false alarm
in that pull request stays at most FAMILY_ALPHA.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from scipy.stats import mannwhitneyu, norm, ttest_1samp
from scipy.stats import t as t_dist

FAMILY_ALPHA = 0.01  # the chance of one false alarm or more across all rows of one pull request
POWER = 0.8  # for the smallest detectable change that the report prints


def replicate(samples) -> float:
    """One process's samples as one replicate."""
    return statistics.median(samples)


def ratio(before: float, after: float) -> float | None:
    if before == 0 or isnan(before) or isnan(after) or before * after < 0:
        return None
    return after / before


def isnan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


@dataclass(frozen=True)
class Test:
    p_value: float  # one-sided: that HEAD is worse
    alpha: float  # the level this row was tested at
    estimate: float | None  # median of HEAD's replicates over median of BASE's

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha


def worse_test(before: list[float], after: list[float], better: str, alpha: float) -> Test:
    """Is HEAD worse? before/after: one replicate per process."""
    alternative = "greater" if better == "lower" else "less"  # HEAD's values larger / smaller
    p_value = float(mannwhitneyu(after, before, alternative=alternative, method="exact").pvalue)
    return Test(p_value, alpha, ratio(statistics.median(before), statistics.median(after)))


def row_alpha(rows_tested: int) -> float:
    """Bonferroni: FAMILY_ALPHA shared by every row confirmed in one pull request."""
    return FAMILY_ALPHA / max(1, rows_tested)


def smallest_p_value(pairs: int) -> float:
    """The exact test's smallest one-sided p-value with `pairs` replicates a side (complete separation)."""
    return 1 / math.comb(2 * pairs, pairs)


def pairs_needed(rows_tested: int, inversions_allowed: int = 1) -> int:
    """Pairs a side so that a clear change still passes with `inversions_allowed` out-of-order pairs
    (U <= that many) at the row's level; each U value up to 1 has one arrangement of its own."""
    alpha = row_alpha(rows_tested)
    pairs = 3
    while (inversions_allowed + 1) * smallest_p_value(pairs) >= alpha:
        pairs += 1
    return pairs


def detectable_change(before: list[float], pairs: int, alpha: float) -> float | None:
    """About the smallest relative change the test finds with POWER at `alpha`, from the spread of
    BASE's replicates (normal approximation; Mann-Whitney's efficiency 3/pi against the t-test).
    None with fewer than 3 replicates or a zero median."""
    if len(before) < 3:
        return None
    centre = statistics.median(before)
    if centre == 0:
        return None
    spread = statistics.stdev(before) / abs(centre)
    z = norm.ppf(1 - alpha) + norm.ppf(POWER)
    return z * spread * math.sqrt(2 / pairs) / math.sqrt(3 / math.pi)


def block_ratios(before: list[list[float]], after: list[list[float]]) -> list[float]:
    """Each block's median of its rounds' ratios HEAD/BASE (the two calls of a round made one after
    the other, so a drift of the machine's speed cancels in their ratio)."""
    return [
        statistics.median(b / a for a, b in zip(base, head) if a > 0 and b > 0) for base, head in zip(before, after)
    ]


def blocks_worse_test(ratios: list[float], better: str, alpha: float) -> Test:
    """Is HEAD worse, from the blocks' ratios HEAD/BASE? A one-sided one-sample t-test on their
    logarithms (each a median of several rounds, so close to normal), in the direction that would
    be worse; the estimate is their geometric mean."""
    logs = [math.log(r) for r in ratios]
    alternative = "greater" if better == "lower" else "less"
    if statistics.pstdev(logs) == 0:  # identical blocks: the t statistic is undefined
        worse_way = (logs[0] > 0) if better == "lower" else (logs[0] < 0)
        p_value = 0.0 if worse_way else 1.0
    else:
        p_value = float(ttest_1samp(logs, 0.0, alternative=alternative).pvalue)
    return Test(p_value, alpha, math.exp(statistics.fmean(logs)))


def blocks_detectable_change(ratios: list[float], alpha: float) -> float | None:
    """About the smallest relative change the blocks' test finds with POWER at `alpha`, from the
    spread of their log-ratios (Student's t with n-1 degrees of freedom). None with fewer than 3."""
    if len(ratios) < 3:
        return None
    logs = [math.log(r) for r in ratios]
    spread = statistics.stdev(logs)
    df = len(logs) - 1
    return math.expm1((t_dist.ppf(1 - alpha, df) + t_dist.ppf(POWER, df)) * spread / math.sqrt(len(logs)))
