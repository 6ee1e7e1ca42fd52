"""The new-appeal form's selects read their options with one ordinary query each (no
server-side cursor: three round trips a select outside a transaction), listing exactly what
Django's own iterator lists, and only this client's rows."""

from unittest import mock

from django.db import connection
from django.forms.models import ModelChoiceIterator
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from appeals.forms import AppealOpenForm
from tests.factories import MessageTemplateFactory

SELECTS = ("account", "number", "template")


def _options(form: AppealOpenForm) -> dict[str, str]:
    return {name: str(form[name]) for name in SELECTS}


def test_the_selects_read_without_a_server_side_cursor_and_list_what_django_lists(
    acme, acme_number, globex, globex_waba
):
    with schema_context(globex.schema_name):
        MessageTemplateFactory(account=globex_waba, name="globex_only")
    with schema_context(acme.schema_name):
        MessageTemplateFactory(account=acme_number.account, name="order_shipped")
        form = AppealOpenForm()
        with (
            mock.patch.object(
                connection, "chunked_cursor", side_effect=AssertionError("a server-side cursor")
            ) as server_side,
            CaptureQueriesContext(connection) as captured,
        ):
            rendered = _options(form)
        assert not server_side.called
        assert len(captured) == len(SELECTS)

        djangos = AppealOpenForm()
        for name in SELECTS:
            djangos.fields[name].iterator = ModelChoiceIterator
            djangos.fields[name].queryset = djangos.fields[name].queryset
        assert rendered == _options(djangos)
    assert "order_shipped" in rendered["template"]
    assert acme_number.display_phone_number in rendered["number"]
    assert "globex_only" not in rendered["template"]
    assert "Globex" not in rendered["account"]
