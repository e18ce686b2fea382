"""How sure a number is: confidence intervals of a two-level design, and comparing two reported scores.

A leaderboard entry is a two-level sample: condensed sets (seeds), and fresh evaluation nets trained
on each set. Nets of one set share its images, so they are not independent draws of the method; an
interval over them says how well the *set* was measured, not how good the *method* is. So an
interval is taken over the level that varies the method: the per-set means when there are two
sets or more, and over the nets only when there is one set (and it says so).

Accuracies here are fractions in [0, 1] unless a name says percent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from scipy import stats

SETS, NETS, RUNS = "condensed sets", "nets of one set", "whole-data runs"
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A confidence interval for a mean, over ``k`` values of ``level`` (SETS or NETS)."""

    low: float
    high: float
    level: str
    k: int

    def __str__(self) -> str:
        return f"[{100 * self.low:.1f}, {100 * self.high:.1f}]"


def t_interval(values: Sequence[float], level: str, confidence: float = LEVEL) -> Interval | None:
    """Student's t interval of the mean of ``values`` (sample std, k − 1 degrees of freedom); None for
    fewer than two values, where no spread can be estimated."""
    k = len(values)
    if k < 2:
        return None
    mean = sum(values) / k
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (k - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, k - 1)) * sd / math.sqrt(k)
    return Interval(mean - half, mean + half, level, k)


def level_values(groups: Sequence[Sequence[float]], *, whole: bool = False) -> tuple[list[float], str]:
    """The values of the level that varies the method, and its name: each whole-data run (``whole``);
    the condensed sets' means when there are two sets or more; else the nets of the one set."""
    groups = [list(g) for g in groups if len(g)]
    if whole:
        return [v for g in groups for v in g], RUNS
    if len(groups) >= 2:
        return [sum(g) / len(g) for g in groups], SETS
    return (groups[0] if groups else []), NETS


def entry_interval(by_set: Sequence[Sequence[float]], *, whole: bool = False) -> Interval | None:
    """The interval of an entry whose accuracies are grouped by condensed set (:func:`level_values`)."""
    return t_interval(*level_values(by_set, whole=whole))


# --- ours against a published number -------------------------------------------------------------

WITHIN, BELOW, ABOVE = "within", "below", "above"


def noise_bound(paper_std: float | None, paper_n: int, ours_std: float, ours_n: int) -> float:
    """Twice the standard error of the difference of two independent means, in the units given:
    2·√(σ_paper²/n_paper + σ_ours²/n_ours). A paper that gives no std contributes nothing (the bound
    is then ours alone, and a reader is told)."""
    paper = 0.0 if paper_std is None else paper_std ** 2 / paper_n
    return 2 * math.sqrt(paper + ours_std ** 2 / ours_n)


def verdict(delta: float, bound: float) -> str:
    """``within`` the combined noise, else ``below`` or ``above`` the paper."""
    if abs(delta) <= bound:
        return WITHIN
    return BELOW if delta < 0 else ABOVE
