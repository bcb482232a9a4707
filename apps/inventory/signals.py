"""Signals other apps listen to (the inventory does not import them)."""

import threading
from contextlib import contextmanager

from django.dispatch import Signal

# Sent inside the transaction when what a review approved changes (``ModelVersion.REVIEWED_FIELDS``,
# or the content of a training data set).
# kwargs: version, actor, changed (list of field names)
version_content_changed = Signal()

# Sent inside the transaction when a model's exposure or purpose changes (demands a re-assessment).
# kwargs: model, actor, changed (list of field names)
model_risk_context_changed = Signal()

# Sent inside the transaction by every service that changes a fact of a model's governance state (approval,
# assessment, monitoring, alerts, deployments, owner, stage). ``apps.governance`` recomputes and stores the state.
# kwargs: model_ids (iterable of MLModel pks), actor (or None), cause (a short phrase for the audit trail)
governance_inputs_changed = Signal()


_deferred = threading.local()


def governance_changed(*, model_ids, actor=None, cause: str = "") -> None:
    pending = getattr(_deferred, "model_ids", None)
    if pending is not None:
        pending.update(model_ids)
        return
    governance_inputs_changed.send(sender=None, model_ids=list(model_ids), actor=actor, cause=cause)


@contextmanager
def governance_deferred(*, cause: str):
    """Within the block, changed models are collected and recomputed once when it ends without an error
    (seeding, bulk imports): a model touched by a hundred writes is computed once, not a hundred times.
    Nested blocks join the outermost one."""
    if getattr(_deferred, "model_ids", None) is not None:
        yield
        return
    _deferred.model_ids = set()
    try:
        yield
        model_ids = _deferred.model_ids
    finally:
        _deferred.model_ids = None
    if model_ids:
        governance_inputs_changed.send(sender=None, model_ids=sorted(model_ids), actor=None, cause=cause)

