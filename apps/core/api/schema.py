"""The API's schema class: drf-spectacular's, plus the refusals every operation can answer with.

Views document their own outcomes (``extend_schema(responses=...)``); the answers that come from the
shared machinery rather than from the view (authentication, the role check, throttling, an unknown
object or page, an invalid filter, a body in a content type no parser reads) are added here, so a
client sees every status code it can get.
"""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class DetailSerializer(serializers.Serializer):
    """The body of a refusal that is not about one field."""

    detail = serializers.CharField()


UNAUTHENTICATED = OpenApiResponse(DetailSerializer, description="No credentials, or a wrong or expired token.")
FORBIDDEN = OpenApiResponse(DetailSerializer, description="Your role does not allow this.")
NOT_FOUND = OpenApiResponse(DetailSerializer, description="No such object, or no such page of results.")
THROTTLED = OpenApiResponse(DetailSerializer, description="Too many requests; retry after the `Retry-After` seconds.")
UNSUPPORTED = OpenApiResponse(DetailSerializer, description="The body's content type is not one the operation reads.")
BAD_FILTER = OpenApiResponse(description='A filter value is invalid: `{"<filter>": ["message"]}`.')


class PortalAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, response in self._shared_refusals().items():
            if code not in responses:
                responses[code] = self._get_response_for_code(response, code, direction=direction)
        return responses

    def _shared_refusals(self) -> dict[str, OpenApiResponse]:
        refusals = {"401": UNAUTHENTICATED, "403": FORBIDDEN, "429": THROTTLED}
        if self.method in ("POST", "PUT", "PATCH"):
            refusals["415"] = UNSUPPORTED
        is_list = self.method == "GET" and self._is_list_view()
        if "{" in self.path or (is_list and self._get_paginator()):
            refusals["404"] = NOT_FOUND
        if is_list and self.get_filter_backends():
            refusals["400"] = BAD_FILTER
        return refusals
