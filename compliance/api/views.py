from datetime import timedelta

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers as drf_serializers
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from compliance.api.serializers import (
    HealthEventSerializer,
    HealthSeriesSerializer,
    HealthSnapshotSerializer,
    PhoneNumberSerializer,
)
from compliance.filtersets import HealthEventFilterSet, PhoneNumberFilterSet
from compliance.models import HealthSnapshot
from compliance.selectors import events_recent, numbers_for_dashboard
from portal.api.pagination import CursorPagination
from tenants.permissions import Area


class PhoneNumberViewSet(viewsets.ReadOnlyModelViewSet):
    """The client's WhatsApp numbers with their state at Meta and health score."""

    area = Area.NUMBERS

    serializer_class = PhoneNumberSerializer
    filterset_class = PhoneNumberFilterSet
    ordering = "id"

    def get_queryset(self):
        return numbers_for_dashboard()

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "days",
                {"type": "integer", "minimum": 1, "maximum": 365},
                description="History length (1 to 365).",
            )
        ],
        responses=HealthSeriesSerializer,
        filters=False,
    )
    @action(detail=True, methods=["get"], pagination_class=None, filterset_class=None)
    def health(self, request, pk=None):
        """The number's health time series (snapshots, oldest first)."""
        number = self.get_object()
        try:
            days = int(request.query_params.get("days", 30))
        except ValueError:
            raise drf_serializers.ValidationError(
                {"days": ["Give a whole number of days."]}
            ) from None
        if not 1 <= days <= 365:
            raise drf_serializers.ValidationError({"days": ["Choose between 1 and 365 days."]})
        snapshots = HealthSnapshot.objects.filter(
            number=number, taken_at__gte=timezone.now() - timedelta(days=days)
        ).order_by("taken_at")
        return Response(
            {
                "number": number.pk,
                "days": days,
                "series": HealthSnapshotSerializer(snapshots, many=True).data,
            }
        )


class EventPagination(CursorPagination):
    ordering = ("-occurred_at", "-id")


class HealthEventViewSet(viewsets.ReadOnlyModelViewSet):
    """What happened to the client's numbers and accounts, newest first."""

    area = Area.NUMBERS

    serializer_class = HealthEventSerializer
    pagination_class = EventPagination
    filterset_class = HealthEventFilterSet

    def get_queryset(self):
        return events_recent()
