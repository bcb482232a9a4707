"""Model cards (HTML, Markdown, JSON) and the CSV import of an existing inventory."""

import re

from django.contrib import messages
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View

from apps.core.errors import DomainError
from apps.core.permissions import RoleRequiredMixin
from apps.core.roles import Capability
from apps.inventory import importer, modelcard
from apps.inventory.forms_import import ImportCommitForm, ImportUploadForm


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
        return render(request, "inventory/modelcard.html", {
            "card": card, "sections": _display_sections(card), "version": obj, "model": obj.model,
            "model_url": modelcard.url_or_none("inventory:model-detail", slug=slug),
            "version_url": modelcard.url_or_none("inventory:version-detail", slug=slug, version=obj.version),
        })


class ImportView(RoleRequiredMixin, View):
    """Upload a CSV, see a preview with every problem, then commit it all at once (or fix and upload again)."""

    capability = Capability.EDIT_INVENTORY
    http_method_names = ["get", "post", "head"]

    def get(self, request):
        if request.GET.get("template"):
            response = HttpResponse(importer.template_csv().encode("utf-8-sig"), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = 'attachment; filename="inventory-import-template.csv"'
            return response
        return self._upload_page(request, ImportUploadForm())

    def post(self, request):
        if request.POST.get("action") == "commit":
            return self._commit(request)
        form = ImportUploadForm(request.POST, request.FILES)
        if not form.is_valid():
            return self._upload_page(request, form)
        content = form.cleaned_data["file"]
        return self._preview_page(request, importer.parse(content), content=content, filename=form.filename)

    def _commit(self, request):
        form = ImportCommitForm(request.POST)
        content = importer.load_upload(form.cleaned_data["sha256"]) if form.is_valid() else None
        if content is None:
            messages.error(request, "The previewed file is no longer available or the reference is not valid; "
                                    "upload the file again.")
            return redirect("inventory:import")
        filename = form.cleaned_data["filename"]
        try:
            created = importer.commit(content, actor=request.user, filename=filename)
        except importer.ImportRejected as exc:
            messages.error(request, exc.message)
            return self._preview_page(request, exc.preview, content=content, filename=filename, status=409)
        except DomainError as exc:
            messages.error(request, exc.message)
            return self._upload_page(request, ImportUploadForm(), status=409)
        importer.discard_upload(form.cleaned_data["sha256"])
        messages.success(request, f"Imported {len(created)} model{'s' if len(created) != 1 else ''} "
                                  f"from {filename or 'the file'}.")
        return redirect("inventory:index")

    def _upload_page(self, request, form, status: int = 200):
        return render(request, "inventory/import.html", {
            "form": form,
            "columns": [(c, c in importer.REQUIRED, importer.COLUMN_HELP[c]) for c in importer.COLUMNS],
        }, status=status)

    def _preview_page(self, request, preview, *, content: bytes, filename: str, status: int = 200):
        commit_form = None
        if preview.ok:
            commit_form = ImportCommitForm(initial={"sha256": importer.store_upload(content), "filename": filename})
        return render(request, "inventory/import_preview.html", {
            "preview": preview,
            "filename": filename,
            "commit_form": commit_form,
            "form": ImportUploadForm(),
        }, status=status)
