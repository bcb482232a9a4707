"""Models of the inventory app (filled by its own issue)."""
