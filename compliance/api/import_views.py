"""Consent import and export API: upload a CSV, follow its job, fetch its error report; export
consent state or history as CSV.

Who may: uploading, operators (owner, admin, agent; staff entering the client) and API keys with
the write scope; following imports and exporting, every member and API key of the client.
"""

from __future__ import annotations

from django.http import FileResponse, Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.api.consent_views import OperatorsMayWrite
from compliance.exports import KINDS, consent_csv_lines
from compliance.filtersets import ConsentImportFilterSet
from compliance.imports import COLUMNS_HELP, ImportRejected, consent_import_create
from compliance.models import ConsentImport
from portal.api.pagination import CursorPagination
from tenants.api.permissions import IsTenantMember
from tenants.permissions import Area


class ConsentImportSerializer(serializers.ModelSerializer):
    state = serializers.CharField()
    percent = serializers.IntegerField()
    url = serializers.SerializerMethodField()
    errors_url = serializers.SerializerMethodField()

    class Meta:
        model = ConsentImport
        fields = [
            "id",
            "url",
            "state",
            "percent",
            "original_name",
            "size_bytes",
            "sha256",
            "rows_done",
            "rows_valid",
            "rows_invalid",
            "events_created",
            "events_unchanged",
            "contacts_created",
            "failure",
            "errors_url",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_url(self, job) -> str:
        return reverse("api-import", args=[job.pk])

    def get_errors_url(self, job) -> str | None:
        return reverse("api-import-errors", args=[job.pk]) if job.errors_file else None


class ImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text=COLUMNS_HELP)


class ImportPagination(CursorPagination):
    ordering = ("-created_at", "-id")


class ConsentImportListView(generics.ListAPIView):
    """Consent imports, newest first; POST a CSV (multipart, field `file`) to start one."""

    area = Area.CONSENT

    permission_classes = [IsTenantMember, OperatorsMayWrite]
    serializer_class = ConsentImportSerializer
    filterset_class = ConsentImportFilterSet
    pagination_class = ImportPagination
    parser_classes = [MultiPartParser, FormParser]
    queryset = ConsentImport.objects.all()

    @extend_schema(request=ImportUploadSerializer, responses={202: ConsentImportSerializer})
    def post(self, request: Request) -> Response:
        data = ImportUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            job = consent_import_create(upload=data.validated_data["file"], actor=request.user)
        except ImportRejected as exc:
            raise ValidationError({"file": [str(exc)]}) from None
        return Response(ConsentImportSerializer(job).data, status=202)


class ConsentImportDetailView(generics.RetrieveAPIView):
    """One import: its state, progress and counts."""

    area = Area.CONSENT

    serializer_class = ConsentImportSerializer
    queryset = ConsentImport.objects.all()


class ConsentImportErrorsView(APIView):
    """The import's error report as CSV: row, column, reason (the header is row 1)."""

    area = Area.CONSENT

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request: Request, pk: int):
        return errors_response(import_id=pk)


def errors_response(*, import_id: int) -> FileResponse:
    """The error report download (shared by the API and the import page); 404 until it exists."""
    job = get_object_or_404(ConsentImport, pk=import_id)
    if not job.errors_file:
        raise Http404("The error report is ready when the import has finished.")
    return FileResponse(
        job.errors_file.open("rb"),
        as_attachment=True,
        filename=f"import-{job.pk}-errors.csv",
        content_type="text/csv; charset=utf-8",
    )


def export_response(*, kind: str, tenant) -> StreamingHttpResponse:
    """The streamed CSV download (shared by the API and the page's button)."""
    lines = consent_csv_lines(kind=kind)
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{tenant.slug}-consent-{kind}.csv"'
    return response


class ConsentExportView(APIView):
    """Consent as CSV: `state` (each contact and category with the evidence that decided it) or
    `history` (every opt-in and opt-out). Cells a spreadsheet would run as a formula start with
    an apostrophe."""

    area = Area.CONSENT

    @extend_schema(
        parameters=[OpenApiParameter("kind", str, enum=list(KINDS), default="state")],
        responses={(200, "text/csv"): OpenApiTypes.STR},  # errors: problem details
    )
    def get(self, request: Request):
        kind = request.query_params.get("kind", "state")
        if kind not in KINDS:
            raise ValidationError({"kind": ["Choose state or history."]})
        return export_response(kind=kind, tenant=request.tenant)
