"""Red flags: what an executive should look at first, one row per model, read from the stored governance state.

Each model's flags are stored with its governance state (``apps.governance.figures`` words them: the reasons
an executive must see and the inventory's own gaps, one per kind), with the most severe one's rank, and each
flag adds to its business unit's tallies. So the dashboard's two questions cost the same at any portfolio size:

- ``top``: the models with the most severe flags, most severe first, then by name (lower case, compared code
  point by code point on every database): one query, read in index order;
- ``summary``: how many models carry each kind of flag, per severity: the tallies, one query.

``collect`` returns every flagged model (tests, exports); its cost grows with them.
"""

from dataclasses import dataclass, field

from django.db.models import QuerySet

from apps.governance import figures
from apps.governance.figures import HIGH, KIND_BY_CODE, KINDS, LOW, MEDIUM, SEVERITIES, SEVERITY_RANK  # noqa: F401
from apps.inventory.models import BusinessUnit, ModelGovernance
from apps.portfolio import wording


@dataclass(frozen=True)
class Flag:
    """One kind of trouble of a model."""

    kind: str  # its label, e.g. "Owner has left"
    code: str  # its stable code, e.g. "owner_left"
    severity: str
    detail: str  # what exactly is wrong, in the words of the reasons
    url: str  # where to act on it
    phrase: str = ""  # the same in a business reader's words (``wording.phrase``)


@dataclass(frozen=True)
class RedFlag:
    """A model that carries at least one flag: the dashboard's row."""

    severity: str  # its most severe flag's
    model: str  # the model's name
    model_url: str
    flags: tuple[Flag, ...]
    sentence: str = ""  # every flag in one business sentence, worst first (``wording.sentence``)
    exposure: int = 0  # expected yearly exposure, whole currency units (``apps.governance.exposure``)

    @property
    def severity_rank(self) -> int:
        return SEVERITY_RANK[self.severity]

    @property
    def kind(self) -> str:
        return "; ".join(flag.kind for flag in self.flags)

    @property
    def detail(self) -> str:
        return " ".join(flag.detail for flag in self.flags)

    @property
    def url(self) -> str:
        """Where to act first: the most severe flag's page."""
        return self.flags[0].url or self.model_url

    def has(self, code: str) -> bool:
        return any(flag.code == code for flag in self.flags)


def _red_flag(row: ModelGovernance) -> RedFlag:
    model = row.model
    return RedFlag(
        severity=SEVERITIES[row.flag_rank], model=model.name, model_url=model.get_absolute_url(),
        flags=tuple(Flag(f["label"], f["kind"], f["severity"], f["detail"], f["url"] or model.get_absolute_url(),
                         wording.phrase(f)) for f in row.flags),
        sentence=wording.sentence(row.flags), exposure=row.expected_exposure)


SEVERITY_FIRST, MONEY_FIRST = "severity", "money"
ORDERS = {SEVERITY_FIRST: ("flag_rank", "name_key", "model_id"),
          # Most money at risk first; equal amounts (none, often) most severe first.
          MONEY_FIRST: ("-expected_exposure", "flag_rank", "name_key", "model_id")}


def flagged(business_unit: BusinessUnit | None = None, order: str = SEVERITY_FIRST) -> QuerySet:
    """The stored states of the live models that carry a flag (retired ones never do), in dashboard order:
    most severe first, or most money at risk first (``MONEY_FIRST``); each order has its index."""
    rows = ModelGovernance.objects.filter(flag_rank__isnull=False)
    if business_unit is not None:
        rows = rows.filter(business_unit_id=business_unit.pk)
    return rows.order_by(*ORDERS[order]).select_related("model")


def top(business_unit: BusinessUnit | None = None, limit: int | None = 25,
        order: str = SEVERITY_FIRST) -> list[RedFlag]:
    """The ``limit`` flagged models in dashboard order (all of them with ``None``): one query."""
    rows = flagged(business_unit, order)
    return [_red_flag(row) for row in (rows[:limit] if limit is not None else rows)]


def collect(business_unit: BusinessUnit | None = None) -> list[RedFlag]:
    """Every flagged model, in dashboard order. Its cost grows with them: not for the dashboard."""
    return top(business_unit, limit=None)


@dataclass(frozen=True)
class KindCount:
    kind: str  # label
    code: str
    by_severity: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_severity.values())

    @property
    def models(self) -> int:
        """Models with a flag of this kind (a model carries each kind once)."""
        return self.total


@dataclass(frozen=True)
class Summary:
    """Flagged models per kind and severity, kinds with the most severe flags first; kinds with none left out."""

    kinds: list[KindCount]
    models: int  # flagged models

    @property
    def total(self) -> int:
        return self.models

    def count(self, code: str) -> KindCount:
        return next((k for k in self.kinds if k.code == code), KindCount(KIND_BY_CODE[code].label, code))


def summary(tallies) -> Summary:
    """The counts of flags in ``tallies`` (``figures.tallies(...)``): no query."""
    kinds = []
    for kind in KINDS:
        by_severity = {s: tallies.get(f"flag:{kind.code}:{s}", 0) for s in SEVERITIES}
        if any(by_severity.values()):
            kinds.append(KindCount(kind.label, kind.code, by_severity))
    kinds.sort(key=lambda k: ([-k.by_severity[s] for s in SEVERITIES], k.kind))
    return Summary(kinds, tallies.get("flagged", 0))


def counts(business_unit: BusinessUnit | None = None) -> Summary:
    return summary(figures.tallies(business_unit.pk if business_unit else None))
