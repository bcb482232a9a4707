"""The upload limits of this installation, read from the settings (``PORTAL_MAX_*`` environment variables).

``ingest`` stays free of Django: every caller that parses an upload (the upload services, the
preview, the comparison form) hands it these.
"""

from django.conf import settings

from apps.monitoring.ingest import Limits


def upload_limits() -> Limits:
    return Limits(
        max_bytes=settings.PORTAL_MAX_UPLOAD_BYTES,
        max_rows=settings.PORTAL_MAX_ROWS,
        max_cells=settings.PORTAL_MAX_CELLS,
        max_decoded_bytes=settings.PORTAL_MAX_DECODED_BYTES,
        max_line_bytes=settings.PORTAL_MAX_LINE_BYTES,
        max_groups=settings.PORTAL_MAX_GROUPS_PER_FEATURE,
    )
