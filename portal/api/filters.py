from datetime import UTC, datetime

from django import forms
from django_filters import BooleanFilter, CharFilter, IsoDateTimeFilter, NumberFilter
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema_field
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
                elif not isinstance(declared, CharFilter) and all(v == "" for v in values):
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


BIGINT_MAX = 2**63 - 1


@extend_schema_field({"type": "string", "pattern": "^[^\\x00]*$"})
class TextFilter(CharFilter):
    """A text filter, documented as text without NUL: PostgreSQL text cannot hold one, and
    Django's form field refuses it with a 400 ("Null characters are not allowed.")."""


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": BIGINT_MAX})
class IdFilter(NumberFilter):
    """A row's id: an integer that fits PostgreSQL's bigint, documented as one (a NumberFilter
    is documented as any number, and `3e97` or `1.5` is no id)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", BIGINT_MAX)
        super().__init__(*args, **kwargs)
