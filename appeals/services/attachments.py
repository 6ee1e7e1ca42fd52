"""Files on an appeal: uploads (size and type checked, stored per client) and the evidence
bundle built from our own records."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from appeals import choices as c
from appeals.models import AppealAttachment, AppealMessage, AppealTicket
from appeals.services.base import AppealInvalid, _user
from portal.audit.services import audit_record
from tenants.actors import Actor
from tenants.models import Client
from tenants.permissions import Area
from tenants.selectors import current_client

ALLOWED_UPLOADS = {
    # extension: (content type, check of the first bytes)
    "pdf": ("application/pdf", lambda head: head.startswith(b"%PDF-")),
    "png": ("image/png", lambda head: head.startswith(b"\x89PNG\r\n\x1a\n")),
    "jpg": ("image/jpeg", lambda head: head.startswith(b"\xff\xd8\xff")),
    "jpeg": ("image/jpeg", lambda head: head.startswith(b"\xff\xd8\xff")),
    "txt": ("text/plain", lambda head: _is_text(head)),
    "csv": ("text/csv", lambda head: _is_text(head)),
}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a cut in the middle of a character is fine
        return exc.start >= len(head) - 3
    return True


def attachment_check(*, name: str, size: int, head: bytes) -> tuple[str, str]:
    """(safe file name, content type) for an upload, or AppealInvalid with a plain reason."""
    limit = settings.APPEALS_ATTACHMENT_MAX_MB * 1024 * 1024
    if size > limit:
        raise AppealInvalid(
            {"file": f"The file is larger than {settings.APPEALS_ATTACHMENT_MAX_MB} MB."}
        )
    if size == 0:
        raise AppealInvalid({"file": "The file is empty."})
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in ALLOWED_UPLOADS:
        raise AppealInvalid({"file": "Attach a PDF, PNG, JPEG, TXT or CSV file."})
    content_type, looks_right = ALLOWED_UPLOADS[ext]
    if not looks_right(head):
        raise AppealInvalid({"file": f"The file's content is not a {ext.upper()} file."})
    stem = _SAFE_NAME.sub("-", name.rsplit(".", 1)[0]).strip("-.")[:80] or "file"
    return f"{stem}.{ext}", content_type


def attachment_add(
    *,
    ticket: AppealTicket,
    actor: Any,
    upload,
    message: AppealMessage | None = None,
    client: Client | None = None,
) -> AppealAttachment:
    """Store an upload on the appeal, under the client's own folder (the schema name)."""
    client = client or current_client()
    role = Actor.of(actor, client=client).role_for(Area.APPEALS, client=client)
    if role not in c.CLIENT_OPERATORS | c.APPEAL_STAFF:
        raise PermissionDenied("Your role does not allow adding files.")
    upload.seek(0)
    head = upload.read(512)
    upload.seek(0)
    name, content_type = attachment_check(name=upload.name, size=upload.size, head=head)
    internal = bool(message and message.internal)
    with transaction.atomic():
        attachment = AppealAttachment(
            ticket=ticket,
            message=message,
            original_name=name,
            content_type=content_type,
            size=upload.size,
            internal=internal,
            uploaded_by=_user(actor),
        )
        attachment.file.save(name, upload, save=False)
        attachment.save()
        # The client may read its audit trail: a note's file is marked and its name left out.
        audit_record(
            action="appeal.file_added",
            actor=actor,
            client=client,
            target=ticket,
            after={"attachment": attachment.pk, "internal": True}
            if internal
            else {"attachment": attachment.pk, "name": name, "size": upload.size},
        )
    return attachment


def evidence_bundle_attach(
    *, ticket: AppealTicket, actor: Any, client: Client | None = None
) -> AppealAttachment:
    """Build the evidence bundle from our own records and attach it to the appeal."""
    from appeals.evidence import evidence_bundle_build

    client = client or current_client()
    role = Actor.of(actor, client=client).role_for(Area.APPEALS, client=client)
    if role not in c.CLIENT_OPERATORS | c.APPEAL_STAFF:
        raise PermissionDenied("Your role does not allow building the evidence bundle.")
    now = timezone.now()
    content = evidence_bundle_build(ticket=ticket, client=client, now=now)
    name = f"evidence-{ticket.reference}-{now:%Y%m%d-%H%M%S}.zip"
    with transaction.atomic():
        attachment = AppealAttachment(
            ticket=ticket,
            kind=c.AttachmentKind.EVIDENCE_BUNDLE,
            original_name=name,
            content_type="application/zip",
            size=len(content),
            uploaded_by=_user(actor),
        )
        attachment.file.save(name, ContentFile(content), save=False)
        attachment.save()
        audit_record(
            action="appeal.evidence_built",
            actor=actor,
            client=client,
            target=ticket,
            after={"attachment": attachment.pk, "size": len(content)},
        )
    return attachment
