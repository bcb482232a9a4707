"""Domain errors raised by services; views turn them into form errors or 4xx bodies."""


class DomainError(Exception):
    """A rule of the portal refused the action. ``message`` says what to do instead."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class PermissionDeniedError(DomainError):
    status_code = 403


class ConflictError(DomainError):
    """The object is not in a state that allows this action (HTTP 409)."""

    status_code = 409
