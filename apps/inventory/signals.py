"""Signals other apps listen to (the inventory does not import them)."""

from django.dispatch import Signal

# Sent inside the transaction when what a review approved changes (``ModelVersion.REVIEWED_FIELDS``,
# or the content of a training data set).
# kwargs: version, actor, changed (list of field names)
version_content_changed = Signal()

# Sent inside the transaction when a model's exposure or purpose changes (demands a re-assessment).
# kwargs: model, actor, changed (list of field names)
model_risk_context_changed = Signal()
