"""One FilterSet per listable model, shared by the HTML lists and the API."""

import django_filters

from compliance.choices import Band, EventKind, Severity
from compliance.models import HealthEvent, PhoneNumber


class PhoneNumberFilterSet(django_filters.FilterSet):
    band = django_filters.ChoiceFilter(choices=Band.choices)
    quality = django_filters.CharFilter()
    status = django_filters.CharFilter()
    waba = django_filters.CharFilter(field_name="account__meta_id")

    class Meta:
        model = PhoneNumber
        fields = ["band", "quality", "status", "waba"]


class HealthEventFilterSet(django_filters.FilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=EventKind.choices)
    severity = django_filters.MultipleChoiceFilter(choices=Severity.choices)
    number = django_filters.NumberFilter(field_name="number_id")
    since = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = HealthEvent
        fields = ["kind", "severity", "number", "since", "until"]
