"""Models of the risk app (filled by its own issue)."""
