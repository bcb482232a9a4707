"""The schema of a governance policy document: what each field may hold, and why a value is refused.

Pure (no Django imports): the publishing service, the model's ``clean()`` and the portal form all call
``policy_problems``; monitoring reads stored thresholds through ``usable_thresholds``, which skips a bad
key instead of failing, because a policy written before this schema existed (or around the services, by
SQL) must not take every monitoring page of its tier down.

Threshold keys are the ones ``apps.monitoring.thresholds.findings`` reads:

- ``<metric>_min`` for a metric that is better when higher (accuracy, roc_auc, fairness ratios, ...);
- ``<metric>_max`` for one that is better when lower (psi, mae, fairness differences, ...);
- ``<metric>_drop_max`` for an overall metric that is better when higher: how far it may fall below the
  version's validation baseline.

Any other combination would be read as a rule that never fires (``psi_min``) or that alerts on good news
(``accuracy_max``), so it is refused rather than stored.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass

CHECKLISTS = {"intentionality": "Intentionality", "accountability": "Accountability"}
CADENCES = ("daily", "weekly", "monthly")
APPROVALS_RANGE = (1, 10)
REASSESSMENT_DAYS_RANGE = (1, 3650)
FIELDS = ("required_approvals", "checklists", "monitoring_cadence", "metric_thresholds", "reassessment_days",
          "suspend_on_breach", "finding_blocks_from")
# Severities of a validation finding, least severe first; an open finding at or above the policy's
# ``finding_blocks_from`` holds the production gate.
FINDING_SEVERITIES = ("low", "medium", "high", "critical")
EXAMPLE = '{"accuracy_min": 0.8, "psi_max": 0.2}'


@dataclass(frozen=True)
class Metric:
    """A metric a threshold may bound: which way is better, its possible values, and whether it is an
    overall metric (one with a validation baseline, so a drop from it can be bounded)."""

    better: str  # "higher" | "lower"
    low: float | None
    high: float | None
    overall: bool = True

    def directions(self) -> tuple[str, ...]:
        if self.better == "lower":
            return ("max",)
        return ("min", "drop_max") if self.overall else ("min",)

    def bounds(self, direction: str) -> tuple[float | None, float | None]:
        if direction != "drop_max":
            return self.low, self.high
        span = None if self.low is None or self.high is None else self.high - self.low
        return 0, span


_SHARE = (0, 1)
METRICS: dict[str, Metric] = {
    **{name: Metric("higher", *_SHARE) for name in ("accuracy", "precision", "recall", "f1", "roc_auc", "f1_macro",
                                                    "f1_weighted")},
    "r2": Metric("higher", None, 1),
    "brier": Metric("lower", *_SHARE),
    **{name: Metric("lower", 0, None) for name in ("log_loss", "mae", "rmse")},
    **{name: Metric("higher", *_SHARE, overall=False) for name in ("demographic_parity_ratio",
                                                                   "equalized_odds_ratio")},
    **{name: Metric("lower", *_SHARE, overall=False) for name in ("demographic_parity_difference",
                                                                  "equalized_odds_difference")},
    "psi": Metric("lower", 0, None, overall=False),
}


@dataclass(frozen=True)
class Problem:
    field: str
    message: str


def _cut(text: str, limit: int = 60) -> str:
    """Text for a message, cut short: it may be anything a client sent."""
    return text if len(text) <= limit else f"{text[:limit]}…"


def _shown(value) -> str:
    return _cut(repr(value))


def _expected(low: float | None, high: float | None, noun: str = "a number") -> str:
    if low is not None and high is not None:
        return f"{noun} between {low} and {high}"
    if low is not None:
        return f"{noun} of at least {low}"
    return f"{noun} of at most {high}"


def _is_number(value) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float (JSON allows any number of digits)
        return False


def _split_key(key: str) -> tuple[str, str] | None:
    for direction in ("drop_max", "min", "max"):
        if key.endswith(f"_{direction}"):
            return key[: -len(direction) - 1], direction
    return None


def threshold_problem(key, value) -> str | None:
    """Why ``key: value`` is not a usable threshold (the message names the key), or None when it is."""
    where = f"metric_thresholds.{_cut(key) if isinstance(key, str) else _shown(key)}"
    parts = _split_key(key) if isinstance(key, str) else None
    if parts is None:
        return f"{where}: a threshold is named <metric>_min, <metric>_max or <metric>_drop_max."
    name, direction = parts
    metric = METRICS.get(name)
    if metric is None:
        return f"{where}: unknown metric {_shown(name)}; known metrics: {', '.join(sorted(METRICS))}."
    if direction not in metric.directions():
        allowed = " or ".join(f"{name}_{d}" for d in metric.directions())
        return f"{where}: {name} is better when {metric.better}, so bound it with {allowed}."
    low, high = metric.bounds(direction)
    if not _is_number(value):
        return f"{where}: {_shown(value)} is not a number; expected {_expected(low, high)}."
    if (low is not None and value < low) or (high is not None and value > high):
        return f"{where}: {_shown(value)} is out of range; expected {_expected(low, high)}."
    return None


def _thresholds_problems(thresholds) -> list[Problem]:
    if not isinstance(thresholds, Mapping):
        message = (f"metric_thresholds: got {type(thresholds).__name__} {_shown(thresholds)}. "
                   f"Give a JSON object of metric names to numbers, e.g. {EXAMPLE}.")
        return [Problem("metric_thresholds", message)]
    found = (threshold_problem(key, value) for key, value in thresholds.items())
    return [Problem("metric_thresholds", message) for message in found if message]


def _whole_number_problems(field: str, value, bounds: tuple[int, int], unit: str) -> list[Problem]:
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        expected = _expected(low, high, "a whole number")
        return [Problem(field, f"{field}: {_shown(value)} is not allowed; expected {expected} {unit}.")]
    return []


def _approvals_problems(value) -> list[Problem]:
    return _whole_number_problems("required_approvals", value, APPROVALS_RANGE, "distinct reviewer approvals")


def _reassessment_problems(value) -> list[Problem]:
    return _whole_number_problems("reassessment_days", value, REASSESSMENT_DAYS_RANGE, "days")


def _cadence_problems(value) -> list[Problem]:
    if value in CADENCES:
        return []
    return [Problem("monitoring_cadence", f"monitoring_cadence: {_shown(value)} is not one of {', '.join(CADENCES)}.")]


def _checklists_problems(checklists) -> list[Problem]:
    known = ", ".join(CHECKLISTS)
    if not isinstance(checklists, list) or not all(isinstance(c, str) for c in checklists):
        message = f"checklists: {_shown(checklists)} is not a list of checklist names; choose from {known}."
    elif not checklists:
        message = f"checklists: at least one checklist is required; choose from {known}."
    elif unknown := sorted(set(checklists) - set(CHECKLISTS)):
        message = f"checklists: unknown {', '.join(map(_shown, unknown[:5]))}; choose from {known}."
    elif len(set(checklists)) != len(checklists):
        message = "checklists: each checklist may be named once."
    else:
        return []
    return [Problem("checklists", message)]


def _suspend_problems(value) -> list[Problem]:
    if isinstance(value, bool):
        return []
    return [Problem("suspend_on_breach", f"suspend_on_breach: {_shown(value)} is not true or false.")]


def _finding_blocks_problems(value) -> list[Problem]:
    if value in FINDING_SEVERITIES:
        return []
    return [Problem("finding_blocks_from", f"finding_blocks_from: {_shown(value)} is not one of "
                    f"{', '.join(FINDING_SEVERITIES)}.")]


CHECKS = {"required_approvals": _approvals_problems, "checklists": _checklists_problems,
          "monitoring_cadence": _cadence_problems, "metric_thresholds": _thresholds_problems,
          "reassessment_days": _reassessment_problems, "suspend_on_breach": _suspend_problems,
          "finding_blocks_from": _finding_blocks_problems}
assert tuple(CHECKS) == FIELDS


def policy_problems(document: Mapping) -> list[Problem]:
    """Every reason the policy fields in ``document`` cannot be published; empty when they can.

    A field left out is not checked here: the caller knows whether it may be missing (the service demands
    all of ``FIELDS``; the model's own field validation reports an empty one).
    """
    return [problem for name, check in CHECKS.items() if name in document for problem in check(document[name])]


def usable_thresholds(thresholds) -> tuple[dict[str, float], list[str]]:
    """(the thresholds monitoring can apply, why each other stored key is skipped)."""
    if not isinstance(thresholds, Mapping):
        return {}, [problem.message for problem in _thresholds_problems(thresholds)]
    usable, skipped = {}, []
    for key, value in thresholds.items():
        problem = threshold_problem(key, value)
        if problem:
            skipped.append(problem)
        else:
            usable[key] = value
    return usable, skipped
