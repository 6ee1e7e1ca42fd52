"""`form_as_p`: a blank form of a fixed class is its class's markup, written once; any other
form is rendered as it is."""

from __future__ import annotations

import pytest
from django.utils import translation

from appeals import forms
from appeals.forms import OutcomeForm, StaffMessageForm, form_as_p


@pytest.mark.parametrize("form_class", [StaffMessageForm, OutcomeForm])
def test_a_blank_form_is_what_as_p_writes(form_class):
    assert form_as_p(form_class()) == form_class().as_p()
    assert form_as_p(form_class()) == form_class().as_p()  # from the cache, the same


def test_it_is_written_once_per_class_and_language(monkeypatch):
    forms._blank_as_p.cache_clear()
    written = []
    monkeypatch.setattr(StaffMessageForm, "as_p", lambda self: written.append(1) or "markup")

    with translation.override("en"):
        form_as_p(StaffMessageForm())
        form_as_p(StaffMessageForm())
    with translation.override("de"):
        form_as_p(StaffMessageForm())

    assert len(written) == 2
    forms._blank_as_p.cache_clear()


def test_forms_with_values_are_rendered_as_they_are():
    typed = StaffMessageForm(initial={"body": "What we <changed>", "internal": True})
    posted = OutcomeForm(data={"outcome": "nonsense", "note": "x"})
    prefixed = OutcomeForm(prefix="second")

    assert form_as_p(typed) == typed.as_p()
    assert "What we &lt;changed&gt;" in form_as_p(typed)
    assert form_as_p(posted) == posted.as_p()
    assert "errorlist" in form_as_p(posted)
    assert 'name="second-outcome"' in form_as_p(prefixed)


@pytest.mark.django_db
def test_a_form_that_builds_its_fields_is_not_cached(staff_super):
    """The assign form reads the staff members: it is written for each page."""
    from tenants.models import User

    before = forms.AssignForm().as_p()
    User.objects.filter(pk=staff_super.pk).update(email="renamed-staff@bsp.example")

    after = form_as_p(forms.AssignForm())

    assert "renamed-staff@bsp.example" in after
    assert after != before
