"""The `url` tag for every template (a builtin, TEMPLATES' `builtins`), answering the portal's
common cases without walking Django's `reverse()` each time.

A list row links to its own page and posts its own forms (`{% url 'webhook-delivery'
endpoint.pk d.pk %}`): 100 rows are 200 reversals, each a walk of the name's patterns, a
regular-expression match and a quote, about a fifth of such a page's time. Here a name's URL
shape is worked out once per URLconf (and script prefix and language) and then filled in:

- no arguments: the URL itself, kept (it depends on nothing else);
- only non-negative `int` arguments, for a name whose first pattern of that many parameters
  takes them all through `<int:...>`: that pattern with the numbers put in, which is exactly
  what `reverse()` returns for them (the shape is checked against `reverse()` once).

Anything else (keyword arguments, a namespace such as `admin:index`, a string or a negative
number, `re_path` patterns) goes to Django's tag unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import quote

from django import template
from django.template.defaulttags import URLNode
from django.template.defaulttags import url as django_url
from django.urls import NoReverseMatch, get_resolver, get_script_prefix, get_urlconf, reverse
from django.urls.converters import IntConverter
from django.utils.html import conditional_escape
from django.utils.http import RFC3986_SUBDELIMS
from django.utils.translation import get_language

register = template.Library()

_NO_SHAPE = object()
_PARAM = re.compile(r"%\((\w+)\)s")
_SAFE = RFC3986_SUBDELIMS + "/~:@"  # what `reverse()` leaves unquoted
# (resolver, script prefix, language, urlconf, name, number of arguments) → the URL (no
# arguments), its quoted pieces to put the numbers between (int arguments), or _NO_SHAPE
# (Django's tag answers). Keyed by Django's own cached resolver, so whatever renews that
# (`clear_url_caches`, a changed ROOT_URLCONF in a test) renews these too.
_shapes: dict[tuple, object] = {}


def _shape(resolver, urlconf, name: str, count: int) -> object:
    """How `reverse(name, args=<count ints>)` is built, or _NO_SHAPE."""
    try:
        return _shape_of(resolver, urlconf, name, count)
    except NoReverseMatch:
        return _NO_SHAPE  # Django's tag raises it (or, with `as`, answers "")


def _shape_of(resolver, urlconf, name: str, count: int) -> object:
    prefix = get_script_prefix()
    if count == 0:
        return reverse(name, urlconf=urlconf)
    for possibility, _pattern, _defaults, converters in resolver.reverse_dict.getlist(name):
        for result, params in possibility:
            if len(params) != count:
                continue
            if not all(type(converters.get(p)) is IntConverter for p in params):
                return _NO_SHAPE
            shape = _pieces(prefix.replace("%", "%%") + result, params)
            probe = tuple(range(1, count + 1))
            if shape is None or _fill(shape, probe) != reverse(name, urlconf=urlconf, args=probe):
                return _NO_SHAPE
            return shape
    return _NO_SHAPE


def _pieces(pattern: str, params: list[str]) -> tuple[str, ...] | None:
    """Django's `%(name)s` pattern as its literal pieces, quoted as `reverse()` quotes the whole
    (the numbers between them need no quoting), for the parameters in `params` order."""
    parts = _PARAM.split(pattern)  # literal, name, literal, name, ..., literal
    if parts[1::2] != list(params) or parts[0].startswith("//"):
        return None  # not in argument order, or a scheme-relative start: Django's tag answers
    return tuple(quote(part.replace("%%", "%"), safe=_SAFE) for part in parts[0::2])


def _fill(pieces: tuple[str, ...], args: tuple[int, ...]) -> str:
    out = [pieces[0]]
    for value, piece in zip(args, pieces[1:], strict=True):
        out.append(str(value))
        out.append(piece)
    return "".join(out)


def fast_reverse(name: str, args: tuple, *, where: tuple | None = None) -> str | None:
    """`reverse(name, args=args)` from the kept shape, or None when Django's must answer.
    `where`: `reversing_in()`, when the caller has it (a template render keeps it)."""
    if not isinstance(name, str) or ":" in name:
        return None
    if not all(type(a) is int and a >= 0 for a in args):
        return None
    where = where or reversing_in()
    key = (*where, name, len(args))
    shape = _shapes.get(key)
    if shape is None:
        shape = _shapes[key] = _shape(where[0], where[3], name, len(args))
    if shape is _NO_SHAPE:
        return None
    if not args:
        return shape
    return _fill(shape, args)


def reversing_in() -> tuple:
    """(resolver, script prefix, language, urlconf) this thread reverses in: three context-local
    reads of a few microseconds each, so a template render reads them once."""
    urlconf = get_urlconf()
    return (get_resolver(urlconf), get_script_prefix(), get_language(), urlconf)


class FastURLNode(URLNode):
    def render(self, context):
        if self.kwargs:
            return super().render(context)
        view_name = self.view_name.resolve(context)
        where = context.render_context.get(self)
        if where is None:
            where = context.render_context[self] = reversing_in()
        url = fast_reverse(view_name, tuple(arg.resolve(context) for arg in self.args), where=where)
        if url is None:
            return super().render(context)
        if self.asvar:
            context[self.asvar] = url
            return ""
        return conditional_escape(url) if context.autoescape else url


@register.tag
def url(parser, token):
    node = django_url(parser, token)
    return FastURLNode(node.view_name, node.args, node.kwargs, node.asvar)


# --- for rows written in Python ---------------------------------------------------------------

_MARK = 918_273_640  # stand-in arguments: digits match the slug and int converters alike


def url_filler(name: str, arity: int = 1) -> Callable[..., str]:
    """`name`'s URL for any arguments (slugs, ids), reversed once, for rows a view writes in
    Python (`portal.rows`): a list builds a link or two a row, and a `{% url %}` a row was a
    tenth of the page's render (in templates, `fast_reverse` above answers int arguments). The
    URL is reversed with stand-ins and each row's values put in their place, quoted as
    `reverse` quotes them; they must be values the route's converters accept, as `reverse`
    would have checked."""
    marks = [str(_MARK + n) for n in range(arity)]
    pieces, rest = [], reverse(name, args=marks)
    for mark in marks:
        head, found, rest = rest.partition(mark)
        if not found:
            raise ValueError(f"{name}: the argument is not in its URL")
        pieces.append(head)

    def fill(*values: object) -> str:
        parts = [
            f"{head}{quote(str(value), safe=_SAFE)}"
            for head, value in zip(pieces, values, strict=True)
        ]
        return "".join(parts) + rest

    return fill
