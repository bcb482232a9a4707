"""Panels other apps add to the model page: ``panel(model, versions) -> dict`` of template context.

The model page shows risk, review and monitoring facts without the inventory importing those apps:
the portfolio registers the function that composes them (in its ``AppConfig.ready``), as the risk and
reviews apps register their production checks in ``gates``. A panel costs a constant number of queries.
"""

from collections.abc import Callable

MODEL_PANELS: list[Callable] = []


def register(panel: Callable) -> Callable:
    if panel not in MODEL_PANELS:
        MODEL_PANELS.append(panel)
    return panel


def model_panels(model, versions: list) -> dict:
    context: dict = {}
    for panel in MODEL_PANELS:
        context.update(panel(model, versions))
    return context
