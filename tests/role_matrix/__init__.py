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
