"""QuickRenderer writes the very markup Django's own renderer writes, widget by widget, and
leaves every other template to Django."""

from __future__ import annotations

import pytest
from django import forms
from django.conf import settings
from django.forms.renderers import DjangoTemplates
from django.utils.safestring import mark_safe

from portal.forms_renderer import WRITERS, QuickRenderer
from tenants.models import Client

# One of each, for the whole module: a renderer builds its template engine once.
DJANGO, QUICK = DjangoTemplates(), QuickRenderer()
CHOICES = [
    ("", "---------"),
    ("a", "Plain"),
    ("b&c", 'Escaped <b>"label"</b> & more'),
    (3, "A number"),
    ("Group <one>", [("g1", "In a group"), ("g2", "Also <in> it")]),
    ("", [("nested-empty", "A group with no name")]),
    (None, "None as a value"),
]
ATTRS = [
    None,
    {"id": "id_x", "required": True},
    {"disabled": False, "data-x": 'say "hi" <now>', "aria-describedby": "x-help", "min": 0},
]
VALUES = [None, "", "a", "b&c", 3, "3", "g2", ["a", "g1"], "missing", 'x"<y>&', 0, 1.5, True,
          False, mark_safe("<i>safe</i>"), "line one\nline two"]  # fmt: skip
WIDGETS = [
    forms.TextInput, forms.EmailInput, forms.NumberInput, forms.URLInput, forms.PasswordInput,
    forms.HiddenInput, forms.DateInput, forms.DateTimeInput, forms.TimeInput, forms.CheckboxInput,
    forms.Textarea, lambda: forms.Select(choices=CHOICES),
    lambda: forms.TextInput(attrs={"type": "search", "placeholder": "Find <it>"}),
    lambda: forms.DateTimeInput(attrs={"type": "datetime-local"}),
    lambda: forms.PasswordInput(render_value=True),
    lambda: forms.RadioSelect(choices=CHOICES),
    lambda: forms.CheckboxSelectMultiple(choices=CHOICES),
    lambda: forms.CheckboxSelectMultiple(choices=CHOICES, attrs={"class": "events <x>"}),
]  # fmt: skip


@pytest.mark.parametrize("make", WIDGETS)
def test_every_written_widget_is_djangos_markup(make):
    widget = make()
    assert widget.template_name in WRITERS  # what this test is about: the written widgets
    for attrs in ATTRS:
        for value in VALUES:
            django_html = widget.render("pick", value, attrs=attrs, renderer=DJANGO)
            quick_html = widget.render("pick", value, attrs=attrs, renderer=QUICK)
            assert quick_html == django_html, (attrs, value)


def test_other_templates_are_djangos():
    class Form(forms.Form):
        upload = forms.FileField(required=False)
        note = forms.CharField(help_text="Say <why>.")

    form = Form({"note": ""})
    form.renderer = DJANGO
    django_html = str(form)
    form = Form({"note": ""})
    form.renderer = QUICK
    assert str(form) == django_html
    assert "This field is required." in django_html


def test_an_option_with_a_template_of_its_own_is_left_to_django():
    class Fancy(forms.Select):
        option_template_name = "django/forms/widgets/input_option.html"

    class FancyRadio(forms.RadioSelect):
        option_template_name = "django/forms/widgets/select_option.html"

    for widget, written in ((Fancy(choices=[("a", "A")]), "<option"),
                            (FancyRadio(choices=[("a", "A")]), "<input")):  # fmt: skip
        quick_html = widget.render("pick", "a", renderer=QUICK)
        assert quick_html == widget.render("pick", "a", renderer=DJANGO)
        assert written not in quick_html


@pytest.mark.django_db
def test_the_portal_renders_forms_with_it(acme, globex):
    assert settings.FORM_RENDERER == "portal.forms_renderer.QuickRenderer"

    class Form(forms.Form):
        client = forms.ModelChoiceField(Client.objects.order_by("pk"))

    for data in (None, {"client": str(globex.pk)}):
        quick = str(Form(data)["client"])
        form = Form(data)
        form.renderer = DJANGO
        assert quick == str(form["client"])
        assert acme.name in quick
