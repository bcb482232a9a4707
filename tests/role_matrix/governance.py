"""Who may use the governance pages: a risk acceptance lifts a breach's suspension, so reviewers and admins only
(the four-eyes rule on the model's owners is the service's, tested in tests/governance)."""

REVIEWERS = frozenset({"reviewer", "admin"})


def version_kwargs():
    from tests.inventory.factories import ModelVersionFactory

    return {"version_id": ModelVersionFactory().pk}


MATRIX = {"governance:accept": ("get", REVIEWERS, version_kwargs)}
WRITES = {"governance:accept": {"post": REVIEWERS}}
# Reviewers accept any team's risk (they oversee every model); the owners of the model may not (four-eyes).
ANY_TEAM: dict = {}
