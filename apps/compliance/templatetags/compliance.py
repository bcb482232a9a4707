from django import template

from apps.compliance import evaluation as ev

register = template.Library()


@register.filter
def eu_category(value: str) -> str:
    return ev.EU_CATEGORIES.get(value, value)


@register.filter
def annex_area(value: str) -> str:
    return ev.ANNEX_III_AREAS.get(value, value)


@register.filter
def get_link(links: dict, key: str) -> str:
    return links.get(key, "")


@register.simple_tag
def framework_rows(portfolio) -> list:
    """(framework name, coverage) pairs in framework order."""
    return [(portfolio.framework_names.get(code, code), c, "") for code, c in portfolio.by_framework.items()]


@register.simple_tag
def unit_rows(portfolio) -> list:
    """(business unit name, coverage, link to the unit's models) triples, by name."""
    return [(portfolio.unit_names[slug], c, f"?business_unit={slug}") for slug, c in portfolio.by_business_unit.items()]
