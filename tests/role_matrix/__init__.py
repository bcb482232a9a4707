"""Who may use which URL. Each module here holds ``MATRIX = {url_name: (method, roles, kwargs_factory)}``.

``roles`` is ``PUBLIC`` or a set of role names; ``kwargs_factory`` is None or a
function (run inside the test's database) returning the URL's kwargs.
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
