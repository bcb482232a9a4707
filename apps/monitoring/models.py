"""Models of the monitoring app (filled by its own issue)."""
