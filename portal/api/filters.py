from datetime import UTC, datetime

from django_filters import BooleanFilter, CharFilter, IsoDateTimeFilter
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError


class StrictFilterBackend(DjangoFilterBackend):
    """django-filter ignores a filter given empty (`?until=`) or a boolean it cannot read
    (`?acknowledged=7`); the API answers 400 instead, as for any value not of the documented
    type. (An empty text filter is a valid string and stays a no-op.)"""

    def get_filterset(self, request, queryset, view):
        filterset = super().get_filterset(request, queryset, view)
        if filterset is not None:
            errors = {}
            for name, declared in filterset.filters.items():
                values = request.query_params.getlist(name)
                if not values:
                    continue
                if isinstance(declared, BooleanFilter):
                    if any(v not in ("true", "false") for v in values):
                        errors[name] = ["Give true or false."]
                elif type(declared) is not CharFilter and all(v == "" for v in values):
                    errors[name] = ["Give a value, or leave the parameter out."]
            if errors:
                raise ValidationError(errors)
        return filterset


class UtcDateTimeFilter(IsoDateTimeFilter):
    """An RFC 3339 date-time, compared in UTC: RFC 3339 allows offsets up to ±23:59, PostgreSQL
    stores only up to ±15:59, so `…T10:00:00+20:00` is the instant it names, never an error."""

    def filter(self, qs, value: datetime | None):
        if value is not None and value.tzinfo is not None:
            try:
                value = value.astimezone(UTC)
            except OverflowError:  # before year 1 or after 9999 in UTC: the nearest instant
                edge = datetime.min if value.year == 1 else datetime.max
                value = edge.replace(tzinfo=UTC)
        return super().filter(qs, value)
