import django_filters

from portal.api.filters import TextFilter
from templates_review.choices import StatusFilter
from templates_review.models import MessageTemplate
from templates_review.selectors import STATUS_FILTERS


class TemplateFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=StatusFilter.choices,
        method="filter_status",
        help_text="Our workflow state until the template is at Meta, then Meta's status.",
    )
    name = TextFilter(field_name="name", lookup_expr="icontains")
    language = TextFilter(field_name="language")
    category = TextFilter(field_name="category", lookup_expr="iexact")

    class Meta:
        model = MessageTemplate
        fields = ["status", "name", "language", "category"]

    def filter_status(self, queryset, name, value):
        return queryset.filter(STATUS_FILTERS[value])
