from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError


class StrictFilterBackend(DjangoFilterBackend):
    """django-filter ignores a filter given empty (`?until=`); the API answers 400 instead, as
    it does for any other value that does not match the documented type."""

    def get_filterset(self, request, queryset, view):
        filterset = super().get_filterset(request, queryset, view)
        if filterset is not None:
            empty = {
                name: ["Give a value, or leave the parameter out."]
                for name in filterset.filters
                if name in request.query_params
                and all(v == "" for v in request.query_params.getlist(name))
            }
            if empty:
                raise ValidationError(empty)
        return filterset
