"""Who may use which URL. Each module here holds ``MATRIX = {url_name: (method, roles, kwargs_factory)}``.

``roles`` is ``PUBLIC`` or a set of role names; ``kwargs_factory`` is None or a
function (run inside the test's database) returning the URL's kwargs.

A module may also hold ``WRITES = {url_name: {method: roles}}`` for the unsafe methods (post, put, patch,
delete) a URL accepts besides the one ``MATRIX`` probes, e.g. the POST of a form page or the PATCH of an API
detail. ``collect_writes`` merges them with the unsafe probes of ``MATRIX``; every other unsafe method of a
URL is refused to everyone (``tests/security/test_authz_methods.py``).
"""

import importlib
import pkgutil

from apps.core.roles import Role

EVERYONE = frozenset(r.value for r in Role)
WRITERS = frozenset({"data_scientist", "admin"})
NOBODY: frozenset = frozenset()
PUBLIC = "public"


# The object dimension. A module's ``OWN_TEAM = {url_name: {method: status}}`` lists the writes a data scientist
# makes only to their own team's models (members and the model's owners; admins to any) or to data sets they own:
# a data scientist of another team gets ``status`` (403, or 200 where a form offers only the user's own teams and
# shows the refusal on its field) and nothing changes. ``ANY_TEAM = {url_name: why}`` lists the writes a data
# scientist makes whoever owns what, and why. Every URL a data scientist may write to is in exactly one of them
# (tests/security/test_object_matrix.py).
REFUSED = 403


def collect_matrix() -> dict:
    merged: dict = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        overlap = set(merged) & set(module.MATRIX)
        assert not overlap, f"{info.name} repeats matrix entries: {overlap}"
        merged.update(module.MATRIX)
    return merged


UNSAFE_METHODS = ("post", "put", "patch", "delete")


def _modules():
    for info in pkgutil.iter_modules(__path__):
        yield info.name, importlib.import_module(f"{__name__}.{info.name}")


def collect_writes() -> dict[str, dict[str, object]]:
    """``{url_name: {method: roles}}`` for every unsafe method some role (or ``PUBLIC``) may use."""
    matrix = collect_matrix()
    writes: dict = {name: {method: roles} for name, (method, roles, _) in matrix.items() if method in UNSAFE_METHODS}
    for name, module in _modules():
        for url_name, methods in getattr(module, "WRITES", {}).items():
            assert url_name in matrix, f"{name}.WRITES names {url_name}, which is not in MATRIX"
            assert set(methods) <= set(UNSAFE_METHODS), f"{name}.WRITES[{url_name!r}] lists a safe method"
            writes.setdefault(url_name, {}).update(methods)
    return writes


def collect_object_dimension() -> tuple[dict, dict]:
    """``(own_team, any_team)`` merged over every module: ``{(url_name, method): status}`` and
    ``{url_name: why}``."""
    own_team: dict = {}
    any_team: dict = {}
    for _, module in _modules():
        for url_name, methods in getattr(module, "OWN_TEAM", {}).items():
            own_team.update({(url_name, method): status for method, status in methods.items()})
        any_team.update(getattr(module, "ANY_TEAM", {}))
    return own_team, any_team
