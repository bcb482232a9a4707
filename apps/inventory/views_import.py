"""The CSV import of an existing inventory: upload, preview every problem, then commit it all at once."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views import View

from apps.core.errors import DomainError
from apps.core.permissions import RoleRequiredMixin
from apps.core.roles import Capability
from apps.inventory import importer
from apps.inventory.forms_import import ImportCommitForm, ImportUploadForm


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
