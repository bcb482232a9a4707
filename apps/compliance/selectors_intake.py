"""Reads of use-case intake."""

from apps.compliance.filters_intake import UseCaseFilter
from apps.compliance.models import UseCase

RELATED = ("business_owner", "business_process__business_unit", "proposed_by", "decided_by", "model")


def use_cases():
    return UseCase.objects.select_related(*RELATED)


def filtered_use_cases(params) -> UseCaseFilter:
    return UseCaseFilter(params or None, queryset=use_cases())


def use_case_of(model) -> UseCase | None:
    """The use case ``model`` was registered from (None for one registered before intake, or by the system)."""
    return UseCase.objects.filter(model=model).first()
