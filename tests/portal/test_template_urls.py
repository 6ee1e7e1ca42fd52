"""The portal's `url` tag answers exactly as Django's for every route, reversing a name's shape
once instead of once a row."""

from contextlib import contextmanager
from unittest import mock

import pytest
from django.template import Context, Template
from django.template.defaulttags import url as django_url
from django.urls import (
    NoReverseMatch,
    URLPattern,
    URLResolver,
    get_resolver,
    reverse,
    set_urlconf,
)
from django.urls.converters import IntConverter

from portal import template_urls
from portal.template_urls import FastURLNode


def _routes(urlconf: str) -> list[tuple[str, int, bool]]:
    """(name, number of parameters, all of them <int:...>) of every named route."""
    routes = []

    def walk(patterns, params: dict) -> None:
        for pattern in patterns:
            groups = dict.fromkeys(pattern.pattern.regex.groupindex)  # re_path: no converter
            found = {**params, **groups, **getattr(pattern.pattern, "converters", {})}
            if isinstance(pattern, URLResolver):
                if pattern.namespace is None:
                    walk(pattern.url_patterns, found)
            elif isinstance(pattern, URLPattern) and pattern.name:
                ints = all(type(c) is IntConverter for c in found.values())
                routes.append((pattern.name, len(found), ints))

    walk(get_resolver(urlconf).url_patterns, {})
    return routes


ROUTES = [
    (urlconf, *route)
    for urlconf in ("portal.urls_tenant", "portal.urls_public")
    for route in _routes(urlconf)
]


@contextmanager
def urlconf_of(urlconf: str):
    """What django-tenants does for a request: this thread reverses in `urlconf`."""
    set_urlconf(urlconf)
    try:
        yield
    finally:
        set_urlconf(None)


def render(source: str, urlconf: str, **context) -> str:
    with urlconf_of(urlconf):
        return Template(source).render(Context(context))


def djangos(source: str, urlconf: str, **context) -> str:
    """The same template through Django's own tag."""
    template = Template(source)
    for node in template.nodelist.get_nodes_by_type(FastURLNode):
        node.render = super(FastURLNode, node).render
    with urlconf_of(urlconf):
        return template.render(Context(context))


def outcome(renderer, *args, **kwargs):
    try:
        return renderer(*args, **kwargs)
    except NoReverseMatch as exc:  # Django's tag raises for some: the portal's must too
        return type(exc)


@pytest.mark.parametrize(("urlconf", "name", "count", "ints"), ROUTES)
def test_every_route_reverses_as_with_djangos_tag(urlconf, name, count, ints):
    args = " ".join(f"a{n}" for n in range(count))
    source = f"{{% url '{name}' {args} %}}"
    values = {f"a{n}": 7 + n * 1000 for n in range(count)}
    if count and not ints:
        values = {f"a{n}": f"x-{n}" for n in range(count)}
    answer = outcome(render, source, urlconf, **values)
    assert answer == outcome(djangos, source, urlconf, **values)
    if ints:
        assert answer == reverse(name, urlconf=urlconf, args=list(values.values()))


def test_a_list_of_rows_reverses_once():
    source = "{% for pk in pks %}{% url 'webhook-delivery' 3 pk %} {% endfor %}"
    with mock.patch("portal.template_urls.reverse", wraps=reverse) as reversed_:
        template_urls._shapes.clear()
        rendered = render(source, "portal.urls_tenant", pks=range(100))
    assert rendered.split() == [
        reverse("webhook-delivery", urlconf="portal.urls_tenant", args=[3, pk]) for pk in range(100)
    ]
    assert reversed_.call_count == 1  # the check of the shape; none a row


@pytest.mark.parametrize(
    ("source", "context"),
    [
        ("{% url 'webhook-delivery' endpoint_id=3 delivery_id=4 %}", {}),  # keywords
        ("{% url 'admin:index' %}", {}),  # a namespace (none on a client's host)
        ("{% url 'webhook-endpoint-action' 3 'pause' %}", {}),  # a string
        ("{% url 'webhook-endpoint' pk %}", {"pk": True}),  # not an int
        ("{% url 'webhook-endpoint' pk %}", {"pk": "12"}),
        ("{% url 'consent-contact' phone %}", {"phone": "+1 415/555?x"}),  # quoted
        ("{% url 'home' as where %}[{{ where }}]", {}),
        ("{% url 'no-such-route' as where %}[{{ where }}]", {}),
        ("{% url 'webhook-endpoint' as where %}[{{ where }}]", {}),  # missing argument
        ("<{% url 'consent-contact' phone %}>", {"phone": "<&>"}),  # escaped
    ],
)
def test_other_calls_answer_as_djangos_tag(source, context):
    answer = outcome(render, source, "portal.urls_tenant", **context)
    assert answer == outcome(djangos, source, "portal.urls_tenant", **context)


def test_negative_numbers_and_unknown_names_fail_as_with_djangos_tag():
    for source in ("{% url 'webhook-endpoint' -1 %}", "{% url 'no-such-route' %}"):
        with pytest.raises(NoReverseMatch):
            render(source, "portal.urls_tenant")
        with pytest.raises(NoReverseMatch):
            djangos(source, "portal.urls_tenant")


def test_it_is_the_builtin_url_tag():
    builtins = Template("").engine.template_builtins
    assert [lib.tags["url"] for lib in builtins if "url" in lib.tags][-1] is template_urls.url
    assert template_urls.url is not django_url


def test_a_namespaced_name_is_djangos_to_answer():
    source = "{% url 'admin:index' %}"
    assert render(source, "portal.urls_public") == djangos(source, "portal.urls_public")
    assert render(source, "portal.urls_public") == reverse("admin:index", "portal.urls_public")
