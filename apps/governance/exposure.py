"""Expected exposure: the money a model puts at risk each year, so an executive can rank by it.

The source document's risk matrix (figure 1-4) weighs what could go wrong by how bad it would be; the portal
knows, for every production model, the yearly value of the business processes it serves
(``BusinessProcess.value_at_stake``), its risk severity (the tier its current assessment reached on the
matrix) and its governance state (whether the controls its tier demands are in place). So::

    expected exposure = value at stake of the processes it serves in production
                        x severity factor (its tier)
                        x control factor (its governance state)

- **Severity factor**: the share of the value a failure of that severity would cost. A model never assessed
  counts as critical, as its governance policy treats it.
- **Control factor**: how far the controls its tier demands are missing. A compliant model still carries
  a tenth of its risk (controls reduce, never remove, it); one whose approval is suspended after a breach
  carries all of it.

Only production models expose value: a model in development decides nothing yet. Each process's share is
rounded to whole currency units, and a model's exposure is the sum of its shares, so the totals per process,
per unit and per model always add up. Pure: no Django, so it can be worked by hand in a test.
"""

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal

SEVERITY_FACTOR = {"critical": Decimal("1"), "high": Decimal("0.5"), "medium": Decimal("0.2"),
                   "low": Decimal("0.05"), "": Decimal("1")}
CONTROL_FACTOR = {"compliant": Decimal("0.1"), "attention": Decimal("0.3"), "non_compliant": Decimal("0.6"),
                  "suspended": Decimal("1")}


def factor(*, tier: str, status: str) -> Decimal:
    """The share of the value at stake a model with this tier and governance state puts at risk."""
    return SEVERITY_FACTOR.get(tier or "", SEVERITY_FACTOR[""]) * CONTROL_FACTOR[status]


def shares(values: Mapping[int, Decimal | int | None], *, tier: str, status: str) -> dict[int, int]:
    """The expected exposure per process (id -> whole currency units) of a production model serving them; a
    process without a value at stake, or whose share rounds to nothing, is left out."""
    f = factor(tier=tier, status=status)
    found = {}
    for pk, value in sorted(values.items()):
        amount = int((Decimal(value or 0) * f).quantize(Decimal("1"), rounding=ROUND_HALF_UP))
        if amount:
            found[pk] = amount
    return found


def expected_exposure(values: Mapping[int, Decimal | int | None], *, tier: str, status: str) -> int:
    """The model's expected yearly exposure: the sum of its processes' shares."""
    return sum(shares(values, tier=tier, status=status).values())
