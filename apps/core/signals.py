"""Signals of the core app, for the apps above it (core imports none of them)."""

from django.dispatch import Signal

# Sent by ``audit_record`` inside the transaction that appends the event.
# kwargs: event (AuditEvent), obj (the model instance the event is about, or None)
audit_recorded = Signal()
