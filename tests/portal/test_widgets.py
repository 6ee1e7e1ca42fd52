"""QuickSelect writes the very markup Django's Select templates write."""

from __future__ import annotations

import pytest
from django import forms

from portal.widgets import QuickSelect
from tenants.models import Client

CHOICES = [
    ("", "---------"),
    ("a", "Plain"),
    ("b&c", 'Escaped <b>"label"</b> & more'),
    (3, "A number"),
    ("Group <one>", [("g1", "In a group"), ("g2", "Also <in> it")]),
    ("", [("nested-empty", "A group with no name")]),
    (None, "None as a value"),
]


@pytest.mark.parametrize("value", [None, "", "a", "b&c", 3, "3", "g2", ["a", "g1"], "missing"])
@pytest.mark.parametrize(
    "attrs",
    [
        None,
        {"id": "id_x", "required": True},
        {"disabled": False, "data-x": 'say "hi" <now>', "aria-describedby": "x-help"},
    ],
)
def test_the_markup_is_djangos(value, attrs):
    django_select = forms.Select(choices=CHOICES)
    quick = QuickSelect(choices=CHOICES)
    assert quick.render("pick", value, attrs=attrs) == django_select.render(
        "pick", value, attrs=attrs
    )


@pytest.mark.django_db
def test_a_model_choice_field_renders_the_same(acme, globex):
    class Form(forms.Form):
        plain = forms.ModelChoiceField(Client.objects.order_by("pk"))
        quick = forms.ModelChoiceField(Client.objects.order_by("pk"), widget=QuickSelect)

    for data in (None, {"plain": str(globex.pk), "quick": str(globex.pk)}):
        form = Form(data)
        plain = str(form["plain"]).replace("plain", "FIELD")
        quick = str(form["quick"]).replace("quick", "FIELD")
        assert quick == plain
        assert acme.name in quick
