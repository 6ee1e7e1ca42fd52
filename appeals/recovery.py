"""The recovery plan after Meta's outcome: an apology/explanation message drafted as a template
for review, the contacts whose messages failed during the block, and process-review steps."""

from __future__ import annotations

from django.db.models import Count, Max
from django.utils import timezone

from appeals import choices as c
from appeals.models import AppealTicket, RecoveryItem
from compliance.choices import DeliveryStatus
from compliance.models import MessageStatus
from portal.meta import types as meta

# The plan lists at most this many contacts; the rest are counted in the last item's detail.
MAX_CONTACTS = 500

PROCESS_REVIEW = [
    (
        "Review how opt-in is collected",
        "Check every opt-in source names the business and what messages people will get, and "
        "that the wording shown is kept with each opt-in.",
    ),
    (
        "Remove opted-out and unreachable contacts from sending lists",
        "Opt-outs (STOP, Meta's 131050) must stop marketing at once; drop numbers that fail with "
        "131026.",
    ),
    (
        "Check template categories and frequency",
        "Marketing content sent as utility is misclassification; keep marketing within the "
        "frequency caps of the messaging policy.",
    ),
    (
        "Share the improvement plan with the team",
        "Everyone who sends messages knows what changed and why.",
    ),
]


def _apology_text(ticket: AppealTicket) -> str:
    if ticket.outcome == c.Outcome.REVERSED:
        return (
            "Hello {{1}}, between {{2}} and {{3}} some of our WhatsApp messages to you could not "
            "be delivered. The issue is resolved and we are sorry for the interruption. Reply to "
            "this message if you still need anything from us."
        )
    return (
        "Hello {{1}}, between {{2}} and {{3}} we could not reach you on WhatsApp. We have "
        "changed how we send messages; reply to this message if you still need anything from us."
    )


def _apology_template(ticket: AppealTicket):
    """A draft template (not sent to Meta) that goes through the normal template review."""
    from templates_review.choices import SYSTEM_ROLE
    from templates_review.models import MessageTemplate
    from templates_review.services import Actor, template_create_draft

    name = f"appeal_{ticket.pk}_apology"
    existing = MessageTemplate.objects.filter(
        account=ticket.account, name=name, language="en"
    ).first()
    if existing is not None:
        return existing
    return template_create_draft(
        actor=Actor(principal=None, role=SYSTEM_ROLE, label=f"Recovery plan of {ticket.reference}"),
        account=ticket.account,
        name=name,
        language="en",
        category=meta.TemplateCategory.UTILITY,
        components=[{"type": "BODY", "text": _apology_text(ticket)}],
    )


def failed_contacts(*, ticket: AppealTicket, limit: int = MAX_CONTACTS) -> tuple[list[dict], int]:
    """Recipients whose messages failed during the block window (from the delivery ledger),
    with how many failed and the last error; and how many recipients there were in all."""
    end = ticket.block_ends_at or ticket.outcome_at or timezone.now()
    if ticket.outcome == c.Outcome.REVERSED and ticket.outcome_at:
        # A reversal lifts the block at Meta's decision: later failures have other causes.
        end = min(end, ticket.outcome_at)
    failed = MessageStatus.objects.filter(
        status=DeliveryStatus.FAILED, occurred_at__gte=ticket.blocked_at, occurred_at__lte=end
    )
    if ticket.number_id:
        failed = failed.filter(number_id=ticket.number_id)
    else:
        failed = failed.filter(number__account_id=ticket.account_id)
    grouped = failed.values("recipient").annotate(
        failures=Count("id"), last_at=Max("occurred_at"), last_code=Max("error_code")
    )
    total = grouped.count()
    rows = list(grouped.order_by("-last_at", "recipient")[:limit])
    return rows, total


def recovery_plan_build(*, ticket: AppealTicket) -> list[RecoveryItem]:
    """Create the checklist once (called inside the start-recovery transition)."""
    if ticket.recovery.exists():
        return list(ticket.recovery.all())
    template = _apology_template(ticket)
    items = [
        RecoveryItem(
            ticket=ticket,
            kind=c.RecoveryKind.APOLOGY_TEMPLATE,
            title=f"Review and submit the apology template “{template.name}”",
            detail="A draft explaining the interruption; it goes through the usual template "
            "review before Meta sees it.",
            template=template,
            position=0,
        )
    ]
    contacts, total = failed_contacts(ticket=ticket)
    for index, row in enumerate(contacts, start=1):
        code = f", last error {row['last_code']}" if row["last_code"] else ""
        items.append(
            RecoveryItem(
                ticket=ticket,
                kind=c.RecoveryKind.FOLLOW_UP_CONTACT,
                title=f"Follow up {row['recipient']}",
                detail=f"{row['failures']} message(s) failed during the block{code}.",
                contact_phone=row["recipient"],
                position=index,
            )
        )
    if total > len(contacts):
        items[-1].detail += f" ({total - len(contacts)} more contacts are in the delivery ledger.)"
    base = len(items)
    for offset, (title, detail) in enumerate(PROCESS_REVIEW):
        items.append(
            RecoveryItem(
                ticket=ticket,
                kind=c.RecoveryKind.PROCESS_REVIEW,
                title=title,
                detail=detail,
                position=base + offset,
            )
        )
    return RecoveryItem.objects.bulk_create(items)
