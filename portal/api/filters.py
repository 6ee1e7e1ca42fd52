from datetime import timedelta

from django.utils.dateparse import parse_datetime
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
                elif isinstance(declared, IsoDateTimeFilter) and any(
                    not _offset_storable(v) for v in values
                ):
                    errors[name] = ["Give a UTC offset between -15:59 and +15:59."]
            if errors:
                raise ValidationError(errors)
        return filterset


def _offset_storable(value: str) -> bool:
    """PostgreSQL keeps UTC offsets up to 15:59; RFC 3339 allows more (a 500 otherwise)."""
    try:
        parsed = parse_datetime(value)
    except ValueError:
        return True  # not a date-time at all: the filterset reports it
    offset = parsed.utcoffset() if parsed else None
    return offset is None or abs(offset) < timedelta(hours=16)
