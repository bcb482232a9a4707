"""Fuzz every operation of the API schema, as every role and anonymously (issue #8).

Schemathesis generates requests from the OpenAPI schema drf-spectacular serves at ``/api/schema/``:
valid ones (positive) and ones that break it (negative), ``EXAMPLES`` of each per operation, each
example sent as one of the four roles or anonymously (Hypothesis draws which). Every response must be
a non-5xx with a documented status code, content type and body. Negative data is not required to be
refused: DRF ignores unknown fields, an invalid ``ordering`` or ``page_size``, and coerces numbers to
text, on purpose. Requests go to the Django WSGI handler in-process, each in a savepoint
that is rolled back, so examples do not see each other's writes and a failure replays alone.
"""

import os

import pytest
import schemathesis
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.db import transaction
from hypothesis import HealthCheck, Phase, note
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fuzz.conformance import api_schema
from tests.fuzz.conftest import ANONYMOUS, IDENTITIES

# Per operation and generation mode. CI runs the suite twice: the full hundred on SQLite, a quarter on
# PostgreSQL (for what only it refuses, like NUL bytes in text) to keep the pass short. Raise it for a
# longer hunt: PORTAL_FUZZ_EXAMPLES=1000.
ON_POSTGRESQL = "postgresql" in settings.DATABASES["default"]["ENGINE"]
EXAMPLES = int(os.environ.get("PORTAL_FUZZ_EXAMPLES", "25" if ON_POSTGRESQL else "100"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Filled from the seeded portfolio before generation starts, so the hooks can aim at real objects.
TARGETS: dict = {}


RAW_SCHEMA = api_schema()


def fuzzer(mode: str):
    config = schemathesis.Config.from_dict({
        "generation": {"mode": mode, "max-examples": EXAMPLES, "with-security-parameters": False},
        # Only fuzzing: the schema has no examples, and the coverage phase's fixed cases add minutes.
        "phases": {"examples": {"enabled": False}, "coverage": {"enabled": False}, "stateful": {"enabled": False}},
    })
    schema = schemathesis.openapi.from_dict(RAW_SCHEMA, config=config)
    schema.app = WSGIHandler()
    schema.hook(flatmap_case)
    return schema


def flatmap_case(context, case):
    """Half the time, address a seeded object and refer to seeded objects in the body, so requests get
    past the 404s and 400s of unknown ids to the services; only components generated valid are changed."""
    collection = case.operation.path.split("/")[3]
    meta = case.meta
    replace_path = case.path_parameters and not meta.is_negative_at(ParameterLocation.PATH)
    replace_body = isinstance(case.body, dict) and not meta.is_negative_at(ParameterLocation.BODY)
    if not (replace_path or replace_body):
        return st.just(case)

    def aimed(choices):
        if replace_path:
            # The collection's own id comes first (a part's number after an upload's id stays generated).
            name = next(iter(case.path_parameters))
            case.path_parameters = {**case.path_parameters, name: choices["path"]}
        if replace_body:
            case.body = {**case.body, **{field: choices[field] for field in case.body if field in choices}}
        return case

    references = TARGETS["references"]
    choices = st.fixed_dictionaries({
        "path": st.sampled_from(TARGETS["paths"][collection]) if replace_path else st.none(),
        **{field: st.sampled_from(values) for field, values in references.items()},
    })
    return st.one_of(st.just(case), choices.map(aimed))


def nothing_to_negate(ctx) -> bool:
    """No body and no parameter but free-text path segments: every request is valid, so negative mode has
    nothing to generate (the positive test covers these)."""
    operation = RAW_SCHEMA["paths"][ctx.operation.path][ctx.operation.method.lower()]
    parameters = operation.get("parameters", [])
    return "requestBody" not in operation and all(
        p["in"] == "path" and p["schema"].get("type") == "string" and set(p["schema"]) <= {"type"}
        for p in parameters)


positive = fuzzer("positive")
negative = fuzzer("negative").exclude(func=nothing_to_negate)
FUZZ_SETTINGS = hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    # Examples share the test's database transaction on purpose (each rolls back its own savepoint).
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(autouse=True)
def _targets(portfolio):
    TARGETS.update(portfolio)


def exercise(case, identity: str, portfolio: dict, checks: list) -> None:
    note(f"as {identity}")
    headers = {} if identity == ANONYMOUS else {"Authorization": f"Token {portfolio['tokens'][identity]}"}
    with transaction.atomic():
        try:
            case.call_and_validate(headers=headers, checks=checks)
        finally:
            transaction.set_rollback(True)


IDENTITY = st.sampled_from(IDENTITIES)


@positive.parametrize()
@positive.given(identity=IDENTITY)
@FUZZ_SETTINGS
def test_valid_requests(case, identity, portfolio, in_process_requests, db):
    exercise(case, identity, portfolio, CHECKS)


@negative.parametrize()
@negative.given(identity=IDENTITY)
@FUZZ_SETTINGS
def test_invalid_requests(case, identity, portfolio, in_process_requests, db):
    exercise(case, identity, portfolio, CHECKS)
