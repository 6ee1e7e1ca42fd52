"""Template pacing (meta-platform §10): pacing pauses told apart from quality pauses, messages Meta
holds counted per template, the unpause through the Graph client, the utility pacing window.

- `pause_kind_for(title)`: the kind of a pause from Meta's `other_info.title` (the status
  applier stores it in `MessageTemplate.pause_kind`);
- holds: the client's sending system reports Meta's answer to each send
  (`send_results_record`: `accepted` or `held_for_quality_assessment`); a held message is a
  `HeldMessage` until a delivery status arrives for it (`HELD_RELEASE_SQL`, run by the status
  applier for each batch) or the template's hold ends (`template_holds_clear`); the template's
  `held_count` is the count of its rows (`holds_refresh` → `template_held_set`, whose first hold
  is an event);
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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from compliance import services as compliance
from compliance.choices import EventKind, EventSource, Severity
from portal.audit.services import audit_record
from portal.meta import types as meta
from portal.meta.errors import MetaError
from templates_review.choices import PauseKind
from templates_review.models import HeldMessage, MessageTemplate, MetaTemplateHistory
from tenants.choices import ClientRole, StaffRole
from tenants.selectors import current_client

UTILITY_PACING = timedelta(days=7)
# Who may unpause: the client's owners and admins, and BSP staff whose role reaches the client's
# templates (services.common.acting_role).
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


@dataclass(frozen=True)
class SendResult:
    """Meta's answer to one send, as the client's system reports it."""

    message_id: str
    held: bool  # `held_for_quality_assessment`; else `accepted`
    phone_number_id: str
    template_name: str
    language: str


@dataclass
class SendResultsRecorded:
    recorded: int = 0
    held: int = 0
    released: int = 0
    # Indexes of results whose number or template is not this client's: nothing stored for them.
    unknown: list[int] = field(default_factory=list)


def send_results_record(
    results: Sequence[SendResult], *, at: datetime | None = None
) -> SendResultsRecorded:
    """Count the messages Meta holds per template from the client's send answers, in a fixed
    number of queries per call (plus one per template whose count changes). A message that
    already has a delivery status (webhooks can arrive before the send's answer is reported)
    is not held; `accepted` after `held` releases it; reporting the same answer twice changes
    nothing."""
    from compliance.models import MessageStatus, PhoneNumber

    at = at or timezone.now()
    outcome = SendResultsRecorded()
    if not results:
        return outcome
    account_of = dict(
        PhoneNumber.objects.filter(meta_id__in={r.phone_number_id for r in results}).values_list(
            "meta_id", "account_id"
        )
    )
    template_of = {
        (account, name, language): pk
        for pk, account, name, language in MessageTemplate.objects.filter(
            account_id__in=set(account_of.values()),
            name__in={r.template_name for r in results},
        ).values_list("pk", "account_id", "name", "language")
    }
    held: dict[str, int] = {}
    accepted: set[str] = set()
    for index, result in enumerate(results):
        template = template_of.get(
            (account_of.get(result.phone_number_id), result.template_name, result.language)
        )
        if template is None:
            outcome.unknown.append(index)
            continue
        outcome.recorded += 1
        if result.held:
            held[result.message_id] = template
            accepted.discard(result.message_id)
        else:
            accepted.add(result.message_id)
            held.pop(result.message_id, None)
    with transaction.atomic():
        settled = set(
            MessageStatus.objects.filter(wamid__in=list(held)).values_list("wamid", flat=True)
        )
        fresh = {wamid: t for wamid, t in held.items() if wamid not in settled}
        newly_held = _hold(fresh, at=at)
        outcome.held = len(newly_held)
        released = _release(accepted)
        outcome.released = sum(released.values())
        holds_refresh(set(newly_held) | set(released), at=at)
    return outcome


def _hold(held: dict[str, int], *, at: datetime) -> list[int]:
    """Insert held rows {wamid: template id}; the template ids of the rows that were new."""
    if not held:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO templates_review_heldmessage (wamid, template_id, reported_at)"
            " SELECT w, t, %s FROM unnest(%s::text[], %s::bigint[]) AS h(w, t)"
            " ON CONFLICT (wamid) DO NOTHING RETURNING template_id",
            [at, list(held), list(held.values())],
        )
        return [template for (template,) in cursor.fetchall()]


def _release(wamids: Iterable[str]) -> dict[int, int]:
    """Delete the held rows of these messages: {template id: how many were released}."""
    wamids = list(wamids)
    if not wamids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM templates_review_heldmessage WHERE wamid = ANY(%s) RETURNING template_id",
            [wamids],
        )
        released: dict[int, int] = {}
        for (template,) in cursor.fetchall():
            released[template] = released.get(template, 0) + 1
    return released


# The status applier's listener: a message with any delivery status is no longer held (sent
# after a good signal, or failed with 132015 when the template was paused). Its DELETE runs in
# the ledger's own INSERT: no round trip of its own for a batch that releases nothing.
HELD_RELEASE_SQL = (
    "DELETE FROM templates_review_heldmessage"
    " WHERE wamid IN (SELECT wamid FROM statuses_batch) RETURNING template_id"
)


def held_released(template_ids: list[int], at: datetime | None) -> None:
    """After the status applier released held messages of these templates (an id a message)."""
    holds_refresh(set(template_ids), at=at or timezone.now())


def holds_refresh(template_ids: set[int], *, at: datetime) -> None:
    """Set each template's `held_count` from its held rows (two queries, then one update per
    template whose count changed)."""
    if not template_ids:
        return
    counts = dict(
        HeldMessage.objects.filter(template_id__in=template_ids)
        .values("template_id")
        .annotate(n=Count("id"))
        .values_list("template_id", "n")
    )
    for template in MessageTemplate.objects.filter(pk__in=template_ids).only("pk", "held_count"):
        if template.held_count != counts.get(template.pk, 0):
            template_held_set(template=template, held=counts.get(template.pk, 0), at=at)


def template_holds_clear(*, template: MessageTemplate, at: datetime) -> None:
    """The template's hold ended (released, or its held messages dropped): nothing is held."""
    HeldMessage.objects.filter(template=template).delete()
    if template.held_count:
        template_held_set(template=template, held=0, at=at)


def _graph():
    from portal.meta import credentials
    from portal.meta.client import GraphClient

    return GraphClient(token=credentials.system_user_token())


def template_unpause(*, template: MessageTemplate, actor, graph=None) -> MessageTemplate:
    """Ask Meta to unpause a template paused by pacing (see the module's rules)."""
    from django.core.exceptions import PermissionDenied

    from templates_review.services.common import acting_role

    if acting_role(actor, None) not in UNPAUSE_ROLES:
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
