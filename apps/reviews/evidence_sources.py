"""The shapes of a review's evidence and the registry of sources from the apps above the reviews.

No model imports, so an app registers its source in ``AppConfig.ready`` with a top-level import of this module
(``apps.reviews.evidence`` reads the sources; ``apps.monitoring`` registers one).
"""

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Link:
    label: str
    url: str
    note: str = ""


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    template: str
    context: dict


@dataclass
class Evidence:
    sections: list[Section] = field(default_factory=list)
    links: dict[str, list[Link]] = field(default_factory=dict)

    def add(self, key: str, *links: Link) -> None:
        self.links.setdefault(key, []).extend(links)

    def merge(self, other: "Evidence") -> None:
        self.sections += other.sections
        for key, links in other.links.items():
            self.add(key, *links)


SOURCES: list[Callable[..., Evidence]] = []


def register(source: Callable[..., Evidence]) -> Callable[..., Evidence]:
    """``source(review, *, obligations) -> Evidence``; registered once, called for every review page."""
    if source not in SOURCES:
        SOURCES.append(source)
    return source
