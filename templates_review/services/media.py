"""A media header's example file: kept with the template while it is drafted, uploaded to Meta
with the Graph API's Resumable Upload when the template is sent, its handle passed as
`example.header_handle` (meta-platform.md §3.4)."""

from __future__ import annotations

import copy

from django.conf import settings
from django.db import transaction

from portal.meta.client import GraphClient
from portal.meta.errors import MetaError
from templates_review.models import MessageTemplate
from templates_review.services.common import Actor, _audit, _client, _lock
from tenants.models import Client

MEDIA_HEADER_FORMATS = ("IMAGE", "VIDEO", "GIF", "DOCUMENT")


def template_header_example_set(
    *,
    template: MessageTemplate,
    upload,
    media_type: str,
    actor: Actor,
    client: Client | None = None,
) -> MessageTemplate:
    """Store (or replace) the header's example file; audited."""
    client = _client(client)
    with transaction.atomic():
        locked = _lock(template)
        old = locked.header_example.name if locked.header_example else ""
        locked.header_example.save(upload.name.rsplit("/", 1)[-1][-100:], upload, save=False)
        locked.header_example_type = media_type
        locked.save(update_fields=["header_example", "header_example_type"])
        _audit(
            "header_example_set",
            actor=actor,
            client=client,
            template=locked,
            before={"file": old} if old else None,
            after={"file": locked.header_example.name, "type": media_type},
        )
        if old:
            storage, name = locked.header_example.storage, old
            transaction.on_commit(lambda: storage.delete(name))
    return locked


def template_header_example_clear(
    *, template: MessageTemplate, actor: Actor, client: Client | None = None
) -> MessageTemplate:
    """Drop the example file when the header is no longer a media header."""
    client = _client(client)
    with transaction.atomic():
        locked = _lock(template)
        if not locked.header_example:
            return locked
        old = locked.header_example.name
        storage = locked.header_example.storage
        locked.header_example = ""
        locked.header_example_type = ""
        locked.save(update_fields=["header_example", "header_example_type"])
        _audit(
            "header_example_cleared",
            actor=actor,
            client=client,
            template=locked,
            before={"file": old},
        )
        transaction.on_commit(lambda: storage.delete(old))
    return locked


def media_header(components: list[dict]) -> dict | None:
    for component in components:
        if (
            isinstance(component, dict)
            and str(component.get("type", "")).upper() == "HEADER"
            and str(component.get("format", "")).upper() in MEDIA_HEADER_FORMATS
        ):
            return component
    return None


class HeaderExampleMissing(MetaError):
    """A media header with neither a handle nor a stored example file to upload."""


def components_with_header_handle(
    *, graph: GraphClient, template: MessageTemplate, components: list[dict]
) -> list[dict]:
    """`components` ready for Meta: a media header gets the handle of the stored example,
    uploaded now (a new handle each send; Meta's handles are for one template creation)."""
    header = media_header(components)
    if header is None or not template.header_example:
        return components
    if not settings.META_APP_ID:
        raise HeaderExampleMissing(
            "The portal's Meta app id (META_APP_ID) is not set, so the header's example "
            "cannot be uploaded to Meta."
        )
    with template.header_example.open("rb") as stored:
        data = stored.read()
    handle = graph.upload_file(
        app_id=settings.META_APP_ID,
        file_name=template.header_example.name.rsplit("/", 1)[-1],
        file_type=template.header_example_type or "application/octet-stream",
        data=data,
    )
    ready = copy.deepcopy(components)
    target = media_header(ready)
    example = dict(target.get("example") or {})
    example["header_handle"] = [handle]
    target["example"] = example
    return ready
