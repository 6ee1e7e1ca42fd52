"""Template pacing (meta-platform §10): pacing pauses told apart from quality pauses, messages Meta
holds counted per template, the unpause through the Graph client, the utility pacing window.

- `pause_kind_for(title)`: the kind of a pause from Meta's `other_info.title` (the status
  applier stores it in `MessageTemplate.pause_kind`);
- `template_held_set(*, template, held, at)`: how many of the template's messages Meta holds
  (`held_for_quality_assessment`); 0 when released or dropped;
- `template_unpause(*, template, actor, graph=None)`: `POST /{template-id}/unpause` for a pacing
  pause, by the client's owners and admins or BSP staff; Meta's refusal is kept on the template
  in plain words and raised as `UnpauseRefused`. Quality pauses end by themselves: refused here
  without calling Meta. The Graph call runs outside any transaction;
- `utility_pacing_until(*, account, now)`: utility templates of an account are paced for 7 days
  after one of its utility templates was paused (⚠️ Meta does not say WABA or portfolio: the
  WABA is the narrower reading).

Run inside the client's schema.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from compliance import services as compliance
from compliance.choices import EventKind, EventSource, Severity
from portal.audit.services import audit_record
from portal.meta import types as meta
from portal.meta.errors import MetaError
from templates_review.choices import PauseKind
from templates_review.models import MessageTemplate, MetaTemplateHistory
from tenants.choices import ClientRole, StaffRole
from tenants.selectors import current_client

UTILITY_PACING = timedelta(days=7)
# Who may unpause: the client's owners and admins, and BSP staff (any staff role).
UNPAUSE_ROLES = frozenset({ClientRole.OWNER, ClientRole.ADMIN, *StaffRole.values})


class UnpauseRefused(Exception):
    """The unpause cannot be done, or Meta refused it; the message is for people."""


def pause_kind_for(title: meta.PauseTitle | str | None) -> PauseKind:
    """Meta's `other_info.title` of a PAUSED event → why the template is paused."""
    title = meta.PauseTitle.from_meta(title) if not isinstance(title, meta.PauseTitle) else title
    if title == meta.PauseTitle.RATE_LIMITING_PAUSE:
        return PauseKind.PACING
    return PauseKind.QUALITY


def template_held_set(*, template: MessageTemplate, held: int, at: datetime) -> MessageTemplate:
    """Set how many of the template's messages Meta holds for quality assessment (a count, not
    an increment: applying the same figure twice changes nothing). The first hold is an event."""
    held = max(0, int(held))
    with transaction.atomic():
        locked = MessageTemplate.objects.select_for_update().get(pk=template.pk)
        was = locked.held_count
        if was == held:
            return locked
        locked.held_count = held
        locked.held_since = (locked.held_since or at) if held else None
        locked.save(update_fields=["held_count", "held_since"])
        if held and not was:
            compliance.health_event_record(
                kind=EventKind.TEMPLATE_HELD,
                severity=Severity.INFO,
                title=f"Meta is holding messages of template {locked.name} (template pacing)",
                detail="Held messages go out if early feedback is good; if it is poor Meta pauses "
                "the template and drops them (132015). Do not resend held messages.",
                key=compliance.dedupe_key("held", locked.pk, at.isoformat()),
                source=EventSource.WEBHOOK,
                occurred_at=at,
                account=locked.account,
                template_name=locked.name,
                data={"held": held},
            )
    template.held_count, template.held_since = locked.held_count, locked.held_since
    return locked


def _graph():
    from portal.meta import credentials
    from portal.meta.client import GraphClient

    return GraphClient(token=credentials.system_user_token())


def template_unpause(*, template: MessageTemplate, actor, graph=None) -> MessageTemplate:
    """Ask Meta to unpause a template paused by pacing (see the module's rules)."""
    from django.core.exceptions import PermissionDenied

    if actor.role not in UNPAUSE_ROLES:
        raise PermissionDenied("Only the client's owners and admins, or BSP staff, may unpause.")
    current = MessageTemplate.objects.get(pk=template.pk)
    if current.meta_status != meta.TemplateStatus.PAUSED:
        raise UnpauseRefused("The template is not paused.")
    if not current.needs_unpause:
        until = f" at {current.paused_until:%Y-%m-%d %H:%M} UTC" if current.paused_until else ""
        raise UnpauseRefused(
            f"This is a quality pause: it ends by itself{until} and cannot be lifted early."
        )
    if not current.meta_id:
        raise UnpauseRefused("Meta has no id for this template yet; sync the templates first.")
    owned = graph is None
    graph = graph or _graph()
    try:
        graph.unpause_template(current.meta_id)
    except MetaError as exc:
        words = f"Meta refused to unpause the template: {exc.plain_message}"
        with transaction.atomic():
            MessageTemplate.objects.filter(pk=current.pk).update(unpause_error=words[:500])
            audit_record(
                action="template.unpause_refused",
                actor=actor.user,
                client=current_client(),
                target=current,
                after={"code": exc.code, "message": exc.plain_message},
            )
        template.unpause_error = words[:500]
        raise UnpauseRefused(words) from exc
    finally:
        if owned:
            graph.close()
    now = timezone.now()
    with transaction.atomic():
        locked = MessageTemplate.objects.select_for_update().get(pk=current.pk)
        before = {"meta_status": locked.meta_status, "pause_kind": locked.pause_kind}
        locked.meta_status = meta.TemplateStatus.APPROVED
        locked.paused_until = None
        locked.unpause_requested_at = now
        locked.unpause_error = ""
        locked.updated_at = now
        locked.save(
            update_fields=[
                "meta_status",
                "paused_until",
                "unpause_requested_at",
                "unpause_error",
                "updated_at",
            ]
        )
        key = compliance.dedupe_key("unpause", locked.pk, now.isoformat())
        MetaTemplateHistory.objects.create(
            template=locked,
            occurred_at=now,
            meta_status=meta.TemplateStatus.APPROVED,
            reason="unpaused by request",
            data={"by": actor.label},
            dedupe_key=key,
        )
        compliance.health_event_record(
            kind=EventKind.TEMPLATE_UNPAUSED,
            severity=Severity.INFO,
            title=f"Template {locked.name} unpaused (after a pacing pause)",
            detail="Meta paces it again for a while: watch its quality.",
            key=key,
            source=EventSource.WEBHOOK,
            occurred_at=now,
            account=locked.account,
            template_name=locked.name,
        )
        audit_record(
            action="template.unpaused",
            actor=actor.user,
            client=current_client(),
            target=locked,
            before=before,
            after={"meta_status": locked.meta_status},
        )
        compliance.account_reassess_numbers(account=locked.account)
    return locked


def utility_pacing_until(*, account, now: datetime | None = None) -> datetime | None:
    """When the utility pacing window of the account ends (None if no utility template of it was
    paused in the last 7 days)."""
    now = now or timezone.now()
    last = (
        MetaTemplateHistory.objects.filter(
            template__account=account,
            template__category=meta.TemplateCategory.UTILITY,
            meta_status=meta.TemplateStatus.PAUSED,
            occurred_at__gt=now - UTILITY_PACING,
        )
        .order_by("-occurred_at")
        .values_list("occurred_at", flat=True)
        .first()
    )
    return last + UTILITY_PACING if last else None
