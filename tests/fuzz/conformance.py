"""Check a response against the API schema drf-spectacular serves at ``/api/schema/``.

The fuzz tests use it through Schemathesis; regression tests call ``assert_documented`` on a response
from Django's test client, so a fixed schema bug stays fixed without running the fuzzer.
"""

import json
from functools import cache

import requests
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from schemathesis import Response


def api_schema() -> dict:
    """The schema ``/api/schema/`` serves, generated in-process (as JSON, so it reads like the served one)."""
    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


@cache
def _loaded_schema():
    return schemathesis.openapi.from_dict(api_schema())


def assert_documented(response, method: str, path: str) -> None:
    """Fail unless the operation at ``path`` (a template, e.g. ``/api/v1/reviews/{id}/``) documents the
    response's status code and its body validates against the documented schema."""
    operation = _loaded_schema()[path][method.upper()]
    assert str(response.status_code) in operation.responses.status_codes, (
        f"{method.upper()} {path} answered {response.status_code}, documented: {operation.responses.status_codes}")
    headers = {name.lower(): [value] for name, value in response.headers.items()}
    request = requests.Request(method.upper(), f"http://testserver{response.request['PATH_INFO']}").prepare()
    operation.validate_response(Response(status_code=response.status_code, headers=headers,
                                         content=response.content, request=request, elapsed=0.0, verify=False))
