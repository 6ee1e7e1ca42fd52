"""The API docs page (Swagger UI) is for signed-in sessions: an API key gets a 406 problem in
JSON (keys get JSON only, tenants/api/negotiation.py), so JSON is the renderer a refusal uses."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer, TemplateHTMLRenderer

from tenants.api.negotiation import is_api_key_request


class ApiDocsView(SpectacularSwaggerSplitView):
    renderer_classes = [JSONRenderer, TemplateHTMLRenderer]

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        if is_api_key_request(request):
            raise exceptions.NotAcceptable(
                "API keys get JSON only: the API docs are for signed-in sessions "
                "(the schema is at /api/schema/)."
            )
        return super().get(request, *args, **kwargs)
