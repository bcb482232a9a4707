"""Per-request context (request id) readable from services, tasks and log records."""

from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("request_id", default="")
