"""One FilterSet per listable model, shared by the HTML lists and the API."""

import django_filters

from compliance.choices import (
    Band,
    ConsentCategory,
    ConsentKind,
    ConsentSource,
    EventKind,
    ImportState,
    Severity,
)
from compliance.models import ConsentEvent, ConsentImport, HealthEvent, PhoneNumber
from portal.api.filters import IdFilter, TextFilter, UtcDateTimeFilter


class PhoneNumberFilterSet(django_filters.FilterSet):
    band = django_filters.ChoiceFilter(choices=Band.choices)
    quality = TextFilter()
    status = TextFilter()
    waba = TextFilter(field_name="account__meta_id")

    class Meta:
        model = PhoneNumber
        fields = ["band", "quality", "status", "waba"]


class HealthEventFilterSet(django_filters.FilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=EventKind.choices)
    severity = django_filters.MultipleChoiceFilter(choices=Severity.choices)
    number = IdFilter(field_name="number_id")
    since = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    until = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = HealthEvent
        fields = ["kind", "severity", "number", "since", "until"]


class ConsentEventFilterSet(django_filters.FilterSet):
    """The consent history: by contact, category, kind, source and time."""

    phone = TextFilter(field_name="contact__phone")
    category = django_filters.MultipleChoiceFilter(choices=ConsentCategory.choices)
    kind = django_filters.ChoiceFilter(choices=ConsentKind.choices)
    source = django_filters.MultipleChoiceFilter(choices=ConsentSource.choices)
    since = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    until = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = ConsentEvent
        fields = ["phone", "category", "kind", "source", "since", "until"]


class ConsentImportFilterSet(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=ImportState.choices)

    class Meta:
        model = ConsentImport
        fields = ["state"]


class AlertFilterSet(django_filters.FilterSet):
    """Alerts: open or acknowledged, by severity and kind of their event, and by time."""

    acknowledged = django_filters.BooleanFilter(
        field_name="acknowledged_at", lookup_expr="isnull", exclude=True
    )
    severity = django_filters.MultipleChoiceFilter(
        field_name="event__severity", choices=Severity.choices
    )
    kind = django_filters.MultipleChoiceFilter(field_name="event__kind", choices=EventKind.choices)
    number = IdFilter(field_name="event__number_id")
    since = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        from compliance.models import Alert

        model = Alert
        fields = ["acknowledged", "severity", "kind", "number", "since", "until"]
