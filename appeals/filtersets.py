"""One FilterSet for appeals, shared by the client list page and the API."""

import django_filters

from appeals import choices as c
from appeals.models import AppealTicket


class AppealTicketFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=c.Status.choices)
    block_type = django_filters.MultipleChoiceFilter(choices=c.BlockType.choices)
    subject_kind = django_filters.ChoiceFilter(choices=c.SubjectKind.choices)
    priority = django_filters.ChoiceFilter(choices=c.Priority.choices)

    class Meta:
        model = AppealTicket
        fields = ["status", "block_type", "subject_kind", "priority"]
