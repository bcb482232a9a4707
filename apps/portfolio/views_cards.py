"""Model cards: HTML (printable), Markdown (download) or JSON."""

import re

from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views import View

from apps.core.permissions import RoleRequiredMixin
from apps.core.roles import Capability
from apps.portfolio import modelcard


def _safe_filename(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "model"


def _display_sections(card: dict) -> list[dict]:
    """The card's sections with mappings as (key, value) pairs: a template looking up ``value.items``
    would read a hyperparameter named "items" instead."""
    sections = []
    for section in card["sections"]:
        fields = [
            {**f, "pairs": list(f["value"].items())} if f["kind"] == "mapping" and not f["missing"] else f
            for f in section["fields"]
        ]
        sections.append({**section, "fields": fields})
    return sections


class ModelCardView(RoleRequiredMixin, View):
    """``?format=html`` (default, printable), ``md`` (download) or ``json``."""

    capability = Capability.VIEW_PORTFOLIO
    http_method_names = ["get", "head"]

    def get(self, request, slug: str, version: str):
        fmt = request.GET.get("format") or "html"
        if fmt not in modelcard.FORMATS:
            return HttpResponseBadRequest(
                f"Unknown format {fmt[:40]!r}; use one of: {', '.join(modelcard.FORMATS)}.",
                content_type="text/plain; charset=utf-8",
            )
        obj = get_object_or_404(modelcard.card_versions(), model__slug=slug, version=version)
        card = modelcard.build_model_card(obj)
        if fmt == "json":
            return JsonResponse(modelcard.to_json(card), json_dumps_params={"indent": 2})
        if fmt == "md":
            response = HttpResponse(modelcard.to_markdown(card), content_type="text/markdown; charset=utf-8")
            filename = _safe_filename(f"{slug}-{version}-model-card") + ".md"
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
            return response
        return render(request, "portfolio/modelcard.html", {
            "card": card, "sections": _display_sections(card), "version": obj, "model": obj.model,
            "model_url": modelcard.url_or_none("inventory:model-detail", slug=slug),
            "version_url": modelcard.url_or_none("inventory:version-detail", slug=slug, version=obj.version),
        })
