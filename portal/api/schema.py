"""The OpenAPI schema says what the API answers: every operation documents its problem-details
(RFC 9457, `application/problem+json`) error responses, not only its success, and the web
server's own refusals of requests too large to read (414, 431)."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers


class ProblemSerializer(serializers.Serializer):
    """An error, as RFC 9457 problem details (portal.api.errors)."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.JSONField(help_text="What went wrong, for people.")
    code = serializers.CharField(required=False)
    errors = serializers.DictField(
        required=False,
        child=serializers.JSONField(),
        help_text="Invalid input (400): the field name → what is wrong with it.",
    )


PROBLEMS = {
    "400": "Invalid input (see `errors`).",
    "401": "No credentials, or an invalid or revoked API key.",
    "403": "This role or API-key scope may not do this.",
    "404": "Not found in this client (or a list cursor the API did not give).",
    "409": "The object is not in a state for this step.",
    "415": "Send the body in a documented content type.",
}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Refused by the web server (gunicorn, deploy/gunicorn.conf.py) before the API reads the request,
# for every operation: a real server bounds what it buffers. Its own short HTML page, not problem
# details.
SERVER_LIMITS = {
    "414": "The request line (path and query string) is longer than the server accepts "
    "(GUNICORN_LIMIT_REQUEST_LINE, 8,190 bytes by default).",
    "431": "A request header larger than the server accepts "
    "(GUNICORN_LIMIT_REQUEST_FIELD_SIZE, 8,190 bytes by default).",
}


class ProblemAutoSchema(AutoSchema):
    def _problem_codes(self) -> list[str]:
        codes = ["400", "401", "403", "404"]  # 404 also for a cursor the API did not give
        if self.method in WRITE_METHODS:
            codes += ["409", "415"] if self.method != "DELETE" else ["409"]
        return codes

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        component = self.resolve_serializer(ProblemSerializer, "response")
        for code in self._problem_codes():
            responses.setdefault(
                code,
                {
                    "description": PROBLEMS[code],
                    "content": {"application/problem+json": {"schema": component.ref}},
                },
            )
        page = {"text/html": {"schema": {"type": "string"}}}
        for code, description in SERVER_LIMITS.items():
            responses.setdefault(code, {"description": description, "content": page})
        return responses
