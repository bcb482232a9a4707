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
    return [(portfolio.framework_names.get(code, code), c) for code, c in portfolio.by_framework.items()]
