"""Model cards and inventory import (included by apps/inventory/urls.py)."""

urlpatterns: list = []
