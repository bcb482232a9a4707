"""Executive dashboard and lineage pages (included by apps/inventory/urls.py)."""

urlpatterns: list = []
