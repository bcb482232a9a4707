"""Where a new model comes from: the intake another app registers, through which registration requires it.

The inventory sits below compliance, so it names no use case itself. The compliance app registers one
provider (in its ``AppConfig.ready``) with three functions:

* ``resolve(*, actor, reference)``: the approved, not yet used proposal ``reference`` names, locked for the
  transaction; raises ``DomainError(field="use_case")`` saying what to do otherwise;
* ``prefill(source) -> dict``: the model fields it supplies (purpose, owner, processes, ...);
* ``link(*, actor, source, model)``: after the model is saved, in the same transaction: records that the
  proposal became this model's record (and what follows from it, such as the classification).

``services.model_register`` calls these. With ``PORTAL_REQUIRE_INTAKE`` on (the default) and a provider
installed, a person registers a model only from a proposal; the system itself (``actor=None``: fixtures run
from the shell) is not asked for one.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class Provider:
    resolve: Callable
    prefill: Callable
    link: Callable
    # For the registration form: ``choices(user) -> [(reference, label)]`` of what may be registered, and
    # ``initial(reference) -> dict`` of the form's initial values from one of them ({} when it cannot be).
    choices: Callable
    initial: Callable
    help_text: str = ""


_PROVIDERS: list[Provider] = []


def register(provider: Provider) -> Provider:
    _PROVIDERS[:] = [provider]
    return provider


def provider() -> Provider | None:
    return _PROVIDERS[0] if _PROVIDERS else None


def required() -> bool:
    """Must a person name a proposal to register a model?"""
    return bool(getattr(settings, "PORTAL_REQUIRE_INTAKE", True)) and provider() is not None
