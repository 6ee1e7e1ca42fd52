"""Template tags other apps' pages use to show templates (the client dashboard's card)."""

from django import template

from templates_review import selectors

register = template.Library()


@register.simple_tag
def template_status_counts() -> dict:
    """The current client's templates by status (one query): `statuses` lists (value, label,
    count) for each status that has templates, `total` counts them all."""
    return selectors.template_status_counts()


@register.simple_tag
def templates_paused() -> list:
    """The current client's paused templates with their time left (one query)."""
    return selectors.templates_paused()
