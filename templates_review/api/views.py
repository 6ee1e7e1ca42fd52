from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from templates_review.api.serializers import LintInputSerializer, LintResultSerializer
from templates_review.linter import Severity, lint_template
from tenants.choices import ApiScope


class TemplateLintView(APIView):
    """Lint a template draft against Meta's rules and our policy heuristics; nothing is saved."""

    required_scope = ApiScope.READ  # linting changes nothing: a read-only key may use it

    parser_classes = [JSONParser]  # components are nested JSON; forms cannot carry them

    @extend_schema(
        request=LintInputSerializer,
        responses=LintResultSerializer,
        summary="Lint a template draft",
    )
    def post(self, request: Request) -> Response:
        data = LintInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        findings = lint_template(**data.validated_data)
        result = {
            "findings": findings,
            "errors": sum(f.severity == Severity.ERROR for f in findings),
            "warnings": sum(f.severity == Severity.WARNING for f in findings),
        }
        return Response(LintResultSerializer(result).data)
